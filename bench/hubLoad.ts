// The hub part of `npm run bench`: a fleet's Kubernetes API under 50 concurrent clients — server-side
// apply (create, then change), get, list of a namespace, a status write — with latencies and the
// Table Storage requests each costs, beside the raw storage rate.
export interface HubBenchOptions {
  api: string;
  subscriptionId: string;
  objects: number;
  concurrency: number;
  call: (
    method: string,
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<{ status: number; headers: Record<string, unknown>; text: string }>;
  waitFor: (operationUrl: string) => Promise<unknown>;
  tableRequests: () => Promise<number>;
  pool: <T>(items: T[], width: number, work: (item: T) => Promise<void>) => Promise<void>;
  rawRate: number;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const fmt = (n: number, d = 1) => n.toFixed(d);

export async function benchHub(o: HubBenchOptions): Promise<string[]> {
  const fleetUrl = `${o.api}/subscriptions/${o.subscriptionId}/resourceGroups/rg-bench/providers/Microsoft.ContainerService/fleets/hub-bench?api-version=2025-03-01`;
  const created = await o.call('PUT', fleetUrl, { location: 'eastus', properties: { hubProfile: { dnsPrefix: 'bench' } } });
  await o.waitFor(created.headers['azure-asyncoperation'] as string);
  const fleet = JSON.parse((await o.call('GET', fleetUrl)).text) as { properties: { hubProfile: { fqdn: string } } };
  const hub = `https://${fleet.properties.hubProfile.fqdn}`;
  const namespaces = 10;
  for (let n = 0; n < namespaces; n++)
    await o.call(
      'POST',
      `${hub}/api/v1/namespaces`,
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `bench-${n}` } },
      { 'content-type': 'application/json' },
    );
  const nsOf = (i: number) => `bench-${i % namespaces}`;
  const url = (i: number, suffix = '') => `${hub}/api/v1/namespaces/${nsOf(i)}/configmaps/cm-${i}${suffix}`;
  const configMap = (i: number, version: number) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `cm-${i}`, namespace: nsOf(i), labels: { app: 'bench', shard: String(i % 7) } },
    data: { version: String(version), payload: 'x'.repeat(400) },
  });

  const measure = async (name: string, count: number, work: (i: number) => Promise<{ status: number; text: string }>, expect: number[]) => {
    const ms: number[] = [];
    const before = await o.tableRequests();
    const t = performance.now();
    await o.pool(
      Array.from({ length: count }, (_, i) => i),
      o.concurrency,
      async (i) => {
        const s = performance.now();
        const r = await work(i);
        if (!expect.includes(r.status)) throw new Error(`${name}: answered ${r.status}: ${r.text.slice(0, 300)}`);
        ms.push(performance.now() - s);
      },
    );
    const seconds = (performance.now() - t) / 1000;
    const requests = ((await o.tableRequests()) - before) / count;
    ms.sort((a, b) => a - b);
    return `  ${name.padEnd(30)} ${fmt(count / seconds).padStart(7)} requests/s, p50 / p99 ${fmt(pct(ms, 50)).padStart(6)} / ${fmt(pct(ms, 99)).padStart(6)} ms, ${fmt(requests, 2)} storage requests each`;
  };
  const apply = (i: number, version: number) =>
    o.call('PATCH', url(i, '?fieldManager=bench&force=true'), configMap(i, version), { 'content-type': 'application/apply-patch+yaml' });
  const lines = [
    `hub (one fleet's Kubernetes API): ${o.objects} ConfigMaps over ${namespaces} namespaces, ${o.concurrency} concurrent clients`,
    await measure('apply (server-side), new', o.objects, (i) => apply(i, 1), [201]),
    await measure('apply (server-side), changed', o.objects, (i) => apply(i, 2), [200]),
    await measure('get', o.objects, (i) => o.call('GET', url(i)), [200]),
    await measure(
      'merge patch (a label)',
      o.objects,
      (i) => o.call('PATCH', url(i), { metadata: { labels: { touched: 'yes' } } }, { 'content-type': 'application/merge-patch+json' }),
      [200],
    ),
    await measure(
      `list a namespace (${o.objects / namespaces} objects)`,
      Math.min(500, o.objects),
      (i) => o.call('GET', `${hub}/api/v1/namespaces/${nsOf(i)}/configmaps?limit=500`),
      [200],
    ),
    `  Azurite raw upserts per second:  ${fmt(o.rawRate)} (a write above costs a point read and one conditional write)`,
  ];
  const del = await o.call('DELETE', fleetUrl);
  await o.waitFor(del.headers['azure-asyncoperation'] as string);
  return lines;
}
