// The hot-path client against a real store (dynalite, and Amazon's DynamoDB Local in its project): the same
// items as the SDK, conditions that fail as the SDK's do, and every other failure closed as `unavailable`.

import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoAuditLog } from '../../shared/audit/index.ts';
import { type AirlockError, isAirlockError } from '../../shared/errors.ts';
import type { GrantRecord } from '../../shared/grants/model.ts';
import { createGrantStore } from '../../shared/grants/store.ts';
import { newId } from '../../shared/ids.ts';
import { isConditionFailure, storeCall, toItem } from '../../shared/store/dynamo.ts';
import {
  createDynamoHotPath,
  DynamoCallError,
  type DynamoHotPath,
  type HotPathOperation,
  hotPathFor,
} from '../../shared/store/hot-path.ts';
import { withHotPath } from '../../shared/store/hot-path-routing.ts';
import type { TableNames } from '../../shared/store/tables.ts';
import { freePort } from '../global-setup.ts';
import { dynamo, freshTables, infra, store as storeKind } from '../support/infra.ts';

let tables: TableNames;
let hot: DynamoHotPath;
const sdk = dynamo();

beforeAll(async () => {
  tables = await freshTables();
  hot = await hotPathFor(sdk);
});

afterAll(() => hot.close());

/** Every attribute type DynamoDB has, nested. */
function richItem(id: string) {
  return {
    id: { S: id },
    count: { N: '42' },
    ratio: { N: '-0.125' },
    ok: { BOOL: true },
    nothing: { NULL: true },
    unicode: { S: 'zoë ✓ 日本' },
    tags: { SS: ['a', 'b'] },
    scores: { NS: ['1', '2.5'] },
    blob: { B: new Uint8Array([0, 1, 2, 254, 255]) },
    blobs: { BS: [new Uint8Array([1]), new Uint8Array([2, 3])] },
    nested: {
      M: {
        list: { L: [{ S: 'x' }, { N: '7' }, { M: { deep: { B: new Uint8Array([9, 9]) } } }, { NULL: true }] },
        empty: { M: {} },
      },
    },
  };
}

async function sdkGet(table: string, id: string) {
  return (await sdk.send(new GetItemCommand({ TableName: table, Key: { id: { S: id } }, ConsistentRead: true }))).Item;
}

/** A hot path that counts what it carried, to prove the stores' calls went through it. */
function counted(inner: DynamoHotPath): { hot: DynamoHotPath; calls: Record<HotPathOperation, number> } {
  const calls: Record<HotPathOperation, number> = { GetItem: 0, PutItem: 0, UpdateItem: 0 };
  return {
    calls,
    hot: {
      getItem: (input) => {
        calls.GetItem++;
        return inner.getItem(input);
      },
      putItem: (input) => {
        calls.PutItem++;
        return inner.putItem(input);
      },
      updateItem: (input) => {
        calls.UpdateItem++;
        return inner.updateItem(input);
      },
      close: () => inner.close(),
    },
  };
}

function grantRecord(): GrantRecord {
  const now = new Date();
  const expiresAt = new Date(now.getTime() + 600_000).toISOString();
  return {
    id: newId(),
    status: 'active',
    subject: 'agent:hot-path',
    issuer: 'http://127.0.0.1/dev',
    email: null,
    connection: 'shop',
    access: 'read',
    reason: 'hot path',
    rule: 'agents-read',
    ttlSeconds: 600,
    requestedAt: now.toISOString(),
    activatedAt: now.toISOString(),
    expiresAt,
    approvalDeadline: null,
    approval: null,
    decisions: [{ by: 'policy', decision: 'activated', at: now.toISOString() }],
    role: 'airlock_hot',
    target: { host: '127.0.0.1', port: 5432, database: 'shop' },
    sweep: 'active',
    dueAt: expiresAt,
    ttl: Math.floor(now.getTime() / 1000) + 86400,
  };
}

