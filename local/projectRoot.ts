// The folder holding package.json and host.json, whether the stack runs from source or from dist/:
// what the local stack reads of the repository (host.json, the seed, the agent's manifests).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function findProjectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'host.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find host.json above local/');
    dir = parent;
  }
  return dir;
}
