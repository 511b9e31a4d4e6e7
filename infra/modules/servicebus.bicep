// Service Bus Standard: sessions and duplicate detection need Standard or Premium. SAS keys are
// off; the app sends and receives with its identity.
param name string
param location string
param tags object
param principalId string
param queues array

var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [for q in queues: {
  parent: namespace
  name: q.name
  properties: {
    requiresSession: q.properties.requiresSession
    lockDuration: q.properties.lockDuration
    maxDeliveryCount: q.properties.maxDeliveryCount
    requiresDuplicateDetection: q.properties.requiresDuplicateDetection
    duplicateDetectionHistoryTimeWindow: q.properties.duplicateDetectionHistoryTimeWindow
    defaultMessageTimeToLive: q.properties.defaultMessageTimeToLive
    deadLetteringOnMessageExpiration: q.properties.deadLetteringOnMessageExpiration
  }
}]

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: namespace
  name: guid(namespace.id, principalId, serviceBusDataSender)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
  }
}

resource receiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: namespace
  name: guid(namespace.id, principalId, serviceBusDataReceiver)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
  }
}

output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
