// Table Storage layout (see README "State in Table Storage"):
//   fleets:        PartitionKey = "{subscription}:{resource group}:{fleet}" (lower case)
//                  RowKey "fleet" | "member:{name}" | "op:{operation id}"; the record is JSON in `data`,
//                  but an operation's status, endTime and error are columns only (the sweeper filters
//                  on them, and the worker ends an operation by writing just those; startTime is both).
//   clusterclaims: PartitionKey = the member cluster's resource id, lower case, "/" -> ":"; RowKey "claim".
import type { TokenCredential } from '@azure/core-auth';
import { odata, RestError, TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { tables } from '../config.js';
import type { FleetRef, MemberRef } from '../domain/armIds.js';
import { canonicalId } from '../domain/armIds.js';
import type { FleetRecord, MemberRecord, OperationError, OperationRecord, OperationStatus } from '../domain/model.js';
import {
  type ClusterClaims,
  ConcurrencyError,
  type FleetPartition,
  type FleetStore,
  type Page,
  type PageOptions,
  type ReadFleetOptions,
  type Row,
  type Stored,
} from '../ports.js';

interface Entity extends TableEntity {
  kind: Row['kind'];
  data: string;
  // Operations only. endTime and error are '' while none.
  status?: string;
  startTime?: string;
  endTime?: string;
  error?: string;
}

export const fleetPartitionKey = (f: FleetRef) => `${f.subscriptionId}:${f.resourceGroup}:${f.fleetName}`.toLowerCase();
const memberRow = (name: string) => `member:${name.toLowerCase()}`;
const opRow = (id: string) => `op:${id}`;

function rowKeyOf(row: Row): string {
  switch (row.kind) {
    case 'fleet':
      return 'fleet';
    case 'member':
      return memberRow(row.value.ref.memberName);
    case 'operation':
      return opRow(row.value.id);
  }
}

const statusOf = (e: unknown) => (e instanceof RestError ? e.statusCode : undefined);

function toStored<T>(e: Entity & { etag?: string }): Stored<T> {
  return { value: (e.kind === 'operation' ? operationOf(e) : JSON.parse(e.data)) as T, version: e.etag ?? '' };
}

function operationOf(e: Entity): OperationRecord {
  const op = JSON.parse(e.data) as OperationRecord;
  op.status = e.status as OperationStatus;
  if (e.endTime) op.endTime = e.endTime;
  if (e.error) op.error = JSON.parse(e.error) as OperationError;
  return op;
}

function operationEntity(pk: string, op: OperationRecord): Entity {
  const { status, endTime, error, ...rest } = op;
  return {
    partitionKey: pk,
    rowKey: opRow(op.id),
    kind: 'operation',
    data: JSON.stringify(rest),
    status,
    startTime: op.startTime,
    endTime: endTime ?? '',
    error: error ? JSON.stringify(error) : '',
  };
}

export type TableConnection = { connectionString: string } | { endpoint: string; credential: TokenCredential };

function tableClient(connection: TableConnection, table: string): TableClient {
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
      // 'fleet' < 'member:…' < 'member;': one range holds the fleet row and every member, and no operation.
      const fleetAndMembers = async () => {
        const rows: Entity[] = [];
        const filter = odata`PartitionKey eq ${pk} and RowKey ge 'fleet' and RowKey lt 'member;'`;
        for await (const e of client.listEntities<Entity>({ queryOptions: { filter }, abortSignal: opts.abortSignal })) rows.push(e);
        return rows;
      };
      const [rows, member, operation] = await Promise.all([
        opts.allMembers ? fleetAndMembers() : opts.includeFleet === false ? Promise.resolve([]) : point('fleet').then((e) => (e ? [e] : [])),
        opts.memberName && !opts.allMembers ? point(memberRow(opts.memberName)) : undefined,
        opts.operationId ? point(opRow(opts.operationId)) : undefined,
      ]);
      const result: FleetPartition = { members: [] };
      for (const e of [...rows, ...(member ? [member] : [])]) {
        if (e.kind === 'fleet') result.fleet = toStored<FleetRecord>(e);
        else if (e.kind === 'member') result.members.push(toStored<MemberRecord>(e));
      }
      if (operation) result.operation = toStored<OperationRecord>(operation);
      return result;
    },

    async listFleets(scope, page) {
      const prefix = scope.resourceGroup ? `${scope.subscriptionId}:${scope.resourceGroup}:`.toLowerCase() : `${scope.subscriptionId}:`.toLowerCase();
      // ';' sorts right after ':', so [prefix, prefix with ':' -> ';') is exactly the partitions under the scope.
      const end = `${prefix.slice(0, -1)};`;
      const filter = odata`PartitionKey ge ${prefix} and PartitionKey lt ${end} and RowKey eq 'fleet'`;
      return pageOf(client, filter, page, (e) => JSON.parse(e.data) as FleetRecord);
    },

    async listMembers(fleet, page) {
      const filter = odata`PartitionKey eq ${fleetPartitionKey(fleet)} and RowKey ge 'member:' and RowKey lt 'member;'`;
      return pageOf(client, filter, page, (e) => JSON.parse(e.data) as MemberRecord);
    },

    async listOperations(query, page) {
      const filter = query.running
        ? odata`RowKey ge 'op:' and RowKey lt 'op;' and status eq 'InProgress' and startTime lt ${query.startedBefore}`
        : odata`RowKey ge 'op:' and RowKey lt 'op;' and status ne 'InProgress' and endTime lt ${query.endedBefore}`;
      return pageOf(client, filter, page, operationOf);
    },

    async commit(fleet, changes, opts = {}) {
      if (changes.length === 0) return;
      const pk = fleetPartitionKey(fleet);
      const actions: TransactionAction[] = changes.map((c): TransactionAction => {
        if (c.op === 'delete')
          return ['delete', { partitionKey: pk, rowKey: c.kind === 'fleet' ? 'fleet' : c.kind === 'member' ? memberRow(c.name) : opRow(c.name) }];
        if (c.op === 'finish') {
          const columns = {
            partitionKey: pk,
            rowKey: opRow(c.operationId),
            status: c.status,
            endTime: c.endTime,
            error: c.error ? JSON.stringify(c.error) : '',
          };
          return ['update', columns, 'Merge', { etag: c.version ?? '*' }];
        }
        const entity: Entity =
          c.row.kind === 'operation'
            ? operationEntity(pk, c.row.value)
            : { partitionKey: pk, rowKey: rowKeyOf(c.row), kind: c.row.kind, data: JSON.stringify(c.row.value) };
        return c.op === 'create' ? ['create', entity] : ['update', entity, 'Replace', { etag: c.version }];
      });
      try {
        // A transaction holds at most 100 actions; only a fleet delete comes near, and its chunks are idempotent.
        for (let i = 0; i < actions.length; i += 100) {
          await client.submitTransaction(actions.slice(i, i + 100), { abortSignal: opts.abortSignal });
        }
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

async function pageOf<T>(client: TableClient, filter: string, page: PageOptions, toValue: (e: Entity) => T): Promise<Page<T>> {
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
}

const claimKey = (clusterResourceId: string) => canonicalId(clusterResourceId).replaceAll('/', ':');
const sameOwner = (a: MemberRef, b: MemberRef) =>
  a.subscriptionId.toLowerCase() === b.subscriptionId.toLowerCase() &&
  a.resourceGroup.toLowerCase() === b.resourceGroup.toLowerCase() &&
  a.fleetName === b.fleetName &&
  a.memberName === b.memberName;

export function createClusterClaims(connection: TableConnection): ClusterClaims & { ensureTables(): Promise<void> } {
  const client = tableClient(connection, tables.clusterClaims);
  const read = async (pk: string) => {
    try {
      const e = await client.getEntity<ClaimEntity>(pk, 'claim');
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
    async claim(clusterResourceId, owner) {
      const pk = claimKey(clusterResourceId);
      try {
        await client.createEntity<ClaimEntity>({ partitionKey: pk, rowKey: 'claim', ...owner });
        return { claimed: true };
      } catch (e) {
        if (statusOf(e) !== 409) throw e;
      }
      const current = await read(pk);
      if (!current) return this.claim(clusterResourceId, owner);
      return sameOwner(current.owner, owner) ? { claimed: true } : { claimed: false, owner: current.owner };
    },
    async release(clusterResourceId, owner) {
      const pk = claimKey(clusterResourceId);
      const current = await read(pk);
      if (!current || !sameOwner(current.owner, owner)) return;
      try {
        await client.deleteEntity(pk, 'claim', { etag: current.etag });
      } catch (e) {
        if (statusOf(e) !== 404 && statusOf(e) !== 412) throw e;
      }
    },
  };
}
