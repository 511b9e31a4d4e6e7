// ARM's events about the AKS clusters of one member subscription, delivered to the app's
// `cluster-events` function (an identity change or a deletion heals or marks the member without a
// human; docs/design.md, "Healing an identity change"). A subscription has one system topic of type
// Microsoft.Resources.Subscriptions at most: where one exists already, pass its resource group and
// name, and only the event subscription is added to it.
targetScope = 'subscription'

param functionAppId string
param functionName string
param location string
param tags object
@description('Resource group (in this subscription) of the system topic; created when missing.')
param resourceGroupName string
param topicName string

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: tags
}

module topic 'cluster-events-topic.bicep' = {
  scope: rg
  name: 'cluster-events-${uniqueString(subscription().id, functionAppId)}'
  params: { functionAppId: functionAppId, functionName: functionName, topicName: topicName, tags: tags }
}
