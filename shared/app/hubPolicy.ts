// What users may do to the objects a fleet manages on its hub. MemberClusters are the hub's view of
// ARM members: they come and go with `fleetMembers.create/delete` (az fleet member create/delete),
// and their identity and fleet labels follow the ARM member; a user's label edit is carried to the
// ARM member (the one source of truth for labels). The fleet-member namespaces and their
// InternalMemberClusters are the fleet's and its agents'.
import { fleetRefOfId } from '../domain/armIds.js';
import { placementUpdateProblems } from '../domain/placement/spec.js';
import type { HubAction } from '../hub/access.js';
import type { WriteHooks } from '../hub/api.js';
import type { KubeObject } from '../hub/kinds.js';
import { HubError, invalid } from '../hub/status.js';
import type { AppDeps } from './context.js';
import { isReservedLabel, memberClusterType, setMemberLabelsFromHub, userLabels } from './memberClusters.js';

const placementKinds = new Set(['ClusterResourcePlacement', 'ClusterSchedulingPolicySnapshot', 'ClusterResourceSnapshot']);

const forbidden = (plural: string, name: string, why: string) =>
  new HubError(403, 'Forbidden', `${plural} "${name}" is forbidden: ${why}`, { name, group: 'cluster.kubernetes-fleet.io', kind: plural });

const fleetOwned = (labels: Record<string, string> | undefined) => Object.entries(labels ?? {}).filter(([k]) => isReservedLabel(k));
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * What the rules below refuse whatever the object holds (kubectl auth can-i asks before any object
 * exists): the reason, or undefined when the answer depends on the object or nothing refuses it.
 */
export function fleetRefusal(action: HubAction): string | undefined {
  const [plural] = action.plural.split('/');
  const write =
    action.verb === 'create' || action.verb === 'update' || action.verb === 'patch' || action.verb === 'delete' || action.verb === 'deletecollection';
  if (!write) return undefined;
  const removes = action.verb === 'create' || action.verb === 'delete' || action.verb === 'deletecollection';
  if (action.group === 'placement.kubernetes-fleet.io' && (plural === 'clusterschedulingpolicysnapshots' || plural === 'clusterresourcesnapshots'))
    return "the fleet's scheduler writes them";
  if (action.group === 'cluster.kubernetes-fleet.io' && plural === 'memberclusters' && removes)
    return 'a MemberCluster comes and goes with its ARM member (az fleet member create/delete)';
  if (action.group === 'cluster.kubernetes-fleet.io' && plural === 'internalmemberclusters' && removes)
    return "the fleet keeps each member's InternalMemberCluster; it comes and goes with the member";
  if (action.group === '' && plural === 'namespaces' && removes && action.name?.startsWith('fleet-member-'))
    return 'a fleet-member- namespace comes and goes with its member';
  return undefined;
}

export function fleetWriteHooks(deps: AppDeps, fleetArmId: string): WriteHooks {
  const { fleetName, resourceGroup } = fleetRefOfId(fleetArmId);
  const armHint = (name: string) => `\`az fleet member ${'{'}create|delete${'}'} -g ${resourceGroup} -f ${fleetName} -n ${name}\` (fleetMembers.create/delete)`;
  return {
    guards: (t, namespace, name) =>
      t.group === 'cluster.kubernetes-fleet.io' ||
      placementKinds.has(t.kind) ||
      (t.kind === 'Namespace' && !!name?.startsWith('fleet-member-')) ||
      !!namespace?.startsWith('fleet-member-'),
    async beforeWrite({ verb, t, name, before, after, subresource }) {
      if (t.kind === 'ClusterResourcePlacement') {
        const problems = verb === 'update' && subresource !== 'status' ? placementUpdateProblems((before as KubeObject).spec, (after as KubeObject).spec) : [];
        if (problems.length) throw invalid(t.kind, t.group, name, problems);
        return;
      }
      if (placementKinds.has(t.kind))
        throw new HubError(403, 'Forbidden', `${t.plural} "${name}" is forbidden: the fleet's scheduler writes ${t.kind}s; read them to see each decision`, {
          name,
          group: t.group,
          kind: t.plural,
        });
      if (t.kind === 'Namespace' || (t.kind !== 'MemberCluster' && t.kind !== 'InternalMemberCluster')) {
        if (t.kind === 'Namespace' && verb !== 'update')
          throw forbidden(
            'namespaces',
            name,
            `namespace ${name} belongs to a fleet member; it comes and goes with the member: ${armHint(name.slice('fleet-member-'.length))}`,
          );
        return;
      }
      if (t.kind === 'InternalMemberCluster') {
        if (verb !== 'update')
          throw forbidden(
            'internalmemberclusters',
            name,
            `the fleet keeps each member's InternalMemberCluster; it comes and goes with the member: ${armHint(name)}`,
          );
        if (subresource !== 'status' && !same((before as KubeObject).spec, (after as KubeObject).spec))
          throw forbidden('internalmemberclusters', name, 'its spec is set by the fleet (state Join or Leave); the member agent writes its status');
        return;
      }
      // MemberCluster
      if (verb === 'create') throw forbidden(memberClusterType.plural, name, `a MemberCluster appears when an AKS cluster joins the fleet: ${armHint(name)}`);
      if (verb === 'delete')
        throw forbidden(
          memberClusterType.plural,
          name,
          `a MemberCluster is the hub's view of ARM member '${name}'; remove the member from the fleet instead: ${armHint(name)}`,
        );
      const b = before as KubeObject;
      const a = after as KubeObject;
      if (subresource === 'status') return;
      if (!same(fleetOwned(b.metadata.labels), fleetOwned(a.metadata.labels)))
        throw forbidden(memberClusterType.plural, name, 'labels with the fleet.azure.com/ prefix are set by the fleet from the ARM member');
      const spec = (o: KubeObject) => (o.spec ?? {}) as { identity?: unknown; heartbeatPeriodSeconds?: unknown };
      if (!same(spec(b).identity, spec(a).identity) || !same(spec(b).heartbeatPeriodSeconds, spec(a).heartbeatPeriodSeconds))
        throw forbidden(
          memberClusterType.plural,
          name,
          `spec.identity and spec.heartbeatPeriodSeconds follow the ARM member; to record a cluster's new identity run ${armHint(name).replace('{create|delete}', 'create')} again`,
        );
      if (!same(b.metadata.annotations?.['fleet.azure.com/cluster-resource-id'], a.metadata.annotations?.['fleet.azure.com/cluster-resource-id']))
        throw forbidden(
          memberClusterType.plural,
          name,
          "the fleet.azure.com/cluster-resource-id annotation names the member's AKS cluster, which cannot change",
        );
      const labels = userLabels(a.metadata.labels);
      if (!same(userLabels(b.metadata.labels), labels)) await setMemberLabelsFromHub(deps, fleetArmId, name, labels);
    },
  };
}
