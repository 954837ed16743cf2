// Edges that answered wrongly (issue 12, item 10), against the real stack: each is a clear 4xx in the
// API's error shape, audited, and the broker keeps serving afterwards.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenGrant, openGrant, query, statementEvents } from '../query/fixtures.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';

let stack: TestAirlock;
let grant: OpenGrant;

beforeAll(async () => {
  stack = await startTestAirlock();
  grant = await openGrant(stack);
});
afterAll(async () => {
  await stack?.close();
});

const sumOf = (count: number) => Array.from({ length: count }, (_, i) => `$${i + 1}::int`).join(' + ');

async function stillServing(): Promise<void> {
  expect((await stack.call('GET', '/healthz')).status).toBe(200);
  const after = await query(stack, grant.token, {
    sql: 'SELECT count(*)::int AS n FROM orders WHERE id <= $1',
    params: [3],
  });
  expect(after.status).toBe(200);
  expect(after.body.rows).toEqual([[3]]);
}

describe('edges that are now a clear 4xx', () => {
  it('deeply nested SQL: 400 statement_too_complex, not sql_syntax "Maximum call stack size exceeded"', async () => {
    const sql = `SELECT ${'(SELECT '.repeat(3000)}1${')'.repeat(3000)}`;
    const response = await query(stack, grant.token, { sql });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('statement_too_complex');
    expect(response.body.error.message).not.toMatch(/call stack/i);
    const events = await statementEvents(stack, grant);
    expect(events.at(-1)).toMatchObject({ decision: 'blocked', error: { code: 'statement_too_complex' } });
    await stillServing();
  });

  it('a thousand parameters summed ($1::int + … + $1000::int): 400 statement_too_complex, not a 500', async () => {
    const params = Array.from({ length: 1000 }, (_, i) => i);
    const response = await query(stack, grant.token, { sql: `SELECT ${sumOf(1000)}`, params });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('statement_too_complex');
    await stillServing();
  });

  it('more than 1,000 parameters: 400 invalid_request naming the limit', async () => {
    const params = Array.from({ length: 1001 }, () => 1);
    const response = await query(stack, grant.token, { sql: 'SELECT $1::int', params });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'invalid_request' });
    expect(response.body.error.message).toMatch(/params: .*<=1000 items/);
  });

  it('a 5,000-deep JSON parameter: 400 invalid_request naming the depth limit, not 503', async () => {
    const body = `{"sql":"SELECT $1::jsonb","params":[${'['.repeat(5000)}1${']'.repeat(5000)}]}`;
    const response = await stack.call('POST', '/v1/query', { token: grant.token, body });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_request');
    expect(response.body.error.message).toMatch(/params\[0\]: a parameter may nest at most 32 levels/);
    await stillServing();
  });
});
