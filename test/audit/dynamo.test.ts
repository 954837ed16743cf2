// The DynamoDB audit log against real dynalite: order, concurrency across processes, refusals, outages.
// Must never mock the store; an outage is a client pointed at a closed port.

import { beforeEach, describe, expect, it } from 'vitest';
import { createDynamoAuditLog, GENESIS_HASH, verifyChain } from '../../shared/audit/index.ts';
import { isAirlockError } from '../../shared/errors.ts';
import { createDynamoClient } from '../../shared/store/dynamo.ts';
import { dynamo, uniqueName } from '../support/infra.ts';
import { auditLog, freshAuditTable, type RawAppend, type RawAuditLog, recordCommands } from './fixtures.ts';

let table: string;
let grantId: string;

beforeEach(async () => {
  table = await freshAuditTable();
  grantId = uniqueName('grant');
});

const statement = (i: number): RawAppend => ({
  grantId,
  type: 'statement',
  subject: 'agent:demo',
  details: {
    fingerprint: `fp-${i}`,
    normalizedSql: 'SELECT $1',
    decision: 'executed',
    rowCount: i,
    durationMs: 1,
    maskedColumns: [],
    error: undefined,
  },
});

async function expectRefused(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(isAirlockError(error), String(error)).toBe(true);
  expect(error).toMatchObject({ code });
}

describe('append and list', () => {
  it('appends in order, links each event to the previous and reads them back as written', async () => {
    const NOW = new Date('2030-01-01T12:00:00Z');
    const log = auditLog(table, dynamo(), () => NOW);
    const first = await log.append({
      grantId,
      type: 'grant.requested',
      subject: 'agent:demo',
      details: { reason: 'debug' },
    });
    expect(first).toMatchObject({
      id: `${grantId}:1`,
      grantId,
      seq: 1,
      at: '2030-01-01T12:00:00.000Z',
      type: 'grant.requested',
      subject: 'agent:demo',
      reason: 'debug',
      prevHash: GENESIS_HASH,
    });
    const second = await log.append(statement(2));
    expect(second).toMatchObject({
      seq: 2,
      prevHash: first.hash,
      fingerprint: 'fp-2',
      decision: 'executed',
      rowCount: 2,
      maskedColumns: [],
    });
    expect('error' in second).toBe(false);
    const third = await log.append({ grantId, type: 'grant.revoked', subject: 'agent:demo' });

    const listed = await log.list(grantId);
    expect(listed).toEqual([first, second, third]);
    expect(verifyChain(listed)).toBe(true);
    expect(await log.list('no-such-grant')).toEqual([]);
  });

  it('keeps grants apart: each grant has its own chain from seq 1', async () => {
    const log = auditLog(table);
    await log.append(statement(1));
    const elsewhere = await log.append({ grantId: `${grantId}-b`, type: 'grant.requested', subject: 'agent:other' });
    expect(elsewhere).toMatchObject({ seq: 1, prevHash: GENESIS_HASH });
    expect((await log.list(grantId)).length).toBe(1);
  });

  it('lists every page of a long chain', async () => {
    const log = auditLog(table);
    const big = 'x'.repeat(150_000);
    for (let i = 1; i <= 9; i++) await log.append({ ...statement(i), details: { normalizedSql: big, rowCount: i } });
    const listed = await log.list(grantId);
    expect(listed.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(verifyChain(listed)).toBe(true);
  });

  it('counts a chain’s statement events across pages, and no other event', async () => {
    const log = auditLog(table);
    await log.append({ grantId, type: 'grant.requested', subject: 'agent:demo' });
    const big = 'x'.repeat(150_000);
    for (let i = 1; i <= 9; i++) await log.append({ ...statement(i), details: { normalizedSql: big, rowCount: i } });
    await log.append({ ...statement(1), grantId: `${grantId}-b` });
    expect(await log.countStatements(grantId)).toBe(9);
    expect(await log.countStatements(`${grantId}-b`)).toBe(1);
    expect(await log.countStatements(`${grantId}-none`)).toBe(0);
  });

  it('stores exactly what it hashed: lone surrogates become U+FFFD, the caller’s object is not kept', async () => {
    const log = auditLog(table);
    const details: Record<string, unknown> = { normalizedSql: 'SELECT \ud800', nested: { list: [1, 'a'] } };
    const event = await log.append({ grantId, type: 'statement', subject: 'agent:\udfff', details });
    (details.nested as { list: unknown[] }).list.push('later');
    expect(event.normalizedSql).toBe('SELECT \ufffd');
    expect(event.subject).toBe('agent:\ufffd');
    expect(event.nested).toEqual({ list: [1, 'a'] });
    const listed = await log.list(grantId);
    expect(listed).toEqual([event]);
    expect(verifyChain(listed)).toBe(true);
  });
});

describe('concurrency', () => {
  it('30 concurrent appends from two processes give seq 1..30 and a verified chain', async () => {
    const a = auditLog(table, dynamo());
    const b = auditLog(table, dynamo());
    const written = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).append(statement(i))));
    expect(written.map((event) => event.seq).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    const listed = await a.list(grantId);
    expect(listed.map((event) => event.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(new Set(listed.map((event) => event.rowCount)).size).toBe(30);
    expect(verifyChain(listed)).toBe(true);
  });

  it('serializes appends in one process: no lost conditional puts', async () => {
    const client = dynamo();
    const sent = recordCommands(client);
    const log = auditLog(table, client);
    await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(statement(i))));
    expect(verifyChain(await log.list(grantId))).toBe(true);
    expect(sent.filter((command) => command.name === 'PutItemCommand').length).toBe(20);
    expect(sent.filter((command) => command.name === 'QueryCommand').length).toBe(2);
  });

  it('skips the head read after its own write, and recovers when another process wrote in between', async () => {
    const client = dynamo();
    const sent = recordCommands(client);
    const a = auditLog(table, client);
    const b = auditLog(table, dynamo());
    await a.append(statement(1));
    await a.append(statement(2));
    expect(sent.map((command) => command.name)).toEqual(['QueryCommand', 'PutItemCommand', 'PutItemCommand']);
    await b.append(statement(3));
    const fourth = await a.append(statement(4));
    expect(fourth.seq).toBe(4);
    expect(sent.slice(3).map((command) => command.name)).toEqual(['PutItemCommand', 'QueryCommand', 'PutItemCommand']);
    expect(verifyChain(await a.list(grantId))).toBe(true);
  });

  it('only ever writes with PutItem under attribute_not_exists, and reads the head consistently', async () => {
    const client = dynamo();
    const sent = recordCommands(client);
    const a = auditLog(table, client);
    const b = auditLog(table, client);
    await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).append(statement(i))));
    await a.list(grantId);
    expect(new Set(sent.map((command) => command.name))).toEqual(new Set(['QueryCommand', 'PutItemCommand']));
    for (const command of sent) {
      if (command.name === 'PutItemCommand')
        expect(command.input.ConditionExpression).toBe('attribute_not_exists(grantId)');
      else expect(command.input.ConsistentRead).toBe(true);
    }
  });
});

