import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dynamo } from '../support/infra.ts';
import { expectStatementEvents, type OpenGrant, openGrant, query } from './fixtures.ts';

let stack: TestAirlock;

beforeAll(async () => {
  stack = await startTestAirlock();
});
afterAll(async () => {
  await stack.close();
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function expectWorks(grant: OpenGrant) {
  const response = await query(stack, grant.token, { sql: 'SELECT count(*)::int AS n FROM orders' });
  expect(response.status).toBe(200);
  expect(response.body.rows).toEqual([[5000]]);
}

describe('the window end', () => {
  it.each([
    // Within the grant token's few seconds of clock tolerance: only the grant record says it is over.
    ['just past the window (the grant record decides)', 1],
    ['long past the window (the token has expired too)', 120],
  ])('%s → 401 grant_expired', async (_case, pastSeconds) => {
    const grant = await openGrant(stack, { ttl: 60 });
    await expectWorks(grant);
    const secondsLeft = (Date.parse(grant.expiresAt) - stack.clock.now().getTime()) / 1000;
    stack.clock.advance(secondsLeft + pastSeconds);
    try {
      const response = await query(stack, grant.token, { sql: 'SELECT 1' });
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe('grant_expired');
    } finally {
      stack.clock.advance(-(secondsLeft + pastSeconds));
    }
    // The late attempt ran nothing and is on the grant's record.
    const [, late] = await expectStatementEvents(stack, grant, ['executed', 'blocked']);
    expect(late!.error).toMatchObject({ code: 'grant_expired' });
  });

  it('a real short window: works until its end, then 401 grant_expired', async () => {
    const grant = await openGrant(stack, { ttl: 2 });
    await expectWorks(grant);
    await sleep(Math.max(0, Date.parse(grant.expiresAt) - Date.now()) + 150);
    const response = await query(stack, grant.token, { sql: 'SELECT 1' });
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('grant_expired');
    const [, late] = await expectStatementEvents(stack, grant, ['executed', 'blocked']);
    expect(late!.error).toMatchObject({ code: 'grant_expired' });
  });

  it('Postgres itself refuses a statement that would start after the window, whatever Airlock’s clock says', async () => {
    const grant = await openGrant(stack, { ttl: 2 });
    // Airlock's clock lags Postgres's by a minute: every check in this process (and the session pool's own
    // timer) still sees an open window once it has ended; the session opened now stays in the pool.
    stack.clock.advance(-60);
    try {
      await expectWorks(grant);
      await sleep(Math.max(0, Date.parse(grant.expiresAt) - Date.now()) + 200);
      const response = await query(stack, grant.token, { sql: 'SELECT count(*) FROM customers' });
      expect(response.status).toBe(401);
      expect(response.body.error).toMatchObject({
        code: 'grant_expired',
        message: 'the grant window ended before the statement could start',
      });
    } finally {
      stack.clock.advance(60);
    }
    const [, late] = await expectStatementEvents(stack, grant, ['executed', 'failed']);
    expect(late!.error).toMatchObject({ code: 'grant_expired' });
  });

  it('cuts off a statement still running at the window end and records it as failed', async () => {
    const grant = await openGrant(stack, { ttl: 3 });
    const windowLeftMs = Date.parse(grant.expiresAt) - Date.now();
    const started = Date.now();
    const response = await query(stack, grant.token, { sql: 'SELECT pg_sleep(10)' });
    const tookMs = Date.now() - started;
    expect(tookMs).toBeLessThan(windowLeftMs + 1500);
    expect(tookMs).toBeLessThan(4500);
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('grant_expired');
    const [event] = await expectStatementEvents(stack, grant, ['failed']);
    // Cancelled by the statement's timeout (57014) or, on Postgres 17+, the transaction's (25P04): both are the window's end.
    expect(event!.error).toMatchObject({ code: 'grant_expired' });
    expect(['57014', '25P04']).toContain(event!.error!.sqlstate);
  });
});

describe('revocation', () => {
  it('takes effect on the very next request: 403 grant_revoked', async () => {
    const grant = await openGrant(stack);
    await expectWorks(grant);
    const revoked = await stack.call('DELETE', `/v1/grants/${grant.id}`, { token: grant.identity });
    expect(revoked.status).toBe(200);
    const response = await query(stack, grant.token, { sql: 'SELECT 1' });
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe('grant_revoked');
    const [, late] = await expectStatementEvents(stack, grant, ['executed', 'blocked']);
    expect(late!.error).toMatchObject({ code: 'grant_revoked' });
  });

  it('is read from the store on every request, not remembered (revoked by another process)', async () => {
    const grant = await openGrant(stack);
    await expectWorks(grant);
    // What another API instance's revoke leaves in the store; this process hears nothing of it.
    await dynamo().send(
      new UpdateItemCommand({
        TableName: stack.tables.grants,
        Key: { id: { S: grant.id } },
        UpdateExpression: 'SET #status = :revoked',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':revoked': { S: 'revoked' } },
      }),
    );
    const response = await query(stack, grant.token, { sql: 'SELECT 1' });
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe('grant_revoked');
    const [, late] = await expectStatementEvents(stack, grant, ['executed', 'blocked']);
    expect(late!.error).toMatchObject({ code: 'grant_revoked' });
  });

  it('cuts off a running statement: 403 grant_revoked, recorded as failed', async () => {
    const grant = await openGrant(stack);
    const started = Date.now();
    const running = query(stack, grant.token, { sql: 'SELECT pg_sleep(20)' });
    await sleep(700);
    expect((await stack.call('DELETE', `/v1/grants/${grant.id}`, { token: grant.identity })).status).toBe(200);
    const response = await running;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe('grant_revoked');
    const [event] = await expectStatementEvents(stack, grant, ['failed']);
    expect(event!.error).toMatchObject({ code: 'grant_revoked' });
  });
});
