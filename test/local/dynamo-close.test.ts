// The local store closes under load without an uncaught exception: `npm start` stopping with requests in
// flight, or a test taking the store away. dynalite answers a request with one database call after another,
// and one of them meeting a closed database throws out of every handler; the database must close after them.

import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, expect, it } from 'vitest';
import { ensureTables, localTableNames, startLocalDynamo } from '../../local/dynamo.ts';
import { createDynamoClient } from '../../shared/store/dynamo.ts';

const uncaught: unknown[] = [];
const record = (error: unknown) => uncaught.push(error);
process.on('uncaughtException', record);
afterAll(() => {
  process.off('uncaughtException', record);
});

it('closes with writes in flight on kept-alive connections: each answered or cut, none throws after', {
  timeout: 30_000,
}, async () => {
  const store = await startLocalDynamo({});
  const tables = localTableNames('close');
  const client = createDynamoClient({ region: 'local', endpoint: store.endpoint });
  await ensureTables(client, tables);

  let stop = false;
  let written = 0;
  let refused = 0;
  // Grant records update four indexes each: the most database calls per request dynalite makes.
  const writer = async (n: number) => {
    for (let i = 0; !stop; i++) {
      try {
        await client.send(
          new PutItemCommand({
            TableName: tables.grants,
            Item: {
              id: { S: `g-${n}-${i}` },
              subject: { S: `agent:${n}` },
              requestedAt: { S: new Date().toISOString() },
              sweep: { S: 'due' },
              dueAt: { S: new Date().toISOString() },
              status: { S: 'active' },
              connection: { S: 'shop' },
            },
          }),
        );
        written++;
      } catch {
        refused++;
        if (stop) return;
      }
    }
  };
  const writers = Array.from({ length: 24 }, (_, n) => writer(n));
  await new Promise((resolve) => setTimeout(resolve, 400));
  await store.close();
  stop = true;
  await Promise.all(writers);
  client.destroy();
  // Whatever a cut handler still does runs in the next turns of the event loop.
  await new Promise((resolve) => setTimeout(resolve, 500));

  expect(written).toBeGreaterThan(0);
  expect(refused).toBeGreaterThan(0);
  expect(uncaught).toEqual([]);
});
