// fleet-networking's member controllers (serviceExports.ts, multiClusterServices.ts), run by the
// heartbeat and by watches: an endpoint that changes in an exporting cluster reaches the hub, and
// one the hub gives an importer reaches its derived Service, in about a second, not a heartbeat
// period (issue 19 aims at 3 s, pod ready to every importer). What is watched follows what the
// member does, so that watches cost what they are for: its ServiceExports and
// MultiClusterServices always (two watches on its own API server), its Services and
// EndpointSlices while it exports, and its EndpointSliceImports on the hub only while it imports —
// a member with neither opens no watch on the hub, and the hub's watch scopes grow with importers,
// not with members (a hub watch is a storage poll a second: shared/hub/watchPolls.ts). A verdict
// the hub is still to give (an export pending conflict resolution) is looked for again within
// seconds rather than watched. Passes never overlap; events that come during one make one more.
import { type KubeConfig, Watch } from '@kubernetes/client-node';
import type { HubClient } from './hubClient.js';
import { type NetworkingMemory, whyFailed } from './hubNetworking.js';
import { applySliceImport, type SliceImport, syncMultiClusterServices } from './multiClusterServices.js';
import { syncServiceExports } from './serviceExports.js';
import { sleep } from './sleep.js';

export interface NetworkingLoopOptions {
  memberName: string;
  cluster: KubeConfig;
  hub: HubClient;
  log: (line: string) => void;
  signal: AbortSignal;
  /** How long events are gathered before a pass (ms). */
  debounceMs?: number;
}

export interface NetworkingLoop {
  /** One pass now (after any running one), and the watches it calls for. */
  pass(): Promise<void>;
  /** Stops passing and watching (the member leaves), once a running pass is done; the next pass() starts again. */
  pause(): Promise<void>;
}

type WatchTarget = { on: 'member' | 'hub'; path: string; onEvent?: (phase: string, object: unknown) => void };

export function networkingLoop(o: NetworkingLoopOptions): NetworkingLoop {
  const memory: NetworkingMemory = {};
  const debounceMs = o.debounceMs ?? 100;
  const watches = new Map<string, AbortController>();
  let running: Promise<void> | undefined;
  let again = false;
  let paused = false;
  let timer: NodeJS.Timeout | undefined;
  /** Retries of a pending verdict so far: 1, 2, 4 … s apart, at most 16 s. */
  let pendingTries = 0;

  let due = Number.POSITIVE_INFINITY;
  /** A pass after `afterMs`, or sooner if one is due sooner already. */
  const kick = (afterMs = debounceMs) => {
    if (paused || o.signal.aborted) return;
    const at = Date.now() + afterMs;
    if (timer && due <= at) return;
    if (timer) clearTimeout(timer);
    due = at;
    timer = setTimeout(() => {
      timer = undefined;
      due = Number.POSITIVE_INFINITY;
      void pass().catch(() => undefined);
    }, afterMs);
  };

  async function once(): Promise<void> {
    let hub: Awaited<ReturnType<HubClient['objects']>>;
    try {
      hub = await o.hub.objects();
    } catch (e) {
      o.log(`networking: no token for the hub: ${whyFailed(e)}`);
      return;
    }
    const ctx = { memberName: o.memberName, cluster: o.cluster, hub, now: () => new Date(), log: o.log, memory };
    const exported = await syncServiceExports(ctx).catch((e) => {
      o.log(`service exports: ${whyFailed(e)}`);
      return undefined;
    });
    const imported = await syncMultiClusterServices(ctx).catch((e) => {
      o.log(`multi-cluster services: ${whyFailed(e)}`);
      return undefined;
    });
    if (paused || o.signal.aborted) return;
    const exporting = exported ? exported.exports > 0 : memory.exported !== false;
    const importing = imported ? imported.imports > 0 : memory.imported !== false;
    const hubNamespace = `fleet-member-${o.memberName}`;
    want('serviceexports', { on: 'member', path: '/apis/networking.fleet.azure.com/v1beta1/serviceexports' }, true);
    want('multiclusterservices', { on: 'member', path: '/apis/networking.fleet.azure.com/v1alpha1/multiclusterservices' }, true);
    want('services', { on: 'member', path: '/api/v1/services' }, exporting);
    want('endpointslices', { on: 'member', path: '/apis/discovery.k8s.io/v1/endpointslices' }, exporting);
    want(
      'endpointsliceimports',
      {
        on: 'hub',
        path: `/apis/networking.fleet.azure.com/v1alpha1/namespaces/${hubNamespace}/endpointsliceimports`,
        // Applied as it comes (the pass follows): most of an endpoint change's last leg was that pass.
        onEvent: (phase, object) => void applySliceImport(ctx, phase, object as SliceImport).catch((e) => o.log(`endpoint slice import: ${whyFailed(e)}`)),
      },
      importing,
    );
    if (exported?.pending) kick(1000 * 2 ** Math.min(pendingTries++, 4));
    else pendingTries = 0;
  }

  async function pass(): Promise<void> {
    if (o.signal.aborted) return;
    paused = false;
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await once();
        } while (again && !paused && !o.signal.aborted);
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  /** Starts or stops one watch; a watch that ends (the server's timeout, an error) starts again. */
  function want(key: string, target: WatchTarget, on: boolean) {
    const current = watches.get(key);
    if (!on) {
      current?.abort();
      watches.delete(key);
      return;
    }
    if (current) return;
    const stop = new AbortController();
    watches.set(key, stop);
    void (async () => {
      let failures = 0;
      while (!stop.signal.aborted && !o.signal.aborted) {
        const ended = await watchOnce(target, stop.signal);
        if (ended === 'failed') failures++;
        else failures = 0;
        // Missed events are what the pass after a new watch's initial list catches.
        await sleep(Math.min(30_000, 1000 * 2 ** Math.min(failures, 5)), stop.signal);
      }
    })();
  }

  async function watchOnce(target: WatchTarget, stop: AbortSignal): Promise<'ended' | 'failed'> {
    let request: AbortController | undefined;
    const onStop = () => request?.abort();
    stop.addEventListener('abort', onStop);
    o.signal.addEventListener('abort', onStop);
    try {
      const config = target.on === 'member' ? o.cluster : await o.hub.config();
      return await new Promise<'ended' | 'failed'>((resolve) => {
        new Watch(config)
          .watch(
            target.path,
            { allowWatchBookmarks: true },
            (phase, object) => {
              if (phase === 'BOOKMARK') return;
              target.onEvent?.(phase, object);
              kick();
            },
            (err) => resolve(err && !stop.aborted ? 'failed' : 'ended'),
          )
          .then(
            (r) => {
              request = r;
              if (stop.aborted || o.signal.aborted) r.abort();
            },
            () => resolve('failed'),
          );
      });
    } catch {
      return 'failed';
    } finally {
      // Every way out takes its listeners along (a watch that kept failing left two each time).
      stop.removeEventListener('abort', onStop);
      o.signal.removeEventListener('abort', onStop);
    }
  }

  o.signal.addEventListener('abort', () => {
    for (const w of watches.values()) w.abort();
    watches.clear();
    if (timer) clearTimeout(timer);
  });

  return {
    pass,
    async pause() {
      paused = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      for (const w of watches.values()) w.abort();
      watches.clear();
      // What leaving withdrew is asked about again on the next pass.
      memory.exported = undefined;
      memory.imported = undefined;
      await running?.catch(() => undefined);
    },
  };
}
