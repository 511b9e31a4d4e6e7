// The emulators can each run on a worker thread of their own, off the function host's event loop.
// A thread script starts its server, posts what clients need, and stops on { close: true }.
import { stat } from 'node:fs/promises';
import { getPriority, setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parentPort, Worker, workerData } from 'node:worker_threads';

export interface OnThread<Ready> {
  ready: Ready;
  close(): Promise<void>;
}

/** Starts `script` (a compiled .js next to the caller) and waits for what it posts when ready. */
export async function startOnThread<Ready>(script: URL, data: unknown): Promise<OnThread<Ready>> {
  const worker = new Worker(script, { workerData: data });
  const ready = await new Promise<Ready>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    ready,
    async close() {
      const closed = new Promise((r) => worker.once('message', r));
      worker.postMessage({ close: true });
      await closed;
      await worker.terminate();
    },
  };
}

/** The thread side: posts `ready`, and runs `close` when the parent asks. */
export function serveOnThread(ready: unknown, close: () => Promise<void>): void {
  const load = workerData?.load as ThreadLoad | undefined;
  const stopReporting = load ? reportLoad(load) : () => {};
  parentPort!.postMessage(ready);
  parentPort!.on('message', async (m: { close?: true }) => {
    if (!m.close) return;
    stopReporting();
    await close();
    parentPort!.postMessage({ closed: true });
  });
}

// How busy each of the stack's event loops is, for the benchmark: a loop near 100 % queues every
// request that reaches it, which is where latency under load comes from.
export const loopNames = ['functions (Service Bus, timers)', 'functions (HTTP)', 'Azurite', 'Service Bus', 'ARM and Entra'] as const;
export type LoopName = (typeof loopNames)[number];
export const newLoadBuffer = () => new SharedArrayBuffer(8 * loopNames.length);
/** Where a thread publishes its load: a cell of the shared buffer. */
export interface ThreadLoad {
  buffer: SharedArrayBuffer;
  slot: number;
}

/** Publishes this thread's event-loop active time (ms since it started) every 100 ms. */
export function reportLoad({ buffer, slot }: ThreadLoad): () => void {
  const cells = new Float64Array(buffer);
  const publish = () => (cells[slot] = performance.eventLoopUtilization().active);
  const timer = setInterval(publish, 100).unref();
  return () => {
    publish();
    clearInterval(timer);
  };
}

/** Event-loop active ms per loop, as last published. */
export function readLoad(buffer: SharedArrayBuffer): Record<LoopName, number> {
  const cells = new Float64Array(buffer);
  return Object.fromEntries(loopNames.map((n, i) => [n, cells[i]])) as Record<LoopName, number>;
}

/**
 * Lowers the CPU priority of the calling thread, and of it only: on Linux a nice value belongs to
 * a thread (elsewhere it would lower the whole process, so nothing is done there). Threads started
 * afterwards inherit it, so the stack calls this once every other thread runs; the libuv thread
 * pool, which every thread of the process shares, is made to start first at the normal priority.
 */
export async function lowerThisThreadsPriority(nice: number): Promise<void> {
  if (process.platform !== 'linux' || !(nice > 0)) return;
  await stat('.');
  // Relative to where the process already runs (say, under `nice`), and never an error: a priority
  // is a preference, not a reason to stop.
  try {
    setPriority(0, Math.min(getPriority(0) + nice, 19));
  } catch {
    /* left as it is */
  }
}
