// Server-side printing: the `Table` kubectl asks for with its Table Accept header (kubectl-hub G4–G6).
// kubectl prints cells as given, so the server renders Age itself, as kubectl's HumanDuration does.
import type { Column, KubeObject, ResourceType } from './kinds.js';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** kubectl's short human duration: 45s, 3m5s, 45m, 3h5m, 23h, 3d5h, 30d, 2y10d. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  return d % 365 ? `${y}y${d % 365}d` : `${y}y`;
}

const age = (o: KubeObject, now: number) => (o.metadata.creationTimestamp ? humanDuration(now - Date.parse(o.metadata.creationTimestamp)) : '<unknown>');

function columnsOf(t: ResourceType): Column[] {
  return [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', cell: (o) => o.metadata.name },
    ...(t.columns ?? []).filter((c) => c.name !== 'Age' && c.type !== 'date' && !c.wide),
    { name: 'Age', type: 'string', description: 'The time since the object was created.', cell: () => '' },
    // -o wide's columns come after Age, as kube-apiserver's tables put them (pods: IP, Node, ...).
    ...(t.columns ?? []).filter((c) => c.name !== 'Age' && c.type !== 'date' && c.wide),
    ...(t.columns ?? []).filter((c) => c.type === 'date' && c.name !== 'Age').map((c) => ({ ...c, wide: c.wide ?? false })),
  ];
}

function cellOf(c: Column, o: KubeObject, now: number): unknown {
  if (c.name === 'Age') return age(o, now);
  const v = c.cell(o);
  // Dates print as ages, as kubectl prints a CRD's date columns.
  if (c.type === 'date') return typeof v === 'string' && v ? humanDuration(now - Date.parse(v)) : '<none>';
  return v ?? '';
}

export function rowOf(t: ResourceType, o: KubeObject, include: IncludeObject, now: number) {
  const cells = columnsOf(t).map((c) => cellOf(c, o, now));
  const object =
    include === 'None' ? undefined : include === 'Object' ? o : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
  return { cells, ...(object ? { object } : {}) };
}

export function toTable(
  t: ResourceType,
  objects: KubeObject[],
  options: { include: IncludeObject; resourceVersion: string; continueToken?: string; now: number; columns?: boolean },
) {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: options.resourceVersion, ...(options.continueToken ? { continue: options.continueToken } : {}) },
    columnDefinitions:
      options.columns === false
        ? null
        : columnsOf(t).map((c) => ({
            name: c.name,
            type: c.type === 'date' ? 'string' : c.type,
            format: c.format ?? '',
            description: c.description ?? '',
            priority: c.wide ? 1 : 0,
          })),
    rows: objects.map((o) => rowOf(t, o, options.include, options.now)),
  };
}

/** kubectl's Table Accept (`application/json;as=Table;v=v1;g=meta.k8s.io`). */
export const wantsTable = (accept: string | undefined) => /as=Table/i.test(accept ?? '') && /g=meta\.k8s\.io/i.test(accept ?? '');
