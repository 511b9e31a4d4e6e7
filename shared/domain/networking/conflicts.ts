// Which exports of one service make up its import (pure). fleet-networking takes the first export
// it happens to list and compares port lists in order; we follow KEP-1645 instead: the oldest
// ServiceExport wins (ties by member name), ports are compared as a set, and an export that
// conflicts is told which cluster won and which port differs.

export interface ExportedPort {
  name?: string;
  protocol?: string;
  appProtocol?: string;
  port: number;
  targetPort?: number | string;
}

export interface ExportCandidate {
  member: string;
  ports: ExportedPort[];
  /** When the member's ServiceExport was made (RFC 3339). */
  since: string;
}

export interface Verdict {
  conflict: boolean;
  reason: 'NoConflictFound' | 'ConflictFound';
  message: string;
}

export interface Resolution {
  /** The export whose ports the import has (undefined: nothing exported). */
  winner?: ExportCandidate;
  /** The members whose endpoints stand behind the import, in name order. */
  clusters: string[];
  verdicts: Map<string, Verdict>;
}

const portKey = (p: ExportedPort) => JSON.stringify([p.name ?? '', p.protocol ?? 'TCP', p.appProtocol ?? '', p.port, p.targetPort ?? p.port]);
const describe = (p: ExportedPort) =>
  `${p.name ? `${p.name} ` : ''}${p.port}${p.targetPort !== undefined && p.targetPort !== p.port ? `->${p.targetPort}` : ''}/${p.protocol ?? 'TCP'}${p.appProtocol ? ` (${p.appProtocol})` : ''}`;

/** The ports as a set: the same ports in another order are the same service. */
export const samePorts = (a: ExportedPort[], b: ExportedPort[]) => {
  const [x, y] = [new Set(a.map(portKey)), new Set(b.map(portKey))];
  return x.size === y.size && [...x].every((k) => y.has(k));
};

export function resolveExports(service: string, candidates: ExportCandidate[]): Resolution {
  const ordered = [...candidates].sort((a, b) => Date.parse(a.since) - Date.parse(b.since) || a.member.localeCompare(b.member));
  const winner = ordered[0];
  const verdicts = new Map<string, Verdict>();
  if (!winner) return { clusters: [], verdicts };
  const clusters: string[] = [];
  for (const c of ordered) {
    if (samePorts(c.ports, winner.ports)) {
      clusters.push(c.member);
      verdicts.set(c.member, { conflict: false, reason: 'NoConflictFound', message: `service ${service} is exported without conflict` });
      continue;
    }
    const theirs = new Set(winner.ports.map(portKey));
    const ours = new Set(c.ports.map(portKey));
    const differing = [
      ...c.ports.filter((p) => !theirs.has(portKey(p))).map((p) => `${describe(p)} is not in it`),
      ...winner.ports.filter((p) => !ours.has(portKey(p))).map((p) => `${describe(p)} is missing here`),
    ];
    verdicts.set(c.member, {
      conflict: true,
      reason: 'ConflictFound',
      message: `service ${service} is in conflict with other exported services: cluster ${winner.member} exported it first (since ${winner.since}), and its ports differ from this export's: ${differing.join('; ')}`,
    });
  }
  return { winner, clusters: clusters.sort(), verdicts };
}
