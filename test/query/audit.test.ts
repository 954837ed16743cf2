import { randomBytes } from 'node:crypto';
import {
  DeleteItemCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dynamo } from '../support/infra.ts';
import {
  AUTO_WRITE_POLICY,
  adminQuery,
  auditTrail,
  expectStatementEvents,
  openGrant,
  ordersChecksum,
  query,
  seededCustomers,
  uniqueSchema,
} from './fixtures.ts';

let stack: TestAirlock;

beforeAll(async () => {
  stack = await startTestAirlock();
});
afterAll(async () => {
  await stack.close();
});

describe('statement events', () => {
  it('carry fingerprint and normalized SQL, never a literal of the statement', async () => {
    const grant = await openGrant(stack);
    const [, , third, fourth] = await seededCustomers();
    const secrets = [third!.email, third!.ssn, fourth!.email, fourth!.card_number, fourth!.ssn];
    const sent = [
      { sql: `SELECT name FROM customers WHERE email = '${third!.email}'`, status: 200 },
      { sql: `SELECT name FROM customers WHERE email = '${third!.email}' '${third!.ssn}'`, status: 400 },
      { sql: `SELECT '${fourth!.card_number}'::int`, status: 400 },
      { sql: `SELECT id FROM customers WHERE ssn = E'${fourth!.ssn}' /* ${fourth!.email} */ FOR UPDATE`, status: 403 },
    ];
    for (const { sql, status } of sent) expect((await query(stack, grant.token, { sql })).status).toBe(status);

    const events = await expectStatementEvents(stack, grant, ['executed', 'blocked', 'failed', 'blocked']);
    // Postgres compares the masked email (masking views), so the raw address matches no row.
    expect(events[0]).toMatchObject({ normalizedSql: 'SELECT name FROM customers WHERE email = $1', rowCount: 0 });
    expect(events[1]!.error).toMatchObject({ code: 'sql_syntax' });
    expect(events[2]!.error).toMatchObject({ code: 'db_error', sqlstate: '22003' });
    expect(events[3]).toMatchObject({
      guardrail: 'access:read',
      normalizedSql: 'SELECT id FROM customers WHERE ssn = $1 FOR UPDATE',
    });
    // Statements that differ only in literals share a fingerprint.
    await query(stack, grant.token, { sql: `SELECT name FROM customers WHERE email = 'someone@else.example'` });
    const again = await expectStatementEvents(stack, grant, ['executed', 'blocked', 'failed', 'blocked', 'executed']);
    expect(again[4]!.fingerprint).toBe(events[0]!.fingerprint);

    const text = JSON.stringify(await auditTrail(stack, grant));
    for (const secret of [...secrets, 'someone@else.example']) expect(text).not.toContain(secret);
  });
});

describe('the hash chain', () => {
  it('verifies until an event is changed in the store, then says verified: false', async () => {
    const grant = await openGrant(stack);
    expect((await query(stack, grant.token, { sql: 'SELECT count(*) FROM orders' })).status).toBe(200);
    expect((await query(stack, grant.token, { sql: 'DELETE FROM orders' })).status).toBe(403);
    const events = await expectStatementEvents(stack, grant, ['executed', 'blocked']);
    expect((await auditTrail(stack, grant)).verified).toBe(true);

    await dynamo().send(
      new UpdateItemCommand({
        TableName: stack.tables.audit,
        Key: { grantId: { S: grant.id }, seq: { N: String(events[1]!.seq) } },
        UpdateExpression: 'SET decision = :executed',
        ExpressionAttributeValues: { ':executed': { S: 'executed' } },
      }),
    );
    const trail = await auditTrail(stack, grant);
    expect(trail.verified).toBe(false);
    expect(trail.events.filter((event) => event.type === 'statement').map((event) => event.decision)).toEqual([
      'executed',
      'executed',
    ]);
  });

  it('says verified: false when an event is removed from the middle', async () => {
    const grant = await openGrant(stack);
    expect((await query(stack, grant.token, { sql: 'SELECT 1' })).status).toBe(200);
    expect((await query(stack, grant.token, { sql: 'SELECT 2' })).status).toBe(200);
    const events = await expectStatementEvents(stack, grant, ['executed', 'executed']);
    await dynamo().send(
      new DeleteItemCommand({
        TableName: stack.tables.audit,
        Key: { grantId: { S: grant.id }, seq: { N: String(events[0]!.seq) } },
      }),
    );
    expect((await auditTrail(stack, grant)).verified).toBe(false);
  });
});

describe('with the audit store gone', () => {
  let broken: TestAirlock;
  const schema = uniqueSchema();

  beforeAll(async () => {
    broken = await startTestAirlock({ policyText: AUTO_WRITE_POLICY });
    await adminQuery(`CREATE SCHEMA ${schema}`);
    await adminQuery(`CREATE TABLE ${schema}.notes (id serial PRIMARY KEY, body text NOT NULL)`);
  });
  afterAll(async () => {
    await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await broken.close();
  });

  it('a query answers 503 unavailable and its statement leaves nothing behind', async () => {
    const grant = await openGrant(broken, { access: 'write' });
    const body = `note-${randomBytes(6).toString('hex')}`;
    const insert = { sql: `INSERT INTO ${schema}.notes (body) VALUES ($1) RETURNING id`, params: [body] };
    const warm = await query(broken, grant.token, { sql: `SELECT count(*)::int FROM ${schema}.notes` });
    expect(warm.status).toBe(200);

    await dynamo().send(new DeleteTableCommand({ TableName: broken.tables.audit }));
    await expect(dynamo().send(new DescribeTableCommand({ TableName: broken.tables.audit }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });

    const written = await query(broken, grant.token, insert);
    expect(written.status).toBe(503);
    expect(written.body.error.code).toBe('unavailable');
    expect(await adminQuery(`SELECT id FROM ${schema}.notes WHERE body = $1`, [body])).toEqual([]);

    const read = await query(broken, grant.token, { sql: 'SELECT id, name FROM customers ORDER BY id LIMIT 5' });
    expect(read.status).toBe(503);
    expect(read.body.rows).toBeUndefined();

    const before = await ordersChecksum();
    const refused = await query(broken, grant.token, { sql: 'DROP TABLE orders' });
    expect(refused.status).toBe(503);
    expect(await ordersChecksum()).toEqual(before);
  });
});
