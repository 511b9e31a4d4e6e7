// The app of Azure Fleet's kuard walkthrough, as the networking tests deploy it.

/** Deployment kuard in kuard-demo: `replicas` pods answering on 8080. */
export const kuardDeployment = (replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: kuard, namespace: kuard-demo}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: kuard}}
  template:
    metadata: {labels: {app: kuard}}
    spec: {containers: [{name: kuard, image: ghcr.io/kuar-demo/kuard-amd64:1, ports: [{containerPort: 8080}]}]}
`;
