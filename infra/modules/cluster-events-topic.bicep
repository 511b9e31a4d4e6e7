// The subscription's system topic and, on it, the filtered event subscription for the app: only
// successful writes and deletes of managed clusters, in the Event Grid schema, one event a request,
// retried for a day and then dropped (the sweep and the hub's own ARM check cover what is lost).
param functionAppId string
param functionName string
param topicName string
param tags object

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: topicName
  location: 'global'
  tags: tags
  properties: { source: subscription().id, topicType: 'Microsoft.Resources.Subscriptions' }
}

resource clusterEvents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'fleet-manager-cluster-events'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: { resourceId: '${functionAppId}/functions/${functionName}', maxEventsPerBatch: 1, preferredBatchSizeInKilobytes: 64 }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [ 'Microsoft.Resources.ResourceWriteSuccess', 'Microsoft.Resources.ResourceDeleteSuccess' ]
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: [ 'Microsoft.ContainerService/managedClusters/write', 'Microsoft.ContainerService/managedClusters/delete' ]
        }
      ]
    }
    retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }
  }
}