describe('refusals', () => {
  it.each(['id', 'grantId', 'seq', 'at', 'type', 'subject', 'prevHash', 'hash', 'tmonth', 'tkey'])(
    'refuses a detail that sets the core field %s, and writes nothing',
    async (field) => {
      const log = auditLog(table);
      await expectRefused(
        log.append({ ...statement(1), details: { decision: 'executed', [field]: 'forged' } }),
        'internal',
      );
      await expectRefused(log.append({ ...statement(1), details: { [field]: undefined } }), 'internal');
      expect(await log.list(grantId)).toEqual([]);
    },
  );

  it('refuses details that would not read back as hashed, and writes nothing', async () => {
    const log = auditLog(table);
    const bad: unknown[] = [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      2 ** 60,
      10n,
      new Date(0),
      new Set([1]),
      () => 1,
      [1, undefined],
      new Uint8Array(2),
    ];
    for (const value of bad) await expectRefused(log.append({ ...statement(1), details: { value } }), 'internal');
    expect(await log.list(grantId)).toEqual([]);
  });

  it('refuses a missing grant id, subject or unknown type', async () => {
    const log = auditLog(table);
    await expectRefused(log.append({ ...statement(1), grantId: '' }), 'internal');
    await expectRefused(log.append({ ...statement(1), grantId: 'g\ud800' }), 'internal');
    await expectRefused(log.append({ ...statement(1), subject: '' }), 'internal');
    await expectRefused(log.append({ ...statement(1), type: 'statement.executed' as RawAppend['type'] }), 'internal');
  });

  it('a refused append does not block the next one for the same grant', async () => {
    const log = auditLog(table);
    const [refused, ok] = await Promise.allSettled([
      log.append({ ...statement(1), details: { hash: 'x' } }),
      log.append(statement(2)),
    ]);
    expect(refused.status).toBe('rejected');
    expect(ok).toMatchObject({ status: 'fulfilled', value: { seq: 1 } });
  });
});

describe('store down', () => {
  const down = () => createDynamoClient({ region: 'local', endpoint: 'http://127.0.0.1:1' });

  it('append fails closed with unavailable', async () => {
    await expectRefused(
      (createDynamoAuditLog({ client: down(), table }) as unknown as RawAuditLog).append(statement(1)),
      'unavailable',
    );
  });

  it('list fails with unavailable', async () => {
    await expectRefused(createDynamoAuditLog({ client: down(), table }).list(grantId), 'unavailable');
  });

  it('a missing table is unavailable too, and a failed put does not leave a stale head behind', async () => {
    await expectRefused(auditLog('no-such-table').append(statement(1)), 'unavailable');
    const client = dynamo();
    const log = auditLog(table, client);
    await log.append(statement(1));
    await auditLog(table).append(statement(2));
    const sent = recordCommands(client);
    expect((await log.append(statement(3))).seq).toBe(3);
    expect(sent.map((command) => command.name)).toEqual(['PutItemCommand', 'QueryCommand', 'PutItemCommand']);
  });
});