describe('items, as the SDK has them', () => {
  it('reads what the SDK wrote, attribute for attribute, binary included', async () => {
    const id = newId();
    await sdk.send(new PutItemCommand({ TableName: tables.grants, Item: richItem(id) }));
    const output = await hot.getItem({ TableName: tables.grants, Key: { id: { S: id } }, ConsistentRead: true });
    expect(output.Item).toEqual(await sdkGet(tables.grants, id));
    expect(output.Item).toEqual(richItem(id));
    expect(output.Item?.blob?.B).toBeInstanceOf(Uint8Array);
    expect(output.$metadata).toMatchObject({ httpStatusCode: 200, attempts: 1 });
  });

  it('writes what the SDK reads back unchanged', async () => {
    const id = newId();
    await hot.putItem({ TableName: tables.grants, Item: richItem(id) });
    expect(await sdkGet(tables.grants, id)).toEqual(richItem(id));
  });

  it('a missing item is no Item, not an error', async () => {
    const output = await hot.getItem({ TableName: tables.grants, Key: { id: { S: newId() } }, ConsistentRead: true });
    expect(output.Item).toBeUndefined();
  });

  it('UpdateItem returns the same attributes as the SDK for the same update', async () => {
    const [viaHot, viaSdk] = [newId(), newId()];
    for (const id of [viaHot, viaSdk]) await hot.putItem({ TableName: tables.grants, Item: richItem(id) });
    const update = (id: string) => ({
      TableName: tables.grants,
      Key: { id: { S: id } },
      UpdateExpression: 'SET #head = :head, #count = #count + :one REMOVE #blob',
      ConditionExpression: 'attribute_exists(id)',
      ExpressionAttributeNames: { '#head': 'auditHead', '#count': 'count', '#blob': 'blob' },
      ExpressionAttributeValues: { ':head': { M: { seq: { N: '3' }, hash: { S: 'abc' } } }, ':one': { N: '1' } },
      ReturnValues: 'ALL_NEW' as const,
    });
    const fromHot = await hot.updateItem(update(viaHot));
    const fromSdk = await sdk.send(new UpdateItemCommand(update(viaSdk)));
    expect({ ...fromHot.Attributes, id: undefined }).toEqual({ ...fromSdk.Attributes, id: undefined });
    expect(fromHot.Attributes?.count).toEqual({ N: '43' });
    expect(fromHot.Attributes?.blob).toBeUndefined();
  });
});

