// infra/agent/ is what a real member runs: its manifests must give the agent every setting it reads
// and the AppliedWork kind it records its work in.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { networkingCrdsYaml } from '../../shared/hub/networking.js';

const docs = parseAllDocuments(readFileSync('infra/agent/member-agent.yaml', 'utf8')).map((d) => d.toJS());
const main = readFileSync('agent/main.ts', 'utf8');

it('sets every setting the agent requires, and runs the compiled agent', () => {
  const required = [...main.matchAll(/need\('([A-Z_]+)'\)/g)].map((m) => m[1]).sort();
  expect(required).toEqual(['HUB_AUDIENCE', 'HUB_SERVER_URL', 'MEMBER_CLUSTER_NAME']);
  const deployment = docs.find((d) => d.kind === 'Deployment');
  const env = deployment.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name).sort();
  expect(env).toEqual(required);
  expect(deployment.spec.template.metadata.labels['azure.workload.identity/use']).toBe('true');
  expect(readFileSync('infra/agent/Dockerfile', 'utf8')).toContain('CMD ["node", "dist/agent/main.js"]');
});

it('installs the AppliedWork kind the work applier writes', () => {
  const crd = docs.find((d) => d.kind === 'CustomResourceDefinition');
  const applier = readFileSync('agent/workApplier.ts', 'utf8');
  expect(applier).toContain(`export const group = '${crd.spec.group}'`);
  expect(crd.spec.names).toMatchObject({ kind: 'AppliedWork', plural: 'appliedworks' });
  expect(crd.spec.scope).toBe('Cluster');
  expect(crd.spec.versions[0].subresources).toEqual({ status: {} });
});

it("ships fleet-networking's member CRDs as shared/hub/networking.ts defines them (npm run infra:config writes the file)", () => {
  const file = readFileSync('infra/agent/networking-crds.yaml', 'utf8');
  expect(file).toBe(networkingCrdsYaml());
  const kinds = parseAllDocuments(file).map((d) => d.toJS().spec.names.kind);
  expect(kinds).toEqual(['ServiceExport', 'MultiClusterService', 'ServiceImport']);
});
