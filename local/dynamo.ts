// The local DynamoDB-compatible store: dynalite on loopback, persisted in the data dir, with the
// tables created from the same definitions the AWS stack uses. Local mode only.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AttributeValue,
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  ResourceInUseException,
  ScanCommand,
  type TableDescription,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { TABLES, type TableDefinition, type TableNames } from '../shared/store/index.ts';

export interface LocalDynamo {
  endpoint: string;
  close(): Promise<void>;
}

export async function startLocalDynamo(options: { path?: string; port?: number }): Promise<LocalDynamo> {
  const server: Server = dynalite({ path: options.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const door = guardRequests(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      // dynalite answers a request with one database call after another, and one of them meeting a closed
      // database throws out of its handler (uncaught): no request starts from now on, those started finish, and
      // only then does dynalite's own close stop the server and close its database.
      await door.shut(5000);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * Puts a door before dynalite's request handler: `shut` refuses requests from then on (their connection is
 * cut, as when the store goes away) and waits, at most `timeoutMs`, for the handlers already running.
 */
function guardRequests(server: Server): { shut(timeoutMs: number): Promise<void> } {
  const handlers = server.listeners('request') as Array<(request: IncomingMessage, response: ServerResponse) => void>;
  server.removeAllListeners('request');
  let shut = false;
  let running = 0;
  let drained: (() => void) | undefined;
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (shut) {
      request.socket.destroy();
      return;
    }
    running++;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (--running === 0) drained?.();
    };
    // A handler starts once the body has arrived and ends with its answer, even on a connection already cut.
    const end = response.end.bind(response);
    response.end = ((...args: Parameters<typeof end>) => {
      finish();
      return end(...args);
    }) as typeof response.end;
    response.once('close', () => {
      if (!request.complete) finish();
    });
    for (const handler of handlers) handler(request, response);
  });
  return {
    shut: (timeoutMs) => {
      shut = true;
      server.closeIdleConnections();
      if (running === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}

export function localTableNames(prefix = 'airlock'): TableNames {
  return {
    grants: `${prefix}-grants`,
    audit: `${prefix}-audit`,
    approvals: `${prefix}-approvals`,
    exports: `${prefix}-exports`,
    locks: `${prefix}-locks`,
    sessions: `${prefix}-sessions`,
  };
}

/** Creates every table that is missing and turns on its TTL where the store has TTL; existing tables keep their keys. */
export async function ensureTables(client: DynamoDBClient, names: TableNames): Promise<void> {
  for (const definition of Object.values(TABLES)) {
    await ensureTable(client, names[definition.key], definition);
    if (definition.ttl) await ensureTimeToLive(client, names[definition.key], definition.ttl);
  }
}

/** dynalite has no TTL (it answers UnknownOperationException): nothing to turn on there, and code never relies on TTL. */
async function ensureTimeToLive(client: DynamoDBClient, name: string, attribute: string): Promise<void> {
  try {
    const { TimeToLiveDescription: current } = await client.send(new DescribeTimeToLiveCommand({ TableName: name }));
    if (
      (current?.TimeToLiveStatus === 'ENABLED' || current?.TimeToLiveStatus === 'ENABLING') &&
      current.AttributeName === attribute
    )
      return;
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { AttributeName: attribute, Enabled: true },
      }),
    );
  } catch (error) {
    if ((error as { name?: string }).name !== 'UnknownOperationException') throw error;
  }
}

async function ensureTable(client: DynamoDBClient, name: string, def: TableDefinition): Promise<void> {
  const table = await describeTable(client, name);
  if (!table) return createTable(client, name, def);
  const present = new Set((table.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  // A data dir from before an index existed: dynalite cannot add one, so the table is rebuilt with its items.
  if (!def.indexes.every((index) => present.has(index.name))) await rebuildTable(client, name, def);
}

async function rebuildTable(client: DynamoDBClient, name: string, def: TableDefinition): Promise<void> {
  const items: Array<Record<string, AttributeValue>> = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: name, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  await client.send(new DeleteTableCommand({ TableName: name }));
  // Deleting takes a moment: created before it is gone, the new table would be taken for the old one.
  await until(async () => (await describeTable(client, name)) === undefined, `table ${name} to be deleted`);
  await createTable(client, name, def);
  for (let at = 0; at < items.length; at += 25) {
    let pending: Array<Record<string, AttributeValue>> = items.slice(at, at + 25);
    while (pending.length > 0) {
      const output = await client.send(
        new BatchWriteItemCommand({ RequestItems: { [name]: pending.map((Item) => ({ PutRequest: { Item } })) } }),
      );
      pending = (output.UnprocessedItems?.[name] ?? []).flatMap((request) =>
        request.PutRequest?.Item ? [request.PutRequest.Item] : [],
      );
    }
  }
}

async function createTable(client: DynamoDBClient, name: string, def: TableDefinition): Promise<void> {
  const keySchema = [{ AttributeName: def.hashKey, KeyType: 'HASH' as const }];
  if (def.rangeKey) keySchema.push({ AttributeName: def.rangeKey, KeyType: 'RANGE' as never });
  try {
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: Object.entries(def.attributes).map(([AttributeName, AttributeType]) => ({
          AttributeName,
          AttributeType,
        })),
        KeySchema: keySchema,
        ...(def.indexes.length
          ? {
              GlobalSecondaryIndexes: def.indexes.map((index) => ({
                IndexName: index.name,
                KeySchema: [
                  { AttributeName: index.hashKey, KeyType: 'HASH' as const },
                  ...(index.rangeKey ? [{ AttributeName: index.rangeKey, KeyType: 'RANGE' as const }] : []),
                ],
                Projection: { ProjectionType: 'ALL' as const },
              })),
            }
          : {}),
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await until(async () => (await describeTable(client, name))?.TableStatus === 'ACTIVE', `table ${name} to be active`);
}

async function describeTable(client: DynamoDBClient, name: string): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: name }))).Table;
  } catch (error) {
    if ((error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

/** Polls `done` every 50 ms for up to 30 s (local stores take milliseconds). */
async function until(done: () => Promise<boolean>, what: string): Promise<void> {
  for (const started = Date.now(); !(await done()); ) {
    if (Date.now() - started > 30_000) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
