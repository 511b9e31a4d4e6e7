// `npm run infra:config`: writes what infra/ takes from the code, so that each has one source:
// infra/app-config.json from shared/config.ts, infra/agent/networking-crds.yaml (the member
// clusters' fleet-networking CRDs) from shared/hub/networking.ts.
import { writeFileSync } from 'node:fs';
import { infraConfig } from '../shared/config.js';
import { networkingCrdsYaml } from '../shared/hub/networking.js';

writeFileSync('infra/app-config.json', `${JSON.stringify(infraConfig(), null, 2)}\n`);
console.log('wrote infra/app-config.json');
writeFileSync('infra/agent/networking-crds.yaml', networkingCrdsYaml());
console.log('wrote infra/agent/networking-crds.yaml');
