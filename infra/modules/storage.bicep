// Two accounts, each with the one role the app needs there and no shared keys:
//   host:  the Functions host's storage and the Flex Consumption deployment container (blobs);
//   state: our Table Storage state (tables from app-config.json; each fleet hub's own table is
//          created and deleted by the app, which the Table Data Contributor role allows).
param token string
param location string
param tags object
param principalId string
param tables array

var deploymentContainerName = 'app-package'
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

var accountProperties = {
  minimumTlsVersion: 'TLS1_2'
  allowBlobPublicAccess: false
  allowSharedKeyAccess: false
  supportsHttpsTrafficOnly: true
  defaultToOAuthAuthentication: true
}

resource host 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take('stfleethost${token}', 24)
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: accountProperties
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: host
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deploymentContainerName
}

resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: host
  name: guid(host.id, principalId, storageBlobDataOwner)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
  }
}

resource state 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take('stfleetstate${token}', 24)
  location: location
  tags: tags
  kind: 'StorageV2'
  // Zone-redundant: this account is the fleet's source of truth.
  sku: { name: 'Standard_ZRS' }
  properties: accountProperties
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: state
  name: 'default'
}

resource stateTables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for table in tables: {
  parent: tableService
  name: table
}]

resource stateTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: state
  name: guid(state.id, principalId, storageTableDataContributor)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
  }
}

output hostStorageName string = host.name
output deploymentContainerUrl string = '${host.properties.primaryEndpoints.blob}${deploymentContainerName}'
output stateTableEndpoint string = state.properties.primaryEndpoints.table
