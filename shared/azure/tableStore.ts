// Table Storage layout (see README "State in Table Storage"):
//   fleets:        PartitionKey = "{subscription}:{resource group}:{fleet}" (lower case)
//                  RowKey "fleet" | "fleet:counts" | "member:{name}" | "op:{operation id}"; the record is JSON in `data`
//                  (continued in `data1`, `data2`, … past 30,000 characters: a property holds 64 KiB),
//                  but an operation's status, endTime and error are columns only (the sweeper filters
//                  on them, and the worker ends an operation by writing just those; startTime is both).
//   clusterclaims: PartitionKey = the member cluster's subscription id (lower case); RowKey = the rest of
//                  its resource id, lower case, "/" -> ":"; the owner in columns, and `fleet` = the owner
//                  fleet's partition key, so a fleet's claims in a subscription are one query and batches.
import type { TokenCredential } from '@azure/core-auth';
import { odata, RestError, TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { z } from 'zod';
import { chunks, inParallel } from '../batches.js';
import { tables } from '../config.js';
import type { FleetRef, MemberRef } from '../domain/armIds.js';
import { canonicalId } from '../domain/armIds.js';
import type { FleetCounts, FleetRecord, MemberRecord, OperationError, OperationRecord, OperationStatus } from '../domain/model.js';
import {
  type ClusterClaims,
  ConcurrencyError,
  type FleetPartition,
  type FleetStore,
  InvalidContinuationTokenError,
  maxChangesPerCommit,
  type Page,
  type PageOptions,
  type ReadFleetOptions,
  type Row,
  type Stored,
} from '../ports.js';

interface Entity extends TableEntity {
  kind: Row['kind'];
  /** The record's JSON, or its first part (see packData). */
  data: string;
  // Operations only. endTime and error are '' while none.
  status?: string;
  startTime?: string;
  endTime?: string;
  error?: string;
  /** How a successful operation ended, when it can end more than one way. */
  result?: string;
}

export const fleetPartitionKey = (f: FleetRef) => `${f.subscriptionId}:${f.resourceGroup}:${f.fleetName}`.toLowerCase();
const memberRow = (name: string) => `member:${name.toLowerCase()}`;
const countsRow = 'fleet:counts';
const opRow = (id: string) => `op:${id}`;

function rowKeyOf(row: Row): string {
  switch (row.kind) {
    case 'fleet':
      return 'fleet';
    case 'counts':
      return countsRow;
    case 'member':
      return memberRow(row.value.ref.memberName);
    case 'operation':
      return opRow(row.value.id);
  }
}

const statusOf = (e: unknown) => (e instanceof RestError ? e.statusCode : undefined);

// A string property holds at most 64 KiB (32,768 UTF-16 code units, which is what a JS string's
// length counts), an entity 1 MiB and 255 properties. Every input ARM accepts (50 tags at 512 and
// 256 characters, 100 labels, …) fits one entity, but not one property.
const chunkChars = 30_000;
const maxChunks = 16;

/** The JSON of a record as `data`, `data1`, `data2`, … */
function packData(json: string): { data: string } & Record<string, string> {
  const parts: { data: string } & Record<string, string> = { data: json.slice(0, chunkChars) };
  for (let i = 1; i * chunkChars < json.length; i++) parts[`data${i}`] = json.slice(i * chunkChars, (i + 1) * chunkChars);
  // The request schemas bound every field; a record this large is a bug, not input.
  if (Object.keys(parts).length > maxChunks) throw new Error(`a record of ${json.length} characters does not fit one entity`);
  return parts;
}

function unpackData(e: Record<string, unknown>): string {
  let json = String(e.data);
  for (let i = 1; typeof e[`data${i}`] === 'string'; i++) json += e[`data${i}`];
  return json;
}

const recordOf = <T>(e: Entity): T => JSON.parse(unpackData(e)) as T;

function toStored<T>(e: Entity & { etag?: string }): Stored<T> {
  return { value: (e.kind === 'operation' ? operationOf(e) : recordOf(e)) as T, version: e.etag ?? '' };
}

function operationOf(e: Entity): OperationRecord {
  const op = recordOf<OperationRecord>(e);
  op.status = e.status as OperationStatus;
  if (e.endTime) op.endTime = e.endTime;
  if (e.error) op.error = JSON.parse(e.error) as OperationError;
  if (e.result) op.result = e.result;
  return op;
}

function operationEntity(pk: string, op: OperationRecord): Entity {
  const { status, endTime, error, ...rest } = op;
  return {
    partitionKey: pk,
    rowKey: opRow(op.id),
    kind: 'operation',
    ...packData(JSON.stringify(rest)),
    status,
    startTime: op.startTime,
    endTime: endTime ?? '',
    error: error ? JSON.stringify(error) : '',
  };
}

export type TableConnection = { connectionString: string } | { endpoint: string; credential: TokenCredential };

export function tableClient(connection: TableConnection, table: string): TableClient {
  if ('credential' in connection) return new TableClient(connection.endpoint, table, connection.credential);
  // Azurite speaks plain http on loopback; an explicit connection string needs the client's consent to that.
  const insecure = /TableEndpoint=http:/i.test(connection.connectionString);
  return TableClient.fromConnectionString(connection.connectionString, table, { allowInsecureConnection: insecure });
}

export function createTableStore(connection: TableConnection): FleetStore & { ensureTables(): Promise<void> } {
  const client = tableClient(connection, tables.fleets);

  return {
    async ensureTables() {
      await client.createTable();
    },

    // Point reads and one bounded range, issued together. An OR across row keys would make Table
    // Storage scan the whole partition, and a fleet's partition also holds its operation history.
    async readFleet(fleet, opts: ReadFleetOptions = {}) {
      const pk = fleetPartitionKey(fleet);
      const point = async (rowKey: string) => {
        try {
          return await client.getEntity<Entity>(pk, rowKey, { abortSignal: opts.abortSignal });
        } catch (e) {
          if (statusOf(e) === 404) return undefined;
          throw e;
        }
      };
      // 'fleet' < 'fleet:counts' < 'fleet;': one range of two rows at most holds the fleet and its counts.
      const fleetAndCounts = async () => {
        const rows: Entity[] = [];
        const filter = odata`PartitionKey eq ${pk} and RowKey ge 'fleet' and RowKey lt 'fleet;'`;
        for await (const e of client.listEntities<Entity>({ queryOptions: { filter }, abortSignal: opts.abortSignal })) rows.push(e);
        return rows;
      };
      const names = [...new Set([...(opts.memberName ? [opts.memberName] : []), ...(opts.memberNames ?? [])].map((n) => n.toLowerCase()))];
      const [rows, members, operation] = await Promise.all([
        opts.includeFleet === false ? Promise.resolve([]) : opts.counts ? fleetAndCounts() : point('fleet').then((e) => (e ? [e] : [])),
        Promise.all(names.map((n) => point(memberRow(n)))),
        opts.operationId ? point(opRow(opts.operationId)) : undefined,
      ]);
      const result: FleetPartition = { members: [] };
      for (const e of [...rows, ...members]) {
        if (e?.kind === 'fleet') result.fleet = toStored<FleetRecord>(e);
        else if (e?.kind === 'counts') result.counts = toStored<FleetCounts>(e);
        else if (e?.kind === 'member') result.members.push(toStored<MemberRecord>(e));
      }
      if (operation) result.operation = toStored<OperationRecord>(operation);
      return result;
    },

    async listFleets(scope, page) {
      const prefix = scope.resourceGroup ? `${scope.subscriptionId}:${scope.resourceGroup}:`.toLowerCase() : `${scope.subscriptionId}:`.toLowerCase();
      // ';' sorts right after ':', so [prefix, prefix with ':' -> ';') is exactly the partitions under the scope.
      const end = `${prefix.slice(0, -1)};`;
      const filter = odata`PartitionKey ge ${prefix} and PartitionKey lt ${end} and RowKey eq 'fleet'`;
      return pageOf(client, filter, page, recordOf<FleetRecord>);
    },

    async listMembers(fleet, page) {
      const filter = odata`PartitionKey eq ${fleetPartitionKey(fleet)} and RowKey ge 'member:' and RowKey lt 'member;'`;
      return pageOf(client, filter, page, recordOf<MemberRecord>);
    },

    async listOperations(query, page) {
      const filter = query.running
        ? odata`RowKey ge 'op:' and RowKey lt 'op;' and status eq 'InProgress' and startTime lt ${query.startedBefore}`
        : odata`RowKey ge 'op:' and RowKey lt 'op;' and status ne 'InProgress' and endTime lt ${query.endedBefore}`;
      return pageOf(client, filter, page, operationOf);
    },

    async commit(fleet, changes, opts = {}) {
      if (changes.length === 0) return;
      // Atomic or not at all: a caller with more changes splits them where it can afford to.
      if (changes.length > maxChangesPerCommit) throw new Error(`a commit holds at most ${maxChangesPerCommit} changes, got ${changes.length}`);
      const pk = fleetPartitionKey(fleet);
      const actions: TransactionAction[] = changes.map((c): TransactionAction => {
        if (c.op === 'delete')
          return [
            'delete',
            {
              partitionKey: pk,
              rowKey: c.kind === 'fleet' ? 'fleet' : c.kind === 'counts' ? countsRow : c.kind === 'member' ? memberRow(c.name) : opRow(c.name),
            },
          ];
        if (c.op === 'finish') {
          const columns = {
            partitionKey: pk,
            rowKey: opRow(c.operationId),
            status: c.status,
            endTime: c.endTime,
            error: c.error ? JSON.stringify(c.error) : '',
            ...(c.result ? { result: c.result } : {}),
          };
          return ['update', columns, 'Merge', { etag: c.version ?? '*' }];
        }
        const entity: Entity =
          c.row.kind === 'operation'
            ? operationEntity(pk, c.row.value)
            : ({ partitionKey: pk, rowKey: rowKeyOf(c.row), kind: c.row.kind, ...packData(JSON.stringify(c.row.value)) } as Entity);
        return c.op === 'create' ? ['create', entity] : ['update', entity, 'Replace', { etag: c.version }];
      });
      try {
        await client.submitTransaction(actions, { abortSignal: opts.abortSignal });
      } catch (e) {
        const status = statusOf(e);
        if (status === 409 || status === 412) throw new ConcurrencyError(`a concurrent write changed fleet ${pk}: ${(e as Error).message}`);
        // A delete of a row that is already gone fails the whole batch with 404; the caller re-reads and retries.
        if (status === 404) throw new ConcurrencyError(`a row of fleet ${pk} is gone: ${(e as Error).message}`);
        throw e;
      }
    },
  };
}

// The SDK's continuation token: base64 of {"nextPartitionKey", "nextRowKey"}. It decodes what it is
// given without checking, so a token from outside would fail deep inside it.
const continuationToken = z.object({ nextPartitionKey: z.string().min(1), nextRowKey: z.string().optional() });

function checkContinuationToken(token: string): void {
  try {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) throw new Error('not base64');
    continuationToken.parse(JSON.parse(Buffer.from(token, 'base64').toString('latin1')));
  } catch {
    throw new InvalidContinuationTokenError(`'${token.slice(0, 100)}' is not a continuation token of this list`);
  }
}

