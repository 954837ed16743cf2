import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import {
  adminQuery,
  expectStatementEvents,
  openGrant,
  ordersChecksum,
  query,
  statementEvents,
  uniqueSchema,
} from './fixtures.ts';

let stack: TestAirlock;
const schema = uniqueSchema();

beforeAll(async () => {
  stack = await startTestAirlock();
});
afterAll(async () => {
  await stack.close();
});

/** Sends one statement on a fresh read grant; returns the response, the grant and whether orders stayed as they were. */
async function onReadGrant(body: unknown) {
  const grant = await openGrant(stack);
  const before = await ordersChecksum();
  const response = await query(stack, grant.token, body);
  expect(await ordersChecksum()).toEqual(before);
  return { response, grant };
}

describe('a read grant refuses writes before they reach Postgres', () => {
  it.each([
    ['INSERT', "INSERT INTO orders (customer_id, total, status) VALUES (1, 1, 'sneaky')"],
    ['UPDATE', "UPDATE orders SET status = 'refunded' WHERE id = 1"],
    ['DELETE with WHERE', 'DELETE FROM orders WHERE id = 1'],
    ['DELETE without WHERE', 'DELETE FROM orders'],
    ['a writable CTE', 'WITH gone AS (DELETE FROM orders WHERE id = 2 RETURNING id) SELECT count(*) FROM gone'],
    ['SELECT … FOR UPDATE', 'SELECT * FROM orders WHERE id = 3 FOR UPDATE'],
    ['CREATE', `CREATE TABLE ${schema}_t (id int)`],
  ])('%s → 403 statement_blocked by access:read, data unchanged', async (_case, sql) => {
    const { response, grant } = await onReadGrant({ sql });
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: 'statement_blocked', guardrail: 'access:read' });
    const [event] = await expectStatementEvents(stack, grant, ['blocked']);
    expect(event).toMatchObject({ guardrail: 'access:read', rowCount: null });
    expect(await adminQuery(`SELECT 1 FROM pg_class WHERE relname = $1`, [`${schema}_t`])).toEqual([]);
  });

  it('COMMIT; DROP TABLE orders → 400 multiple_statements, orders intact', async () => {
    const { response, grant } = await onReadGrant({ sql: 'COMMIT; DROP TABLE orders' });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'multiple_statements' });
    const [event] = await expectStatementEvents(stack, grant, ['blocked']);
    expect(event!.error).toMatchObject({ code: 'multiple_statements' });
  });
});

describe('nothing changes the session role', () => {
  it.each([
    ['SET ROLE', 'SET ROLE postgres', 'builtin:privilege'],
    ['SET LOCAL ROLE', 'SET LOCAL ROLE pg_write_all_data', 'builtin:privilege'],
    ['RESET ROLE', 'RESET ROLE', 'builtin:privilege'],
    ['SET SESSION AUTHORIZATION', 'SET SESSION AUTHORIZATION postgres', 'builtin:privilege'],
    ["set_config('role', …)", "SELECT set_config('role', 'postgres', false)", 'builtin:role'],
    [
      "set_config('session_authorization', …)",
      "SELECT set_config('session_authorization', 'postgres', true)",
      'builtin:role',
    ],
  ])('%s → 403 naming the built-in guardrail; the grant still runs as its own role', async (_case, sql, guardrail) => {
    const { response, grant } = await onReadGrant({ sql });
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: 'statement_blocked', guardrail });
    const who = await query(stack, grant.token, { sql: 'SELECT current_user::text AS u, session_user::text AS s' });
    expect(who.status).toBe(200);
    expect(who.body.rows[0][0]).toMatch(/^airlock_/);
    expect(who.body.rows[0][1]).toBe(who.body.rows[0][0]);
    await expectStatementEvents(stack, grant, ['blocked', 'executed']);
  });
});

