import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assembleAirlock } from '../../shared/airlock/index.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { adminClient, catalogChange, dynamo, secrets, wire } from '../support/infra.ts';
import {
  codeOn,
  decide,
  emailsFor,
  expectPageHeaders,
  grantOf,
  grantRef,
  linkFor,
  open,
  outbox,
  requestWrite,
  submit,
} from './support.ts';

let stack: TestAirlock;
const schemas: string[] = [];

beforeAll(async () => {
  stack = await startTestAirlock();
});
afterAll(async () => {
  await stack.airlock.sweep();
  await stack.close();
  const admin = await adminClient();
  try {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.end();
  }
});

async function admin<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  return catalogChange(async () => {
    const client = await adminClient();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  });
}

const publicOrders = async () =>
  (
    await admin<{ n: number; digest: string }>(
      `SELECT count(*)::int AS n, md5(string_agg(concat_ws(':', id, customer_id, total, status), ',' ORDER BY id)) AS digest FROM public.orders`,
    )
  )[0]!;

interface WriteGrant {
  id: string;
  token: string;
  identity: string;
  schema: string;
  scratchCount(): Promise<number>;
  refill(): Promise<void>;
}

/**
 * A write grant approved through its email link. The shared demo database must survive these tests, so the
 * grant's role resolves `orders` to a scratch copy (search_path); the statement text stays `DELETE FROM orders`.
 */
