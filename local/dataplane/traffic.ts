// What answers on the simulated network: a running container (any HTTP request gets a small JSON
// body naming who answered, so a user can see which cluster and pod served it), and a load balancer
// frontend (each new connection goes to one of the Service's ready endpoints, picked at random as
// kube-proxy's iptables rules pick, whichever cluster the endpoint's pod runs in).
import { createServer as createHttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface PodIdentity {
  cluster: string;
  namespace: string;
  pod: string;
  node: string;
  podIP: string;
}

/** The answer of a simulated container, by the address and port a connection reached. */
export function createContainerResponder(who: (localKey: string) => PodIdentity | undefined) {
  const http = createHttpServer((req, res) => {
    const key = `${req.socket.localAddress}:${req.socket.localPort}`;
    const pod = who(key);
    if (!pod) {
      req.socket.destroy();
      return;
    }
    const body = JSON.stringify({ ...pod, port: req.socket.localPort, method: req.method, path: req.url });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  // Connections that stop talking are let go, as a server with an idle timeout would.
  http.keepAliveTimeout = 5000;
  return (socket: Socket) => http.emit('connection', socket);
}

export interface Backend {
  ip: string;
  port: number;
}

/** A load balancer frontend's handler: each connection is spliced to one of `backends()` (none: reset). */
export function loadBalancedConnection(backends: () => Backend[], random: () => number = Math.random) {
  return (client: Socket) => {
    const all = backends();
    if (all.length === 0) {
      client.destroy();
      return;
    }
    const to = all[Math.floor(random() * all.length)];
    const upstream = connect({ host: to.ip, port: to.port });
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.once('error', drop);
    client.once('error', drop);
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  };
}