async function pageOf<T>(client: TableClient, filter: string, page: PageOptions, toValue: (e: Entity) => T): Promise<Page<T>> {
  if (page.continuationToken !== undefined) checkContinuationToken(page.continuationToken);
  const iterator = client
    .listEntities<Entity>({ queryOptions: { filter }, abortSignal: page.abortSignal })
    .byPage({ maxPageSize: page.pageSize, continuationToken: page.continuationToken });
  const next = await iterator.next();
  if (next.done || !next.value) return { items: [] };
  const items = next.value.map(toValue);
  return { items, continuationToken: next.value.continuationToken };
}

interface ClaimEntity extends TableEntity {
  subscriptionId: string;
  resourceGroup: string;
  fleetName: string;
  memberName: string;
  /** The owner fleet's partition key: a fleet's claims in one subscription are one query. */
  fleet: string;
}

/** Partition: the cluster's subscription; row: the rest of its id. Ids were checked at the door. */
function claimKeys(clusterResourceId: string): { pk: string; rk: string } {
  const [empty, subscriptions, subscriptionId, ...rest] = canonicalId(clusterResourceId).split('/');
  if (empty !== '' || subscriptions !== 'subscriptions' || !subscriptionId || rest.length === 0) throw new Error(`not a resource id: ${clusterResourceId}`);
  return { pk: subscriptionId, rk: rest.join(':') };
}

