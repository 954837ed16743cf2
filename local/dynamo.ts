// The local DynamoDB-compatible store: dynalite on loopback, persisted in the data dir, with the
// tables created from the same definitions the AWS stack uses. Local mode only.

import dynalite from 'dynalite';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import { TABLES, type TableDefinition, type TableNames } from '../shared/store/tables.ts';

export interface LocalDynamo {
  endpoint: string;
  close(): Promise<void>;
}

export async function startLocalDynamo(options: { path?: string; port?: number }): Promise<LocalDynamo> {
  const server: Server = dynalite({ path: options.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // dynalite keeps its LevelDB open on the server object; close it so a restart can reopen it.
      const db = (server as unknown as { db?: { close?: (cb: () => void) => void } }).db;
      if (db?.close) await new Promise<void>((resolve) => db.close!(() => resolve()));
    },
  };
}

export function localTableNames(prefix = 'airlock'): TableNames {
  return { grants: `${prefix}-grants`, audit: `${prefix}-audit`, approvals: `${prefix}-approvals` };
}

/** Creates every table that is missing; existing tables are left as they are. */
export async function ensureTables(client: DynamoDBClient, names: TableNames): Promise<void> {
  for (const definition of Object.values(TABLES)) {
    await ensureTable(client, names[definition.key], definition);
  }
}

async function ensureTable(client: DynamoDBClient, name: string, def: TableDefinition): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: name }));
    return;
  } catch (error) {
    if ((error as { name?: string }).name !== 'ResourceNotFoundException') throw error;
  }
  const keySchema = [{ AttributeName: def.hashKey, KeyType: 'HASH' as const }];
  if (def.rangeKey) keySchema.push({ AttributeName: def.rangeKey, KeyType: 'RANGE' as never });
  try {
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: Object.entries(def.attributes).map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType })),
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
}
