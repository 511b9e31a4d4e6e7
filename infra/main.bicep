// Fleet Manager on Azure: `azd up` (or `az deployment sub create -f infra/main.bicep`).
// Queue, table and app-setting names come from app-config.json, which is written from
// shared/config.ts (`npm run infra:config`) and checked against it by test/unit/infra.test.ts.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('Name of the environment; prefixes the resource group and seeds resource names.')
param environmentName string

@minLength(1)
@description('Region for every resource. A fleet is regional: this is where the service and its state live.')
param location string

@description('Resource group to create or use. Default: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Accepted token audiences of the fleet API, comma-separated: the Application ID URI (api://..., the audience of v1.0 tokens) and the client id (the audience of v2.0 tokens) of its Microsoft Entra app registration.')
param apiAudience string

@description('Accepted token issuers, comma-separated; the first one\'s OIDC discovery names the signing keys. Default: this tenant\'s Microsoft Entra ID v2.0 and v1.0 issuers.')
param apiIssuer string = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0,https://sts.windows.net/${tenant().tenantId}/'

@description('App roles (comma-separated) of the API\'s Entra app registration that may read fleets. Empty: any caller the issuer and audience admit. Writers may also read.')
param apiReadRoles string = ''

@description('App roles (comma-separated) that may create, change and delete fleets and members. Empty: any caller the issuer and audience admit.')
param apiWriteRoles string = ''

// A string, because azd substitutes parameter values as strings; checked as a whole number below.
@description('Members per fleet (a whole number, at least 1).')
param memberLimit string = '20'

@description('Suffix of resource names. Default: a hash of subscription, environment name and location.')
param resourceSuffix string = ''

@description('Subscriptions (comma-separated ids) whose AKS clusters may join fleets. The app gets Reader there; this subscription is always included.')
param memberSubscriptionIds string = ''

@description('Resource group (in each member subscription) of its Microsoft.Resources.Subscriptions system topic. A subscription has at most one such topic: name an existing one here. Default: rg-fleet-events.')
param eventTopicResourceGroup string = ''

@description('Name of that system topic. Default: fleet-arm-events.')
param eventTopicName string = ''

@description('Upper bound on Function App instances.')
param maximumInstanceCount int = 40

var config = loadJsonContent('app-config.json')
var token = empty(resourceSuffix) ? toLower(uniqueString(subscription().id, environmentName, location)) : toLower(resourceSuffix)
var memberLimitValue = int(memberLimit)
var tags = { 'azd-env-name': environmentName }
var memberSubscriptions = union([subscription().subscriptionId], filter(map(split(memberSubscriptionIds, ','), s => trim(s)), s => !empty(s)))

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  scope: rg
  name: 'identity'
  params: { name: 'id-fleet-${token}', location: location, tags: tags }
}

module monitoring 'modules/monitoring.bicep' = {
  scope: rg
  name: 'monitoring'
  params: { token: token, location: location, tags: tags, principalId: identity.outputs.principalId }
}

module storage 'modules/storage.bicep' = {
  scope: rg
  name: 'storage'
  params: { token: token, location: location, tags: tags, principalId: identity.outputs.principalId, tables: config.tables }
}

module serviceBus 'modules/servicebus.bicep' = {
  scope: rg
  name: 'servicebus'
  params: { name: 'sb-fleet-${token}', location: location, tags: tags, principalId: identity.outputs.principalId, queues: config.queues }
}

module functionApp 'modules/functionapp.bicep' = {
  scope: rg
  name: 'functionapp'
  params: {
    name: 'func-fleet-${token}'
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    hostStorageName: storage.outputs.hostStorageName
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    stateTableEndpoint: storage.outputs.stateTableEndpoint
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    apiAudience: apiAudience
    apiIssuer: apiIssuer
    apiReadRoles: apiReadRoles
    apiWriteRoles: apiWriteRoles
    memberLimit: string(memberLimitValue)
    maximumInstanceCount: maximumInstanceCount
    settingNames: config.settings
    hostSettingNames: config.hostSettings
  }
}

// Reader on each subscription whose clusters may join: the worker reads the subscription (its
// tenant) and the managed cluster (its identity). Nothing broader.
module memberReaders 'modules/subscription-reader.bicep' = [for sub in memberSubscriptions: {
  scope: subscription(sub)
  name: 'reader-${token}-${sub}'
  params: { principalId: identity.outputs.principalId }
}]

// ARM's events about the AKS clusters of each member subscription, to the cluster-events function.
module clusterEvents 'modules/cluster-events.bicep' = [for sub in memberSubscriptions: {
  scope: subscription(sub)
  name: 'cluster-events-${token}-${sub}'
  params: {
    functionAppId: functionApp.outputs.id
    functionName: 'cluster-events'
    location: location
    tags: tags
    resourceGroupName: empty(eventTopicResourceGroup) ? 'rg-fleet-events' : eventTopicResourceGroup
    topicName: empty(eventTopicName) ? 'fleet-arm-events' : eventTopicName
  }
}]

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output FLEET_API string = functionApp.outputs.url
output FLEET_API_AUDIENCE string = apiAudience
output SERVICEBUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output STATE_TABLE_ENDPOINT string = storage.outputs.stateTableEndpoint
