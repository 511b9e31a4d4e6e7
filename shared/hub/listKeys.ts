// How the built-in kinds' lists merge (their `patchMergeKey` / `listType` tags): by a key, as a
// set of values, or (undefined) atomically. Strategic merge patch and server-side apply share it.

/** The merge key of the list at `path` (field names from the object's root), 'set', or undefined. */
export function mergeKeyOf(path: readonly string[]): string | 'set' | undefined {
  const field = path[path.length - 1];
  const parent = path[path.length - 2];
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'imagePullSecrets':
    case 'resourceClaims':
    case 'env':
      return 'name';
    case 'volumeMounts':
      return 'mountPath';
    case 'volumeDevices':
      return 'devicePath';
    case 'hostAliases':
      return 'ip';
    case 'topologySpreadConstraints':
      return 'topologyKey';
    case 'conditions':
      return 'type';
    case 'ownerReferences':
      return 'uid';
    case 'finalizers':
      return parent === 'metadata' ? 'set' : undefined;
    case 'ports':
      // A container's ports merge by containerPort, a Service's by port.
      return path.includes('containers') || path.includes('initContainers') ? 'containerPort' : 'port';
    default:
      return undefined;
  }
}
