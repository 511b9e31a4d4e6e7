// The simulated data plane's pure parts: the address plan, the EndpointSlices a Service's pods make,
// and the backends kube-proxy would pick from.
import { describe, expect, it } from 'vitest';
import { frontendRange, ip, nextFree, podRange } from '../../local/dataplane/addresses.js';
import { backendsOf, desiredSlices } from '../../local/dataplane/dataPlane.js';
import type { KubeObject } from '../../shared/hub/kinds.js';

const pod = (name: string, address: string | undefined, options: { ready?: boolean; labels?: Record<string, string>; port?: number } = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: options.labels ?? { app: 'web' } },
  spec: { nodeName: 'node-0', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: options.port ?? 8080 }] }] },
  status: {
    phase: 'Running',
    ...(address ? { podIP: address } : {}),
    conditions: [{ type: 'Ready', status: options.ready === false ? 'False' : 'True' }],
  },
});

const service = (ports: unknown[], selector: Record<string, string> | null = { app: 'web' }): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'default', uid: 'svc' },
  spec: { ...(selector ? { selector } : {}), ports },
});

describe('address plan', () => {
  it('gives each cluster a /22 of 127.64.0.0/10 that no other cluster shares', () => {
    expect(podRange(0)).toMatchObject({ cidr: '127.64.0.0/22', first: ip('127.64.0.1'), last: ip('127.64.3.254') });
    expect(podRange(1).cidr).toBe('127.64.4.0/22');
    expect(podRange(4095).cidr).toBe('127.127.252.0/22');
    expect(() => podRange(4096)).toThrow(/4096 clusters/);
    expect(podRange(0).last).toBeLessThan(podRange(1).first);
  });

  it('hands out the lowest free address, and none when the range is full', () => {
    const range = { first: ip('127.64.0.1'), last: ip('127.64.0.3') };
    expect(nextFree(range, new Set())).toBe('127.64.0.1');
    expect(nextFree(range, new Set(['127.64.0.1', '127.64.0.3']))).toBe('127.64.0.2');
    expect(nextFree(range, new Set(['127.64.0.1', '127.64.0.2', '127.64.0.3']))).toBeUndefined();
    expect(nextFree(frontendRange, new Set())).toBe('127.192.0.1');
  });
});

describe('EndpointSlices of a Service', () => {
  it('lists every selected pod with an address, ready or not, with the named target port resolved', () => {
    const [slice, ...more] = desiredSlices(service([{ name: 'web', port: 80, targetPort: 'http' }]), [
      pod('b', '127.64.0.3'),
      pod('a', '127.64.0.2', { ready: false }),
      pod('pending', undefined),
      pod('other', '127.64.0.4', { labels: { app: 'db' } }),
    ]);
    expect(more).toEqual([]);
    expect(slice.ports).toEqual([{ name: 'web', port: 8080, protocol: 'TCP' }]);
    expect(slice.endpoints).toEqual([
      {
        addresses: ['127.64.0.2'],
        conditions: { ready: false, serving: false, terminating: false },
        nodeName: 'node-0',
        targetRef: { kind: 'Pod', namespace: 'default', name: 'a', uid: 'uid-a' },
      },
      {
        addresses: ['127.64.0.3'],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: 'node-0',
        targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: 'uid-b' },
      },
    ]);
  });

  it('makes a slice for each set of resolved ports, and none without a selector', () => {
    const slices = desiredSlices(service([{ name: 'web', port: 80, targetPort: 'http' }]), [pod('a', '127.64.0.2'), pod('b', '127.64.0.3', { port: 9090 })]);
    expect(slices.map((s) => s.ports)).toEqual([[{ name: 'web', port: 8080, protocol: 'TCP' }], [{ name: 'web', port: 9090, protocol: 'TCP' }]]);
    expect(desiredSlices(service([{ port: 80 }], null), [pod('a', '127.64.0.2')])).toEqual([]);
  });
});

describe('backends', () => {
  it('are the ready addresses of the slices labelled with the Service name, by port name, whoever wrote them', () => {
    const slice = (name: string, service: string, endpoints: unknown[], ports: unknown[] = [{ name: 'web', port: 8080, protocol: 'TCP' }]): KubeObject => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name, namespace: 'fleet-system', labels: { 'kubernetes.io/service-name': service } },
      addressType: 'IPv4',
      endpoints,
      ports,
    });
    const backends = backendsOf([
      slice('a', 'shop', [
        { addresses: ['127.64.0.2'], conditions: { ready: true } },
        { addresses: ['127.64.0.3'], conditions: { ready: false } },
      ]),
      // Imported slices carry no conditions: read as ready.
      slice('b', 'shop', [{ addresses: ['127.64.4.2'] }]),
      slice('c', 'other', [{ addresses: ['127.64.8.2'] }], [{ name: '', port: 80 }]),
    ]);
    expect(backends.get('shop')?.get('web')).toEqual([
      { ip: '127.64.0.2', port: 8080 },
      { ip: '127.64.4.2', port: 8080 },
    ]);
    expect(backends.get('other')?.get('')).toEqual([{ ip: '127.64.8.2', port: 80 }]);
  });
});