const sameOwner = (a: MemberRef, b: MemberRef) =>
  a.subscriptionId.toLowerCase() === b.subscriptionId.toLowerCase() &&
  a.resourceGroup.toLowerCase() === b.resourceGroup.toLowerCase() &&
  a.fleetName === b.fleetName &&
  a.memberName === b.memberName;

export function createClusterClaims(connection: TableConnection): ClusterClaims & { ensureTables(): Promise<void> } {
  const client = tableClient(connection, tables.clusterClaims);
  const read = async ({ pk, rk }: { pk: string; rk: string }) => {
    try {
      const e = await client.getEntity<ClaimEntity>(pk, rk);
      return { owner: { subscriptionId: e.subscriptionId, resourceGroup: e.resourceGroup, fleetName: e.fleetName, memberName: e.memberName }, etag: e.etag };
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  };
  return {
    async ensureTables() {
      await client.createTable();
    },
    async ownerOf(clusterResourceId) {
      return (await read(claimKeys(clusterResourceId)))?.owner;
    },
    async claim(clusterResourceId, owner) {
      const keys = claimKeys(clusterResourceId);
      const { subscriptionId, resourceGroup, fleetName, memberName } = owner;
      try {
        await client.createEntity<ClaimEntity>({
          partitionKey: keys.pk,
          rowKey: keys.rk,
          subscriptionId,
          resourceGroup,
          fleetName,
          memberName,
          fleet: fleetPartitionKey(owner),
        });
        return { claimed: true };
      } catch (e) {
        if (statusOf(e) !== 409) throw e;
      }
      const current = await read(keys);
      if (!current) return this.claim(clusterResourceId, owner);
      return sameOwner(current.owner, owner) ? { claimed: true } : { claimed: false, owner: current.owner };
    },
    async release(clusterResourceId, owner) {
      const keys = claimKeys(clusterResourceId);
      const current = await read(keys);
      if (!current || !sameOwner(current.owner, owner)) return;
      try {
        await client.deleteEntity(keys.pk, keys.rk, { etag: current.etag });
      } catch (e) {
        if (statusOf(e) !== 404 && statusOf(e) !== 412) throw e;
      }
    },
    // Only the fleet's own worker releases its claims (one session per fleet), so the rows a query
    // finds owned by the fleet stay its own until the transactions that delete them.
    async releaseFleet(fleet, subscriptionIds, opts = {}) {
      let released = 0;
      for (const subscriptionId of new Set(subscriptionIds.map((s) => s.toLowerCase()))) {
        const rows: string[] = [];
        const filter = odata`PartitionKey eq ${subscriptionId} and fleet eq ${fleetPartitionKey(fleet)}`;
        for await (const e of client.listEntities<ClaimEntity>({ queryOptions: { filter, select: ['RowKey'] }, abortSignal: opts.abortSignal }))
          rows.push(e.rowKey!);
        await inParallel(chunks(rows, maxChangesPerCommit), 8, async (chunk) => {
          try {
            await client.submitTransaction(
              chunk.map((rowKey): TransactionAction => ['delete', { partitionKey: subscriptionId, rowKey }]),
              { abortSignal: opts.abortSignal },
            );
          } catch (e) {
            // One row already gone fails its batch: delete that batch's rows one by one.
            if (statusOf(e) !== 404) throw e;
            for (const rowKey of chunk) await client.deleteEntity(subscriptionId, rowKey).catch((d) => (statusOf(d) === 404 ? undefined : Promise.reject(d)));
          }
        });
        released += rows.length;
      }
      return released;
    },
  };
}
