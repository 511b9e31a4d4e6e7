// The sockets the simulated data plane listens on, one TCP server per address and port: a pod's
// container ports, a load balancer's frontend ports. Kept by key ("ip:port") so that a reconcile
// can say what should listen and the rest is closed.
import { createServer, type Server, type Socket } from 'node:net';

export interface ListenFailure {
  /** EACCES (a port below 1024 without the privilege), EADDRNOTAVAIL (no such local address), EADDRINUSE. */
  code: string;
  message: string;
}

export interface Listeners {
  /** Listens at ip:port (once; later calls with the same key keep the socket), handing each connection to `accept`. */
  ensure(ip: string, port: number, accept: (socket: Socket) => void): Promise<ListenFailure | undefined>;
  close(ip: string, port: number): Promise<void>;
  /** The keys ("ip:port") listened on, or tried and failed. */
  keys(): string[];
  closeAll(): Promise<void>;
}

export function createListeners(): Listeners {
  type Entry = { server?: Server; accept: (socket: Socket) => void; failure?: ListenFailure; ready: Promise<void>; sockets: Set<Socket> };
  const servers = new Map<string, Entry>();
  const keyOf = (ip: string, port: number) => `${ip}:${port}`;
  // Its open connections go with it: a pod that is gone answers nothing, kept-alive or not.
  const closeEntry = async (entry: Entry) => {
    await entry.ready;
    for (const socket of entry.sockets) socket.destroy();
    await new Promise<void>((resolve) => {
      if (!entry.server?.listening) return resolve();
      entry.server.close(() => resolve());
    });
  };
  return {
    async ensure(ip, port, accept) {
      const key = keyOf(ip, port);
      const have = servers.get(key);
      if (have) {
        // The handler may have changed (the same frontend now serves another Service's port).
        have.accept = accept;
        await have.ready;
        return have.failure;
      }
      const entry: Entry = { accept, ready: Promise.resolve(), sockets: new Set() };
      const server = createServer((socket) => {
        entry.sockets.add(socket);
        socket.once('close', () => entry.sockets.delete(socket));
        entry.accept(socket);
      });
      entry.server = server;
      entry.ready = new Promise<void>((resolve) => {
        server.once('error', (e: NodeJS.ErrnoException) => {
          entry.failure = { code: e.code ?? 'EUNKNOWN', message: e.message };
          resolve();
        });
        server.listen({ host: ip, port, exclusive: true }, () => resolve());
      });
      servers.set(key, entry);
      await entry.ready;
      return entry.failure;
    },
    async close(ip, port) {
      const key = keyOf(ip, port);
      const have = servers.get(key);
      if (!have) return;
      servers.delete(key);
      await closeEntry(have);
    },
    keys: () => [...servers.keys()],
    async closeAll() {
      const all = [...servers.values()];
      servers.clear();
      await Promise.all(all.map(closeEntry));
    },
  };
}

/** Whether this machine lets a process listen on addresses of 127.0.0.0/8 other than 127.0.0.1 (Linux does; macOS needs aliases). */
export async function loopbackRangeUsable(probeIp: string): Promise<ListenFailure | undefined> {
  const server = createServer();
  const failure = await new Promise<ListenFailure | undefined>((resolve) => {
    server.once('error', (e: NodeJS.ErrnoException) => resolve({ code: e.code ?? 'EUNKNOWN', message: e.message }));
    server.listen({ host: probeIp, port: 0 }, () => resolve(undefined));
  });
  if (!failure) await new Promise<void>((r) => server.close(() => r()));
  return failure;
}

/** The port a stack holds on an address it claimed (no Service or pod here listens there). */
export const claimPort = 65_535;

/**
 * Claims an address for this process among every stack on the machine (tests run several at once):
 * a listener on ip:65535 that the OS gives to one process only and takes back when it dies, so no
 * claim outlives its stack. Resolves with its release, or undefined when another process holds it.
 * Where the address cannot be listened on at all (no loopback range), there is nothing to share:
 * the claim is granted.
 */
export async function claimAddress(ip: string): Promise<(() => Promise<void>) | undefined> {
  const server = createServer((socket) => socket.destroy());
  const failure = await new Promise<ListenFailure | undefined>((resolve) => {
    server.once('error', (e: NodeJS.ErrnoException) => resolve({ code: e.code ?? 'EUNKNOWN', message: e.message }));
    server.listen({ host: ip, port: claimPort, exclusive: true }, () => resolve(undefined));
  });
  if (failure?.code === 'EADDRINUSE') return undefined;
  if (failure) return async () => undefined;
  server.unref();
  return () => new Promise<void>((r) => server.close(() => r()));
}
