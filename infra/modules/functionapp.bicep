// The Function App on Flex Consumption (Node 20), running as the user-assigned identity. Every
// connection is identity-based: no key, SAS or connection string with a secret in an app setting.
param name string
param location string
param tags object
param identityId string
param identityClientId string
param hostStorageName string
param deploymentContainerUrl string
param stateTableEndpoint string
param serviceBusNamespace string
param appInsightsConnectionString string
param apiAudience string
param apiIssuer string
param apiReadRoles string
param apiWriteRoles string
param memberLimit string
param maximumInstanceCount int
@description('Setting names from app-config.json (shared/config.ts settings).')
param settingNames object
@description('Functions host setting names from app-config.json.')
param hostSettingNames object

var armEndpoint = endsWith(environment().resourceManager, '/') ? substring(environment().resourceManager, 0, length(environment().resourceManager) - 1) : environment().resourceManager

var appSettings = [
  { name: '${hostSettingNames.hostStorage}__accountName', value: hostStorageName }
  { name: '${hostSettingNames.hostStorage}__credential', value: 'managedidentity' }
  { name: '${hostSettingNames.hostStorage}__clientId', value: identityClientId }
  { name: '${settingNames.stateStorage}__tableServiceUri', value: stateTableEndpoint }
  { name: '${settingNames.serviceBusConnection}__fullyQualifiedNamespace', value: serviceBusNamespace }
  { name: '${settingNames.serviceBusConnection}__credential', value: 'managedidentity' }
  { name: '${settingNames.serviceBusConnection}__clientId', value: identityClientId }
  { name: settingNames.managedIdentityClientId, value: identityClientId }
  { name: settingNames.armEndpoint, value: armEndpoint }
  { name: settingNames.authIssuer, value: apiIssuer }
  { name: settingNames.authAudience, value: apiAudience }
  { name: settingNames.authReadRoles, value: apiReadRoles }
  { name: settingNames.authWriteRoles, value: apiWriteRoles }
  { name: settingNames.memberLimit, value: memberLimit }
  { name: settingNames.retryAfterSeconds, value: '10' }
  { name: settingNames.pageSize, value: '100' }
  { name: settingNames.sweepSchedule, value: '0 */5 * * * *' }
  { name: settingNames.stuckOperationSeconds, value: '300' }
  { name: settingNames.operationRetentionDays, value: '7' }
  { name: settingNames.memberHealthSchedule, value: '0 * * * * *' }
  { name: settingNames.placementResyncSchedule, value: '0 */5 * * * *' }
  { name: settingNames.hubIdentityCheckSeconds, value: '60' }
  { name: settingNames.forceDeleteSeconds, value: '900' }
  { name: settingNames.heartbeatPeriodSeconds, value: '15' }
  { name: hostSettingNames.applicationInsights, value: appInsightsConnectionString }
  { name: hostSettingNames.applicationInsightsAuthentication, value: 'ClientId=${identityClientId};Authorization=AAD' }
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identityId }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: maximumInstanceCount, instanceMemoryMB: 2048 }
      runtime: { name: 'node', version: '20' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: appSettings
    }
  }
}

output url string = 'https://${app.properties.defaultHostName}'
output id string = app.id