describe('conditions fail as the SDK’s do', () => {
  it('PutItem with attribute_not_exists on an existing key: a condition failure, the item as it was', async () => {
    const id = newId();
    await hot.putItem({ TableName: tables.grants, Item: richItem(id) });
    const error = await hot
      .putItem({
        TableName: tables.grants,
        Item: { id: { S: id }, other: { S: 'overwrite' } },
        ConditionExpression: 'attribute_not_exists(id)',
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DynamoCallError);
    expect((error as DynamoCallError).name).toBe('ConditionalCheckFailedException');
    expect((error as DynamoCallError).$metadata).toMatchObject({ httpStatusCode: 400, attempts: 1 });
    expect(isConditionFailure(error)).toBe(true);
    expect(await sdkGet(tables.grants, id)).toEqual(richItem(id));
  });

  it('storeCall passes a lost condition through, so callers can branch on it', async () => {
    const id = newId();
    await hot.putItem({ TableName: tables.grants, Item: richItem(id) });
    const error = await storeCall('the grants store', () =>
      hot.putItem({ TableName: tables.grants, Item: richItem(id), ConditionExpression: 'attribute_not_exists(id)' }),
    ).catch((caught: unknown) => caught);
    expect(isConditionFailure(error)).toBe(true);
    expect(isAirlockError(error)).toBe(false);
  });

  it('a monotonic head update refuses to go backwards', async () => {
    const id = newId();
    await hot.putItem({ TableName: tables.grants, Item: { id: { S: id } } });
    const advance = (seq: number) =>
      hot.updateItem({
        TableName: tables.grants,
        Key: { id: { S: id } },
        UpdateExpression: 'SET #head = :head',
        ConditionExpression: 'attribute_exists(id) AND (attribute_not_exists(#head) OR #head.#seq < :seq)',
        ExpressionAttributeNames: { '#head': 'auditHead', '#seq': 'seq' },
        ExpressionAttributeValues: { ':head': { M: { seq: { N: String(seq) } } }, ':seq': { N: String(seq) } },
        ReturnValues: 'UPDATED_NEW',
      });
    expect((await advance(2)).Attributes).toEqual({ auditHead: { M: { seq: { N: '2' } } } });
    expect(isConditionFailure(await advance(1).catch((caught: unknown) => caught))).toBe(true);
    expect(isConditionFailure(await advance(2).catch((caught: unknown) => caught))).toBe(true);
    expect((await sdkGet(tables.grants, id))?.auditHead).toEqual({ M: { seq: { N: '2' } } });
  });
});

describe('every other failure fails closed', () => {
  it('a refused request (no such table) is not retried and becomes `unavailable` through storeCall', async () => {
    const call = () => hot.getItem({ TableName: `missing-${newId()}`, Key: { id: { S: 'x' } } });
    const error = await call().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DynamoCallError);
    expect((error as DynamoCallError).name).toBe('ResourceNotFoundException');
    expect((error as DynamoCallError).$fault).toBe('client');
    expect((error as DynamoCallError).$metadata.attempts).toBe(1);
    const wrapped = await storeCall('the grants store', call).catch((caught: unknown) => caught);
    expect(isAirlockError(wrapped, 'unavailable')).toBe(true);
  });

  it('an invalid item (a key of the wrong type) is a ValidationException, `unavailable` through storeCall', async () => {
    const error = await storeCall('the grants store', () =>
      hot.putItem({ TableName: tables.grants, Item: { id: { N: '1' } } }),
    ).catch((caught: unknown) => caught);
    expect(isAirlockError(error, 'unavailable')).toBe(true);
    expect(((error as AirlockError).cause as DynamoCallError).name).toBe('ValidationException');
  });

  it('a store nobody listens on: retried, then `unavailable`', async () => {
    const down = createDynamoHotPath({
      endpoint: `http://127.0.0.1:${await freePort()}`,
      region: 'local',
      signer: await sdk.config.signer(),
      maxAttempts: 3,
      backoffBaseMs: 1,
    });
    const error = await storeCall('the grants store', () =>
      down.getItem({ TableName: tables.grants, Key: { id: { S: 'x' } } }),
    ).catch((caught: unknown) => caught);
    down.close();
    expect(isAirlockError(error, 'unavailable')).toBe(true);
    expect(((error as AirlockError).cause as { code?: string }).code).toBe('ECONNREFUSED');
  });
});

describe('the stores on the hot path', () => {
  it('the grant store: create, get, transition and its conditions, each single-item call on the hot path', async () => {
    const { hot: carried, calls } = counted(hot);
    const grants = createGrantStore({ client: withHotPath(sdk, carried), table: tables.grants });
    const record = grantRecord();
    await grants.create(record);
    expect(await grants.get(record.id)).toEqual(record);
    await expect(grants.create(record)).rejects.toMatchObject({ code: 'conflict' });
    const revoked = await grants.transition(record.id, 'active', 'revoked', { sweep: undefined, dueAt: undefined });
    expect(revoked).toMatchObject({ id: record.id, status: 'revoked' });
    expect(revoked?.sweep).toBeUndefined();
    expect(await grants.transition(record.id, 'active', 'expired', {})).toBeNull();
    expect(calls).toEqual({ GetItem: 1, PutItem: 2, UpdateItem: 2 });
    // Queries still go through the SDK.
    expect((await grants.listBySubject('agent:hot-path')).map((grant) => grant.id)).toContain(record.id);
  });

  it('the audit log: two writers racing on one grant append a complete chain, every put on the hot path', async () => {
    const { hot: carried, calls } = counted(hot);
    const client = withHotPath(sdk, carried);
    const [first, second] = [0, 1].map(() => createDynamoAuditLog({ client, table: tables.audit }));
    const grantId = newId();
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 ? first! : second!).append({
          grantId,
          type: 'grant.expired',
          subject: 'agent:hot-path',
          details: { previous: `writer-${i}` },
        }),
      ),
    );
    const events = await first!.list(grantId);
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    for (const [index, event] of events.entries()) {
      expect(event.prevHash).toBe(index === 0 ? events[0]!.prevHash : events[index - 1]!.hash);
    }
    expect(calls.PutItem).toBeGreaterThanOrEqual(12);
    const stored = await sdk.send(
      new GetItemCommand({ TableName: tables.audit, Key: toItem({ grantId, seq: 1 }), ConsistentRead: true }),
    );
    expect(stored.Item?.hash).toEqual({ S: events[0]!.hash });
  });
});

