// The emulators can each run on a worker thread of their own, off the function host's event loop.
// A thread script starts its server, posts what clients need, and stops on { close: true }.
import { parentPort, Worker } from 'node:worker_threads';

export interface OnThread<Ready> {
  ready: Ready;
  close(): Promise<void>;
}

/** Starts `script` (a compiled .js next to the caller) and waits for what it posts when ready. */
export async function startOnThread<Ready>(script: URL, workerData: unknown): Promise<OnThread<Ready>> {
  const worker = new Worker(script, { workerData });
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
  parentPort!.postMessage(ready);
  parentPort!.on('message', async (m: { close?: true }) => {
    if (!m.close) return;
    await close();
    parentPort!.postMessage({ closed: true });
  });
}
