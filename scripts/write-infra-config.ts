// `npm run infra:config`: writes infra/app-config.json from shared/config.ts.
import { writeFileSync } from 'node:fs';
import { infraConfig } from '../shared/config.js';

writeFileSync('infra/app-config.json', `${JSON.stringify(infraConfig(), null, 2)}\n`);
console.log('wrote infra/app-config.json');
