import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import {
  AUTO_WRITE_POLICY,
  adminQuery,
  BLOCK_UNBOUNDED_POLICY,
  expectStatementEvents,
  openGrant,
  ordersChecksum,
  query,
  rawValuesIn,
  uniqueSchema,
} from './fixtures.ts';

// Write grants without approval; guardrails as in the demo (unbounded-change approves, no-ddl blocks),
// or with unbounded changes blocked outright.
let approving: TestAirlock;
let blocking: TestAirlock;
const schema = uniqueSchema();
const notes = `${schema}.notes`;

beforeAll(async () => {
  [approving, blocking] = await Promise.all([
    startTestAirlock({ policyText: AUTO_WRITE_POLICY }),
    startTestAirlock({ policyText: BLOCK_UNBOUNDED_POLICY }),
  ]);
  await adminQuery(`CREATE SCHEMA ${schema}`);
  await adminQuery(`CREATE TABLE ${notes} (id serial PRIMARY KEY, body text NOT NULL)`);
});
afterAll(async () => {
  await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await Promise.all([approving.close(), blocking.close()]);
});

const marker = () => `note-${randomBytes(6).toString('hex')}`;
const notesWith = async (body: string) =>
  (await adminQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${notes} WHERE body = $1`, [body]))[0]!.n;

describe('policy guardrails on a write grant', () => {
  it('DELETE FROM orders (no WHERE) under an approve guardrail → 202 approval_required, held, nothing deleted', async () => {
    const grant = await openGrant(approving, { access: 'write' });
    const before = await ordersChecksum();
    const response = await query(approving, grant.token, { sql: 'DELETE FROM orders' });
    expect(response.status).toBe(202);
    expect(response.body.error).toMatchObject({ code: 'approval_required', guardrail: 'unbounded-change' });
    expect(response.body.approval).toEqual({ id: expect.any(String), status: 'pending' });
    expect(await ordersChecksum()).toEqual(before);
    const [event] = await expectStatementEvents(approving, grant, ['held']);
    expect(event).toMatchObject({
      guardrail: 'unbounded-change',
      approvalId: response.body.approval.id,
      normalizedSql: 'DELETE FROM orders',
    });
  });

  it('DELETE FROM orders (no WHERE) under a block guardrail → 403 naming it, nothing deleted', async () => {
    const grant = await openGrant(blocking, { access: 'write' });
    const before = await ordersChecksum();
    const response = await query(blocking, grant.token, { sql: 'DELETE FROM orders' });
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: 'statement_blocked', guardrail: 'no-unbounded-change' });
    expect(response.body.error.message).toContain('no-unbounded-change');
    expect(await ordersChecksum()).toEqual(before);
    const [event] = await expectStatementEvents(blocking, grant, ['blocked']);
    expect(event).toMatchObject({ guardrail: 'no-unbounded-change' });
  });

  it('a WHERE that filters nothing (WHERE 1 = 1) is still unbounded → 403', async () => {
    const grant = await openGrant(blocking, { access: 'write' });
    const before = await ordersChecksum();
    const response = await query(blocking, grant.token, { sql: "UPDATE orders SET status = 'refunded' WHERE 1 = 1" });
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: 'statement_blocked', guardrail: 'no-unbounded-change' });
    expect(await ordersChecksum()).toEqual(before);
    await expectStatementEvents(blocking, grant, ['blocked']);
  });

  it('one held statement holds the whole transaction: nothing of it runs', async () => {
    const grant = await openGrant(approving, { access: 'write' });
    const body = marker();
    const before = await ordersChecksum();
    const response = await query(approving, grant.token, {
      transaction: [{ sql: `INSERT INTO ${notes} (body) VALUES ($1)`, params: [body] }, { sql: 'DELETE FROM orders' }],
    });
    expect(response.status).toBe(202);
    expect(response.body.approval.status).toBe('pending');
    expect(await notesWith(body)).toBe(0);
    expect(await ordersChecksum()).toEqual(before);
    await expectStatementEvents(approving, grant, ['held', 'held']);
  });
});

describe('transactions', () => {
  it('run atomically: an insert followed by a failing statement leaves nothing behind', async () => {
    const grant = await openGrant(approving, { access: 'write' });
    const body = marker();
    const response = await query(approving, grant.token, {
      transaction: [{ sql: `INSERT INTO ${notes} (body) VALUES ($1)`, params: [body] }, { sql: 'SELECT 1 / 0' }],
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'db_error', sqlstate: '22012' });
    expect(await notesWith(body)).toBe(0);
    const events = await expectStatementEvents(approving, grant, ['failed', 'failed']);
    expect(events[1]!.error).toMatchObject({ code: 'db_error', sqlstate: '22012' });
  });

  it('return one result per statement; later statements see earlier ones', async () => {
    const grant = await openGrant(approving, { access: 'write' });
    const body = marker();
    const response = await query(approving, grant.token, {
      transaction: [
        { sql: `INSERT INTO ${notes} (body) VALUES ($1) RETURNING body`, params: [body] },
        { sql: `SELECT count(*)::int AS n FROM ${notes} WHERE body = $1`, params: [body] },
      ],
    });
    expect(response.status).toBe(200);
    expect(response.body.results).toHaveLength(2);
    expect(response.body.results[0]).toMatchObject({
      rows: [[body]],
      rowCount: 1,
      truncated: false,
      auditId: expect.any(String),
    });
    expect(response.body.results[1]).toMatchObject({
      columns: [{ name: 'n', type: 'int4', masked: null }],
      rows: [[1]],
      rowCount: 1,
    });
    expect(await notesWith(body)).toBe(1);
    const events = await expectStatementEvents(approving, grant, ['executed', 'executed']);
    expect(events.map((event) => event.id)).toEqual(
      response.body.results.map((result: { auditId: string }) => result.auditId),
    );
  });

  it('a write grant’s RETURNING is masked like a SELECT', async () => {
    const grant = await openGrant(approving, { access: 'write' });
    const response = await query(approving, grant.token, {
      sql: 'UPDATE customers SET name = name WHERE id <= 50 RETURNING id, email, lower(ssn) AS s',
    });
    expect(response.status).toBe(200);
    expect(response.body.columns.map((column: { masked: string | null }) => column.masked)).toEqual([
      null,
      'email',
      'redact',
    ]);
    expect(await rawValuesIn(JSON.stringify(response.body))).toEqual([]);
    await expectStatementEvents(approving, grant, ['executed']);
  });
});

describe('cursors and prepared statements are refused unless the profile allows them', () => {
  // Rows read through them keep their masking (Postgres masks them); these statements are closed by default
  // because they keep state in a pooled session (docs/hostile-agents.md).
  it('DECLARE then FETCH on a write grant → 403 builtin:cursor naming allow, nothing run', async () => {
    const grant = await openGrant(approving, { access: 'write' });
    const response = await query(approving, grant.token, {
      transaction: [
        { sql: "DECLARE c NO SCROLL CURSOR FOR SELECT id, phone || '' AS tel, email FROM customers ORDER BY id" },
        { sql: 'FETCH 200 FROM c' },
      ],
    });
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: 'statement_blocked', guardrail: 'builtin:cursor' });
    expect(response.body.error.message).toContain('"cursors" in allow');
    expect(await rawValuesIn(JSON.stringify(response.body))).toEqual([]);
    await expectStatementEvents(approving, grant, ['blocked', 'blocked']);
  });

  it('PREPARE then EXECUTE on a write grant → 403 builtin:prepared-statement naming allow, nothing run', async () => {
    const grant = await openGrant(approving, { access: 'write' });
    const name = `p_${randomBytes(4).toString('hex')}`;
    const response = await query(approving, grant.token, {
      transaction: [
        { sql: `PREPARE ${name} AS SELECT card_number || '' AS pan FROM customers` },
        { sql: `EXECUTE ${name}` },
      ],
    });
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: 'statement_blocked', guardrail: 'builtin:prepared-statement' });
    expect(response.body.error.message).toContain('"prepared-statements" in allow');
    await expectStatementEvents(approving, grant, ['blocked', 'blocked']);
  });
});
