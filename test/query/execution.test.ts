import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_POLICY_TEXT, startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { expectStatementEvents, openGrant, query, seededCustomers, withLimits } from './fixtures.ts';

// A read grant whose results are capped at 10 rows and 2 KiB.
let stack: TestAirlock;

beforeAll(async () => {
  stack = await startTestAirlock({
    policyText: withLimits(DEMO_POLICY_TEXT, 'maxRows: 10, maxResultBytes: 2048, statementTimeout: 30s'),
  });
});
afterAll(async () => {
  await stack.close();
});

describe('result limits', () => {
  it('maxRows: SELECT * FROM orders gives 10 rows and truncated: true', async () => {
    const grant = await openGrant(stack);
    const response = await query(stack, grant.token, { sql: 'SELECT * FROM orders ORDER BY id' });
    expect(response.status).toBe(200);
    expect(response.body.columns.map((column: { name: string }) => column.name)).toEqual([
      'id',
      'customer_id',
      'total',
      'status',
      'created_at',
    ]);
    expect(response.body.rows).toHaveLength(10);
    expect(response.body.rows.map((row: unknown[]) => row[0])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(response.body).toMatchObject({ rowCount: 10, truncated: true });
    const [event] = await expectStatementEvents(stack, grant, ['executed']);
    expect(event).toMatchObject({ rowCount: 10, truncated: true });
  });

  it('exactly maxRows rows is not truncated', async () => {
    const grant = await openGrant(stack);
    const response = await query(stack, grant.token, { sql: 'SELECT id FROM orders ORDER BY id LIMIT 10' });
    expect(response.body).toMatchObject({ rowCount: 10, truncated: false });
  });

  it('the byte cap stops a wide result before maxRows', async () => {
    const grant = await openGrant(stack);
    const response = await query(stack, grant.token, {
      sql: "SELECT id, repeat('x', 600) AS pad FROM orders ORDER BY id",
    });
    expect(response.status).toBe(200);
    expect(response.body.truncated).toBe(true);
    expect(response.body.rows.length).toBeGreaterThan(0);
    expect(response.body.rows.length).toBeLessThan(4);
  });
});

describe('statements and parameters', () => {
  it('binds parameters: SELECT name FROM customers WHERE id = $1 with [5]', async () => {
    const grant = await openGrant(stack);
    const response = await query(stack, grant.token, { sql: 'SELECT name FROM customers WHERE id = $1', params: [5] });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      columns: [{ name: 'name', type: 'text', masked: null }],
      rows: [[(await seededCustomers())[4]!.name]],
      rowCount: 1,
      truncated: false,
    });
    const [event] = await expectStatementEvents(stack, grant, ['executed']);
    expect(event).toMatchObject({ normalizedSql: 'SELECT name FROM customers WHERE id = $1', rowCount: 1 });
  });

  it('never interpolates a parameter: SQL in a text parameter stays a value', async () => {
    const grant = await openGrant(stack);
    const response = await query(stack, grant.token, {
      sql: 'SELECT count(*)::int AS n FROM customers WHERE name = $1',
      params: ["x' OR '1'='1"],
    });
    expect(response.status).toBe(200);
    expect(response.body.rows).toEqual([[0]]);
  });

  it('a Postgres error → 400 db_error with sqlstate, recorded as failed', async () => {
    const grant = await openGrant(stack);
    const missing = await query(stack, grant.token, { sql: 'SELECT * FROM no_such_table' });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ code: 'db_error', sqlstate: '42P01' });
    expect(missing.body.error.message).toContain('no_such_table');
    const zero = await query(stack, grant.token, { sql: 'SELECT id / 0 FROM orders' });
    expect(zero.status).toBe(400);
    expect(zero.body.error).toMatchObject({ code: 'db_error', sqlstate: '22012' });
    const events = await expectStatementEvents(stack, grant, ['failed', 'failed']);
    expect(events.map((event) => event.error?.sqlstate)).toEqual(['42P01', '22012']);
  });

  it('a syntax error → 400 sql_syntax with its 1-based position, nothing run', async () => {
    const grant = await openGrant(stack);
    const response = await query(stack, grant.token, { sql: 'SELECT id FROM orders WHERE id = = 1' });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'sql_syntax', position: 34 });
    const [event] = await expectStatementEvents(stack, grant, ['blocked']);
    expect(event!.error).toMatchObject({ code: 'sql_syntax', position: 34 });
  });

  it('a read transaction returns {results: [...]}, one event per statement', async () => {
    const grant = await openGrant(stack);
    const response = await query(stack, grant.token, {
      transaction: [
        { sql: 'SELECT count(*)::int AS n FROM orders' },
        { sql: 'SELECT name FROM customers WHERE id = $1', params: [5] },
      ],
    });
    expect(response.status).toBe(200);
    expect(response.body.results.map((result: { rows: unknown[][] }) => result.rows)).toEqual([
      [[5000]],
      [[(await seededCustomers())[4]!.name]],
    ]);
    await expectStatementEvents(stack, grant, ['executed', 'executed']);
  });

  it('a refused statement in a transaction refuses all of it, one event per statement', async () => {
    const grant = await openGrant(stack);
    const response = await query(stack, grant.token, {
      transaction: [{ sql: 'SELECT 1' }, { sql: 'DELETE FROM orders WHERE id = 1' }],
    });
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: 'statement_blocked', guardrail: 'access:read' });
    const events = await expectStatementEvents(stack, grant, ['blocked', 'blocked']);
    expect(events[1]).toMatchObject({ guardrail: 'access:read' });
  });
});
