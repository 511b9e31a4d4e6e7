import { describe, expect, it } from 'vitest';
import { allocateServiceAddresses, builtInErrors, defaultBuiltIn } from '../../shared/hub/builtins.js';
import type { KubeObject } from '../../shared/hub/kinds.js';

const o = (fields: Record<string, unknown>): KubeObject => ({ metadata: { name: 'x' }, ...fields });
const fields = (kind: string, after: KubeObject, before?: KubeObject) => builtInErrors(kind, after, before).map((e) => `${e.field}: ${e.message}`);

describe('defaults and derived fields', () => {
  it.each([
    ['a Secret without a type is Opaque', 'Secret', o({}), { type: 'Opaque' }],
    ['stringData wins over data, as base64', 'Secret', o({ data: { a: 'YQ==' }, stringData: { a: 'b' } }), { data: { a: 'Yg==' }, type: 'Opaque' }],
    ['stringData that is not strings is kept, to be refused', 'Secret', o({ stringData: { a: 1 } }), { stringData: { a: 1 } }],
    ['a latest image is pulled always', 'Deployment', o({ spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx' }] } } } }), {}],
  ])('%s', (_, kind, input, expected) => {
    defaultBuiltIn(kind, input);
    expect(input).toMatchObject(expected);
    if (kind === 'Secret' && expected.data) expect(input).not.toHaveProperty('stringData');
    if (kind === 'Deployment')
      expect((input.spec as { template: { spec: { containers: { imagePullPolicy: string }[] } } }).template.spec.containers[0].imagePullPolicy).toBe('Always');
  });

  it('an update that leaves out the clusterIP and node port keeps them', () => {
    const before = o({ spec: { type: 'NodePort', clusterIP: '10.0.3.4', clusterIPs: ['10.0.3.4'], ports: [{ port: 80, protocol: 'TCP', nodePort: 30001 }] } });
    const after = o({ spec: { type: 'NodePort', ports: [{ port: 80 }] } });
    defaultBuiltIn('Service', after, before);
    expect(after.spec).toMatchObject({ clusterIP: '10.0.3.4', clusterIPs: ['10.0.3.4'], ports: [{ port: 80, nodePort: 30001, targetPort: 80 }] });
  });

  it('a new Service gets an address and node ports no other Service has', () => {
    const taken = [o({ spec: { clusterIP: '10.0.0.11', ports: [{ nodePort: 30000 }] } })];
    const svc = o({ spec: { type: 'LoadBalancer', ports: [{ port: 80 }, { port: 81 }] } });
    // The first address and the first two node ports picked are taken: picked again.
    const picks = [0, 0.5, 0, 0, 0.25];
    allocateServiceAddresses(svc, taken, () => picks.shift() ?? 0.75);
    expect(svc.spec).toMatchObject({ clusterIP: '10.0.128.5', clusterIPs: ['10.0.128.5'], ports: [{ nodePort: 30692 }, { nodePort: 32076 }] });
  });
});

describe('rules', () => {
  it.each([
    [
      'a config key with a space',
      'ConfigMap',
      o({ data: { 'a b': 'c' } }),
      undefined,
      ["data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'"],
    ],
    [
      'a key in both data and binaryData',
      'ConfigMap',
      o({ data: { a: 'x' }, binaryData: { a: 'eA==' } }),
      undefined,
      ['binaryData[a]: Invalid value: "a": duplicate of key present in data'],
    ],
    [
      'an immutable ConfigMap changed',
      'ConfigMap',
      o({ immutable: true, data: { a: '2' } }),
      o({ immutable: true, data: { a: '1' } }),
      ['data: Forbidden: field is immutable when `immutable` is set'],
    ],
    [
      'an immutable ConfigMap relabelled',
      'ConfigMap',
      o({ immutable: true, data: { a: '1' }, metadata: { name: 'x', labels: { a: 'b' } } }),
      o({ immutable: true, data: { a: '1' } }),
      [],
    ],
    [
      'a Secret of another type',
      'Secret',
      o({ type: 'Opaque' }),
      o({ type: 'kubernetes.io/tls', data: { 'tls.crt': '', 'tls.key': '' } }),
      ['type: Invalid value: "Opaque": field is immutable'],
    ],
    [
      'a docker config Secret without its key',
      'Secret',
      o({ type: 'kubernetes.io/dockerconfigjson', data: {} }),
      undefined,
      ['data[.dockerconfigjson]: Required value'],
    ],
    ['a Service without ports', 'Service', o({ spec: { type: 'ClusterIP' } }), undefined, ['spec.ports: Required value']],
    ['a headless Service without ports', 'Service', o({ spec: { type: 'ClusterIP', clusterIP: 'None' } }), undefined, []],
    ['an ExternalName Service without a name', 'Service', o({ spec: { type: 'ExternalName' } }), undefined, ['spec.externalName: Required value']],
    [
      'a Service of an unknown type',
      'Service',
      o({ spec: { type: 'Magic', ports: [{ port: 1 }] } }),
      undefined,
      [expect.stringContaining('spec.type: Unsupported value: "Magic"')],
    ],
    [
      'two unnamed ports',
      'Service',
      o({ spec: { type: 'ClusterIP', ports: [{ port: 1 }, { port: 2, name: 'b' }] } }),
      undefined,
      ['spec.ports[0].name: Required value'],
    ],
    [
      'a clusterIP moved',
      'Service',
      o({ spec: { type: 'ClusterIP', clusterIP: '10.0.0.2', ports: [{ port: 1 }] } }),
      o({ spec: { clusterIP: '10.0.0.3' } }),
      ['spec.clusterIP: Invalid value: "10.0.0.2": field is immutable'],
    ],
    ['a Deployment without a selector', 'Deployment', o({ spec: {} }), undefined, ['spec.selector: Required value']],
    [
      'a Deployment whose selector changed',
      'Deployment',
      o({ spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } } } } }),
      o({ spec: { selector: { matchLabels: { a: 'c' } } } }),
      ['spec.selector: Invalid value: {"matchLabels":{"a":"b"}}: field is immutable'],
    ],
  ])('%s', (_, kind, after, before, expected) => expect(fields(kind, after, before)).toEqual(expected));
});