describe('server files are out of reach', () => {
  it.each<[string, string, unknown[] | undefined]>([
    ['pg_read_file as a value', "SELECT pg_read_file('/etc/passwd')", undefined],
    ['pg_read_file in FROM', "SELECT * FROM pg_read_file('/etc/passwd')", undefined],
    ['pg_read_file through a parameter', 'SELECT pg_read_file($1)', ['/etc/passwd']],
    ['pg_read_binary_file, schema-qualified', "SELECT pg_catalog.pg_read_binary_file('/etc/passwd')", undefined],
    ['pg_ls_dir', "SELECT * FROM pg_ls_dir('.')", undefined],
  ])('%s → 403 builtin:function, nothing read', async (_case, sql, params) => {
    const { response, grant } = await onReadGrant({ sql, ...(params ? { params } : {}) });
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: 'statement_blocked', guardrail: 'builtin:function' });
    expect(JSON.stringify(response.body)).not.toContain('root:');
    expect(response.body.rows).toBeUndefined();
    await expectStatementEvents(stack, grant, ['blocked']);
  });
});

describe('only a live grant token opens /v1/query', () => {
  let grant: Awaited<ReturnType<typeof openGrant>>;
  beforeAll(async () => {
    grant = await openGrant(stack);
  });

  it.each([
    ['no token', async () => undefined],
    ['an identity token', async () => stack.token('agent:someone')],
    ['the requester’s own identity token', async () => grant.identity],
    ['garbage', async () => 'not-a-token'],
    ['a JWT-shaped garbage', async () => 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'],
    [
      'a grant token with a forged signature',
      async () => `${grant.token.slice(0, -6)}${grant.token.slice(-6) === 'AAAAAA' ? 'BBBBBB' : 'AAAAAA'}`,
    ],
    [
      'a grant token with its payload changed',
      async () => {
        const [header, payload, signature] = grant.token.split('.');
        const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
        return [
          header,
          Buffer.from(JSON.stringify({ ...claims, sub: 'agent:other' })).toString('base64url'),
          signature,
        ].join('.');
      },
    ],
  ])('%s → 401 unauthenticated, nothing run or audited', async (_case, makeToken) => {
    const before = (await statementEvents(stack, grant)).length;
    const response = await query(stack, await makeToken(), { sql: 'SELECT 1' });
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('unauthenticated');
    expect(await statementEvents(stack, grant)).toHaveLength(before);
  });

  it('a bearer header that is not a bearer token → 401', async () => {
    const response = await stack.call('POST', '/v1/query', {
      body: { sql: 'SELECT 1' },
      headers: { authorization: `Basic ${grant.token}` },
    });
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('unauthenticated');
  });
});

describe('the request body', () => {
  it('over 256 KiB → 413 too_large, nothing run', async () => {
    const grant = await openGrant(stack);
    const response = await query(stack, grant.token, { sql: `SELECT 1 -- ${'x'.repeat(256 * 1024)}` });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe('too_large');
    expect(await statementEvents(stack, grant)).toEqual([]);
  });

  it('a wrong content type → 400 invalid_request', async () => {
    const grant = await openGrant(stack);
    const response = await stack.call('POST', '/v1/query', {
      token: grant.token,
      body: JSON.stringify({ sql: 'SELECT 1' }),
      headers: { 'content-type': 'text/plain' },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_request');
    expect(await statementEvents(stack, grant)).toEqual([]);
  });

  it.each([
    ['not JSON', '{"sql": '],
    ['sql not a string', { sql: 42 }],
    ['an unknown field', { sql: 'SELECT 1', role: 'postgres' }],
    ['both sql and transaction', { sql: 'SELECT 1', transaction: [{ sql: 'SELECT 2' }] }],
    ['an empty transaction', { transaction: [] }],
    ['params not an array', { sql: 'SELECT $1', params: { a: 1 } }],
  ])('%s → 400 invalid_request', async (_case, body) => {
    const grant = await openGrant(stack);
    const response = await query(stack, grant.token, body);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_request');
    expect(await statementEvents(stack, grant)).toEqual([]);
  });
});
