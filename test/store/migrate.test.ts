// A store created before an index existed (an old local data dir): ensureTables rebuilds the table with
// every index the definitions name, and keeps every item. Runs on dynalite and on Amazon's DynamoDB Local.

import { CreateTableCommand, DescribeTableCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { ensureTables, localTableNames } from '../../local/dynamo.ts';
import { TABLES, toItem } from '../../shared/store/index.ts';
import { dynamo, uniqueName } from '../support/infra.ts';

describe('ensureTables on a table from before an index existed', () => {
  it('adds the missing indexes and keeps the items', async () => {
    const names = localTableNames(uniqueName('m'));
    await dynamo().send(
      new CreateTableCommand({
        TableName: names.grants,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'id', AttributeType: 'S' },
          { AttributeName: 'subject', AttributeType: 'S' },
          { AttributeName: 'requestedAt', AttributeType: 'S' },
        ],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'bySubject',
            KeySchema: [
              { AttributeName: 'subject', KeyType: 'HASH' },
              { AttributeName: 'requestedAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
    const items = Array.from({ length: 30 }, (_, i) => ({
      id: `g${i}`,
      subject: `agent:m${i % 2}`,
      requestedAt: new Date(Date.UTC(2031, 0, 1, 0, 0, i)).toISOString(),
      status: 'expired',
      connection: 'shop',
    }));
    for (const item of items) await dynamo().send(new PutItemCommand({ TableName: names.grants, Item: toItem(item) }));

    await ensureTables(dynamo(), names);

    const described = await dynamo().send(new DescribeTableCommand({ TableName: names.grants }));
    expect((described.Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName).sort()).toEqual(
      TABLES.grants.indexes.map((index) => index.name).sort(),
    );
    const scanned = await dynamo().send(new ScanCommand({ TableName: names.grants }));
    expect(scanned.Items?.length).toBe(items.length);
    await ensureTables(dynamo(), names);
    expect((await dynamo().send(new ScanCommand({ TableName: names.grants }))).Items?.length).toBe(items.length);
  });
});
