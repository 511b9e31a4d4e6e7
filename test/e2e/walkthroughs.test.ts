// The README's tour and the walkthroughs in docs/, pasted as a newcomer would: on a fresh stack,
// every ```sh block in order, in one shell, in a folder of the project (the scripts import its
// packages), with the settings `npm start` wrote. The ```text block after a step holds lines its
// output must contain, in order (`…` stands for anything; spacing is free): a walkthrough that
// drifts from the code fails here. (The two commands and the deploy are ```bash blocks: the stack
// is this test's, and Azure is not here.)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { useStack } from '../support/stackProcess.js';
import { missingLines, pages, stepsOf } from '../support/walkthrough.js';

const folder = mkdtempSync(join(process.cwd(), '.walkthrough-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));
// Its own FLEET_LOCAL_DIR in the folder, so `.fleet-local/env` is where the README says.
useStack({ FLEET_LOCAL_DIR: join(folder, '.fleet-local') });

it('runs the README and the walkthroughs as written, and they print what they say', { timeout: 420_000 }, async () => {
  const steps = pages.flatMap((p) => stepsOf(p, readFileSync(p, 'utf8')));
  expect(steps.length).toBeGreaterThanOrEqual(6);
  const marker = (i: number) => `::step ${i}::`;
  // One shell for all, as a person's terminal: what a step exports, the next one has.
  const script = steps.map((s, i) => `echo '${marker(i)}'\n${s.script}`).join('\n');
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', ['-c', script], {
      cwd: folder,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: folder, LANG: 'C.UTF-8' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', () => resolve(out));
  });
  const failures: string[] = [];
  steps.forEach((s, i) => {
    const start = output.indexOf(marker(i));
    const end = i + 1 < steps.length ? output.indexOf(marker(i + 1)) : output.length;
    const printed = start < 0 ? '' : output.slice(start + marker(i).length, end < 0 ? undefined : end);
    const missing = missingLines(s.expected, printed);
    if (missing.length) failures.push(`${s.page}, step ${i + 1}: missing\n  ${missing.join('\n  ')}\nin what it printed:\n${printed.trim()}`);
  });
  expect(failures, failures.join('\n\n')).toEqual([]);
});
