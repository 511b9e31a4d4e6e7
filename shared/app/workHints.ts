// How a member's agent learns that its Works changed without listing them every heartbeat. Each
// write or delete of a member's Works by anyone but the agent is followed by a new value of an
// annotation on the member's InternalMemberCluster, which the agent's heartbeat (a status write)
// gets back anyway: the agent lists its Works when the value differs from the one it last listed
// under, and every few minutes whatever it says (a hub that stopped between a Work's write and the
// annotation's leaves the agent a Work behind until then). KubeFleet's agent watches its Works; a
// watch here is a storage poll per member namespace, which 10,000 members cannot afford.

import { inParallel } from '../batches.js';
import { worksVersionAnnotation } from '../domain/agentProtocol.js';
import { type HubObjects, nextRv } from '../hub/objects.js';
import { HubError } from '../hub/status.js';
import { internalMemberClusterType, memberNamespace } from './memberClusters.js';

/** Tells each member's agent that its Works changed (a member that is gone or leaving is skipped). */
export async function announceWorkChanges(objects: HubObjects, members: Iterable<string>): Promise<void> {
  const version = nextRv(objects.deps.now());
  await inParallel([...new Set(members)], 32, async (m) => {
    try {
      await objects.patch(
        internalMemberClusterType,
        memberNamespace(m),
        m,
        'merge',
        { metadata: { annotations: { [worksVersionAnnotation]: version } } },
        { dryRun: false, fieldManager: 'fleet-manager' },
      );
    } catch (e) {
      if (!(e instanceof HubError && e.code === 404)) throw e;
    }
  });
}