/** Forwards to the real store, but the first PutItem's answer never comes back: the store has written it. */
async function losingFirstPutAnswer(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const upstream = new URL(infra().dynamoEndpoint);
  let lost = false;
  const server: Server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const forward = httpRequest(
        { hostname: upstream.hostname, port: upstream.port, method: 'POST', path: '/', headers: incoming.headers },
        (answer) => {
          const body: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => body.push(chunk));
          answer.on('end', () => {
            if (!lost && String(incoming.headers['x-amz-target']).endsWith('.PutItem')) {
              lost = true;
              outgoing.socket?.destroy();
              return;
            }
            outgoing.writeHead(answer.statusCode ?? 500, answer.headers).end(Buffer.concat(body));
          });
        },
      );
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('an answer lost after the store wrote', () => {
  it.each(['the hot path', 'the SDK alone'])(
    '%s: the audit put is retried, fails its condition, and the event is appended again (twice, never lost)',
    async (via) => {
      const relay = await losingFirstPutAnswer();
      const client = new DynamoDBClient({
        region: 'local',
        endpoint: relay.endpoint,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        maxAttempts: 2,
      });
      const carried = await hotPathFor(client);
      const audit = createDynamoAuditLog({
        client: via === 'the hot path' ? withHotPath(client, carried) : client,
        table: tables.audit,
      });
      const grantId = newId();
      const event = await audit.append({
        grantId,
        type: 'grant.expired',
        subject: 'agent:hot-path',
        details: { previous: 'once' },
      });
      carried.close();
      client.destroy();
      await relay.close();
      const events = await createDynamoAuditLog({ client: sdk, table: tables.audit }).list(grantId);
      expect(event.seq).toBe(2);
      expect(events.map((stored) => [stored.seq, (stored as { previous?: string }).previous])).toEqual([
        [1, 'once'],
        [2, 'once'],
      ]);
      expect(events[1]!.prevHash).toBe(events[0]!.hash);
    },
  );
});

describe.runIf(storeKind() === 'dynamodb-local')('Amazon’s DynamoDB Local only', () => {
  it('a failed condition returns the old item when asked, decoded like the SDK’s exception', async () => {
    const id = newId();
    await hot.putItem({ TableName: tables.grants, Item: richItem(id) });
    const request = {
      TableName: tables.grants,
      Item: { id: { S: id } },
      ConditionExpression: 'attribute_not_exists(id)',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    };
    const fromHot = (await hot.putItem(request).catch((caught: unknown) => caught)) as DynamoCallError;
    const fromSdk = (await sdk.send(new PutItemCommand(request)).catch((caught: unknown) => caught)) as {
      Item?: unknown;
    };
    expect(fromHot.name).toBe('ConditionalCheckFailedException');
    expect(fromHot.Item).toEqual(fromSdk.Item);
    expect(fromHot.Item).toEqual(richItem(id));
  });
});
