// The local Azurite keeps every acknowledged write across a SIGKILL, and a transaction whole or not
// at all. Azurite runs in a child process (the compiled dist/local/azurite.js: npm test builds
// first), is killed, and started again on the same state folder.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { afterAll, expect, it } from 'vitest';

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

async function start(stateDir: string, journalBytes?: number) {
  const script = `import { startAzuriteTables } from ${JSON.stringify(join(process.cwd(), 'dist/local/azurite.js'))};
const t = await startAzuriteTables({ stateDir: ${JSON.stringify(stateDir)}, journalBytes: ${journalBytes ?? 'undefined'} });
console.log(t.connectionString);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const connectionString = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`azurite exited with ${code}`)));
  });
  const table = TableClient.fromConnectionString(connectionString, 'durable', { allowInsecureConnection: true });
  return { child, table };
}

it('keeps every acknowledged write across a SIGKILL, and transactions whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'azurite-state-'));
  const first = await start(dir);
  await first.table.createTable();
  await first.table.createEntity({ partitionKey: 'p', rowKey: 'single', v: 1 });
  await first.table.submitTransaction(Array.from({ length: 100 }, (_, i) => ['create', { partitionKey: 'p', rowKey: `batch-${i}`, v: i }] as const));
  await first.table.updateEntity({ partitionKey: 'p', rowKey: 'single', v: 2 }, 'Replace');
  await first.table.deleteEntity('p', 'batch-0');
  // A transaction that fails leaves nothing, before and after the restart.
  await expect(
    first.table.submitTransaction([
      ['create', { partitionKey: 'p', rowKey: 'never', v: 0 }],
      ['create', { partitionKey: 'p', rowKey: 'batch-1', v: 0 }],
    ]),
  ).rejects.toBeTruthy();
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));

  const second = await start(dir);
  expect((await second.table.getEntity<{ v: number }>('p', 'single')).v).toBe(2);
  await expect(second.table.getEntity('p', 'batch-0')).rejects.toMatchObject({ statusCode: 404 });
  await expect(second.table.getEntity('p', 'never')).rejects.toMatchObject({ statusCode: 404 });
  const rows: string[] = [];
  for await (const e of second.table.listEntities()) rows.push(e.rowKey!);
  expect(rows).toHaveLength(100); // batch-1..99 and single
  // Writes after the restart land too, and survive a second kill.
  await second.table.createEntity({ partitionKey: 'q', rowKey: 'after', v: 3 });
  second.child.kill('SIGKILL');
  await new Promise((r) => second.child.once('exit', r));
  const third = await start(dir);
  expect((await third.table.getEntity<{ v: number }>('q', 'after')).v).toBe(3);
  expect((await third.table.getEntity<{ v: number }>('p', 'batch-99')).v).toBe(99);
});

it('keeps every acknowledged write when it is killed while a snapshot is written in the background', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'azurite-state-'));
  // A journal of 20 KB starts a snapshot: with these writes, many are taken while writes go on.
  const first = await start(dir, 20_000);
  await first.table.createTable();
  const acknowledged = new Map<string, number>();
  let writes = 0;
  let stop = false;
  const writer = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const rowKey = `w${w}-${i % 150}`;
      const v = i;
      try {
        await first.table.upsertEntity({ partitionKey: `p${w}`, rowKey, v, pad: 'x'.repeat(200) }, 'Replace');
        acknowledged.set(`p${w}/${rowKey}`, v);
        writes++;
      } catch {
        return; // the kill
      }
    }
  };
  const writers = Array.from({ length: 8 }, (_, w) => writer(w));
  // Killed once enough went in for several snapshots (each once the journal outgrows the last, ~300 KB), by progress, not by the clock.
  while (writes < 8000) await new Promise((r) => setTimeout(r, 20));
  const seen = new Map(acknowledged);
  const exited = new Promise((r) => first.child.once('exit', r));
  first.child.kill('SIGKILL');
  stop = true;
  await Promise.all([exited, ...writers]);

  const second = await start(dir, 20_000);
  const stored = new Map<string, number>();
  for await (const e of second.table.listEntities<{ v: number }>()) stored.set(`${e.partitionKey}/${e.rowKey}`, e.v);
  // Every write acknowledged before the kill is there, at that value or a later acknowledged one.
  for (const [key, v] of seen) expect(stored.get(key), key).toBeGreaterThanOrEqual(v);
  expect(stored.size).toBe(8 * 150);
  second.child.kill('SIGKILL');
});