async function approvedWriteGrant(): Promise<WriteGrant> {
  const { grant, identity } = await requestWrite(stack, { reason: 'clean up test orders' });
  expect((await decide(await linkFor(stack, grantRef(grant.id), 'oncall@example.com'), 'approve')).status).toBe(200);
  const { token } = await grantOf(stack, grant.id, identity);
  const schema = `appr_${randomBytes(4).toString('hex')}`;
  schemas.push(schema);
  await admin(`CREATE SCHEMA "${schema}"`);
  await admin(`CREATE TABLE "${schema}".orders (id int, status text)`);
  await admin(`ALTER ROLE "${stack.roleOf(grant.id)}" SET search_path = "${schema}"`);
  // Airlock's writer reaches a table created after the grant only at its next upkeep: this one is the role's own.
  await admin(`GRANT USAGE ON SCHEMA "${schema}" TO "${stack.roleOf(grant.id)}"`);
  await admin(`GRANT SELECT, INSERT, UPDATE, DELETE ON "${schema}".orders TO "${stack.roleOf(grant.id)}"`);
  const refill = async () => {
    await admin(`TRUNCATE "${schema}".orders`);
    await admin(`INSERT INTO "${schema}".orders SELECT g, 'open' FROM generate_series(1, 3) AS g`);
  };
  await refill();
  return {
    id: grant.id,
    token: token!,
    identity,
    schema,
    refill,
    scratchCount: async () => (await admin<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".orders`))[0]!.n,
  };
}

const send = (grant: WriteGrant, sql: string, params?: unknown[]) =>
  stack.call('POST', '/v1/query', { token: grant.token, body: { sql, ...(params ? { params } : {}) } });

async function statementEvents(grant: WriteGrant) {
  const response = await stack.call('GET', `/v1/grants/${grant.id}/audit`, { token: grant.identity });
  expect(response.body.verified).toBe(true);
  return response.body.events as Array<Record<string, unknown> & { type: string }>;
}

describe('a statement held by a guardrail', () => {
  it('DELETE FROM orders (no WHERE) on an approved write grant: 202, nothing deleted, oncall@ emailed; approved → runs exactly once', async () => {
    const grant = await approvedWriteGrant();
    const before = await publicOrders();

    const held = await send(grant, 'DELETE FROM orders');
    expect(held.status).toBe(202);
    expect(held.body.error.code).toBe('approval_required');
    expect(held.body.approval).toEqual({ id: expect.stringMatching(/^stmt-[0-9a-f]{40}\.1$/), status: 'pending' });
    const ref = held.body.approval.id as string;
    expect(await grant.scratchCount()).toBe(3);
    expect(await publicOrders()).toEqual(before);

    const emails = await emailsFor(stack, ref);
    expect([...emails.keys()]).toEqual(['oncall@example.com']);
    const email = emails.get('oncall@example.com')!;
    expect(email.subject).toMatch(/approve a DELETE on shop/);
    expect(email.text).toContain('held by guardrail "unbounded-change"');
    expect(email.text).toContain('Statement: "DELETE FROM orders"');

    // Sent again while pending: the same hold, no new email.
    const mailCount = (await outbox(stack)).length;
    const again = await send(grant, 'DELETE FROM orders');
    expect(again.status).toBe(202);
    expect(again.body.approval.id).toBe(ref);
    expect((await outbox(stack)).length).toBe(mailCount);

    const link = await linkFor(stack, ref, 'oncall@example.com');
    const page = await open(link);
    expect(page.status).toBe(200);
    expectPageHeaders(page);
    expect(page.html).toContain('Approve a DELETE statement on shop?');
    expect(page.html).toContain('unbounded-change');
    expect(page.html).toContain('<pre>DELETE FROM orders</pre>');
    expect(page.html).toContain('<dt>Tables</dt><dd>orders</dd>');
    expect(page.html).toContain('clean up test orders');
    const approved = await submit(link, { decision: 'approve', confirm: codeOn(page) });
    expect(approved.status, approved.html).toBe(200);
    expect(approved.html).toContain('run this exact statement once');
    expect(await grant.scratchCount()).toBe(3);

    const ran = await send(grant, 'DELETE FROM orders');
    expect(ran.status, JSON.stringify(ran.body)).toBe(200);
    expect(ran.body.rowCount).toBe(3);
    expect(await grant.scratchCount()).toBe(0);

    await grant.refill();
    const third = await send(grant, 'DELETE FROM orders');
    expect(third.status).toBe(202);
    expect(third.body.approval.id).toMatch(/\.2$/);
    expect(third.body.approval.id).not.toBe(ref);
    expect(await grant.scratchCount()).toBe(3);
    expect((await open(link)).status).toBe(410);
    expect(await publicOrders()).toEqual(before);

    const events = await statementEvents(grant);
    const trail = events.filter((e) => e.type === 'statement' || e.type.startsWith('statement.'));
    expect(trail.map((e) => `${e.type}${e.decision ? `:${e.decision}` : ''}`)).toEqual([
      'statement:held',
      'statement:held',
      'statement.approved',
      'statement:executed',
      'statement:held',
    ]);
    expect(trail[2]).toMatchObject({
      approvalId: ref,
      by: 'oncall@example.com',
      guardrail: 'unbounded-change',
      normalizedSql: 'DELETE FROM orders',
    });
    expect(trail[3]).toMatchObject({ approvalId: ref, rowCount: 3 });
  });

  it('binds to the exact text and parameters: other params or a changed statement are held again', async () => {
    const grant = await approvedWriteGrant();
    const sql = 'UPDATE orders SET status = $1';
    const held = await send(grant, sql, ['closed']);
    expect(held.status).toBe(202);
    expect((await decide(await linkFor(stack, held.body.approval.id, 'oncall@example.com'), 'approve')).status).toBe(
      200,
    );

    const otherParams = await send(grant, sql, ['deleted']);
    expect(otherParams.status).toBe(202);
    expect(otherParams.body.approval.id).not.toBe(held.body.approval.id);
    const otherText = await send(grant, 'UPDATE  orders SET status = $1', ['closed']);
    expect(otherText.status).toBe(202);
    expect(otherText.body.approval.id).not.toBe(held.body.approval.id);
    const otherStatement = await send(grant, "UPDATE orders SET status = 'closed'");
    expect(otherStatement.status).toBe(202);
    expect(
      (await admin<{ n: number }>(`SELECT count(*)::int AS n FROM "${grant.schema}".orders WHERE status = 'open'`))[0]!
        .n,
    ).toBe(3);

    const exact = await send(grant, sql, ['closed']);
    expect(exact.status).toBe(200);
    expect(exact.body.rowCount).toBe(3);
  });

  it('a denied statement does not run; sending it again opens a new hold', async () => {
    const grant = await approvedWriteGrant();
    const held = await send(grant, 'DELETE FROM orders');
    const denied = await decide(
      await linkFor(stack, held.body.approval.id, 'oncall@example.com'),
      'deny',
      'use a WHERE',
    );
    expect(denied.status).toBe(200);
    expect(denied.html).toContain('Denied');
    const again = await send(grant, 'DELETE FROM orders');
    expect(again.status).toBe(202);
    expect(again.body.approval.id).toMatch(/\.2$/);
    expect(await grant.scratchCount()).toBe(3);
    const events = await statementEvents(grant);
    expect(events.find((e) => e.type === 'statement.denied')).toMatchObject({
      by: 'oncall@example.com',
      reason: 'use a WHERE',
      approvalId: held.body.approval.id,
    });
    expect((await emailsFor(stack, again.body.approval.id)).size).toBe(1);
  });

  it('a revoked grant cannot run its approved statement, and its pending links are 410', async () => {
    const grant = await approvedWriteGrant();
    const held = await send(grant, 'DELETE FROM orders');
    expect((await decide(await linkFor(stack, held.body.approval.id, 'oncall@example.com'), 'approve')).status).toBe(
      200,
    );
    const pending = await send(grant, 'UPDATE orders SET status = $1', ['x']);
    expect(pending.status).toBe(202);
    const pendingLink = await linkFor(stack, pending.body.approval.id, 'oncall@example.com');

    expect((await stack.call('DELETE', `/v1/grants/${grant.id}`, { token: grant.identity })).status).toBe(200);
    const after = await send(grant, 'DELETE FROM orders');
    expect(after.status).toBe(403);
    expect(after.body.error.code).toBe('grant_revoked');
    expect(await grant.scratchCount()).toBe(3);
    const page = await open(pendingLink);
    expect(page.status).toBe(410);
    expectPageHeaders(page);
    expect((await statementEvents(grant)).filter((e) => e.decision === 'executed')).toHaveLength(0);
  });

  it('an approval is not spent when another statement of its transaction is held or blocked', async () => {
    const grant = await approvedWriteGrant();
    const held = await send(grant, 'DELETE FROM orders');
    expect((await decide(await linkFor(stack, held.body.approval.id, 'oncall@example.com'), 'approve')).status).toBe(
      200,
    );
    const transaction = (second: { sql: string; params?: unknown[] }) =>
      stack.call('POST', '/v1/query', {
        token: grant.token,
        body: { transaction: [{ sql: 'DELETE FROM orders' }, second] },
      });
    const withHeld = await transaction({ sql: 'UPDATE orders SET status = $1', params: ['x'] });
    expect(withHeld.status).toBe(202);
    expect(withHeld.body.approval.id).not.toBe(held.body.approval.id);
    const withBlocked = await transaction({ sql: 'CREATE TABLE orders_copy (id int)' });
    expect(withBlocked.status).toBe(403);
    expect(withBlocked.body.error).toMatchObject({ code: 'statement_blocked', guardrail: 'no-ddl' });
    expect(await grant.scratchCount()).toBe(3);

    const alone = await send(grant, 'DELETE FROM orders');
    expect(alone.status).toBe(200);
    expect(await grant.scratchCount()).toBe(0);
    const executed = (await statementEvents(grant)).filter((e) => e.type === 'statement' && e.decision === 'executed');
    expect(executed).toEqual([expect.objectContaining({ approvalId: held.body.approval.id })]);
  });

  it('approved once, sent three times at once: exactly one runs, the others are held again', async () => {
    const grant = await approvedWriteGrant();
    const held = await send(grant, 'DELETE FROM orders');
    expect((await decide(await linkFor(stack, held.body.approval.id, 'oncall@example.com'), 'approve')).status).toBe(
      200,
    );
    const results = await Promise.all([1, 2, 3].map(() => send(grant, 'DELETE FROM orders')));
    expect(results.map((r) => r.status).sort()).toEqual([200, 202, 202]);
    const executed = (await statementEvents(grant)).filter((e) => e.type === 'statement' && e.decision === 'executed');
    expect(executed).toHaveLength(1);
    expect(await grant.scratchCount()).toBe(0);
  });

  it('the requester cannot approve its own statement: no link is sent to a requester who is also the approver', async () => {
    const { grant, identity } = await requestWrite(stack, { email: 'oncall@example.com' });
    expect((await decide(await linkFor(stack, grantRef(grant.id), 'dba@example.com'), 'approve')).status).toBe(200);
    const { token } = await grantOf(stack, grant.id, identity);
    const held = await stack.call('POST', '/v1/query', { token, body: { sql: 'DELETE FROM orders' } });
    expect(held.status).toBe(202);
    expect((await emailsFor(stack, held.body.approval.id)).size).toBe(0);
  });

  it('a query-only process (no signing key) records the hold unsent; the API side’s sweep signs and mails it', async () => {
    const grant = await approvedWriteGrant();
    const queryOnly = await assembleAirlock({
      policy: stack.policy,
      secrets: secrets(),
      dynamo: dynamo(),
      tables: stack.tables,
      wire: wire(),
      parts: { api: false, query: true },
      now: stack.clock.now,
    });
    try {
      const mailBefore = (await outbox(stack)).length;
      const held = await queryOnly.app.request(`${stack.baseUrl}/v1/query`, {
        method: 'POST',
        headers: { authorization: `Bearer ${grant.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sql: 'DELETE FROM orders' }),
      });
      expect(held.status).toBe(202);
      const ref = ((await held.json()) as { approval: { id: string } }).approval.id;
      expect((await outbox(stack)).length).toBe(mailBefore);
      expect(await queryOnly.app.request(`${stack.baseUrl}/.well-known/jwks.json`)).toMatchObject({ status: 404 });

      await stack.airlock.sweep();
      const link = await linkFor(stack, ref, 'oncall@example.com');
      expect((await decide(link, 'approve')).status).toBe(200);
      expect((await send(grant, 'DELETE FROM orders')).status).toBe(200);
      expect(await grant.scratchCount()).toBe(0);
    } finally {
      await queryOnly.close();
    }
  });
});
