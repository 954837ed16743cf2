import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide, emailsFor, linkFor, open } from '../approvals/support.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { editPolicy } from '../support/stack.ts';
import {
  AUTO_WRITE_POLICY,
  adminQuery,
  expectStatementEvents,
  type OpenGrant,
  openGrant,
  query,
  uniqueSchema,
} from './fixtures.ts';

// The demo's unbounded-change guardrail judged by effect: at most 3 rows, and at most half of a table.
const EFFECT_POLICY = editPolicy(
  AUTO_WRITE_POLICY,
  'when: no-where, action: approve,',
  'when: no-where, maxRows: 3, maxFraction: 0.5, action: approve,',
);
// The same bounds, blocking.
const BLOCK_POLICY = editPolicy(
  AUTO_WRITE_POLICY,
  'when: no-where, action: approve,\n      approvers: [oncall@example.com] }',
  'when: no-where, maxRows: 3, action: block }',
);

let stack: TestAirlock;
let blocking: TestAirlock;
const schema = uniqueSchema();
const items = `${schema}.items`;
const small = `${schema}.small`;

beforeAll(async () => {
  [stack, blocking] = await Promise.all([
    startTestAirlock({ policyText: EFFECT_POLICY }),
    startTestAirlock({ policyText: BLOCK_POLICY }),
  ]);
  await adminQuery(`CREATE SCHEMA ${schema}`);
  await adminQuery(`CREATE TABLE ${items} (id int PRIMARY KEY, v int NOT NULL)`);
  await adminQuery(`CREATE TABLE ${small} (id int PRIMARY KEY, v int NOT NULL)`);
});
afterAll(async () => {
  await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await Promise.all([stack.close(), blocking.close()]);
});

/** 20 rows in items, 4 in small, sizes known to the planner; returns nothing. */
async function refill(): Promise<void> {
  await adminQuery(`TRUNCATE ${items}, ${small}`);
  await adminQuery(`INSERT INTO ${items} SELECT g, 0 FROM generate_series(1, 20) AS g`);
  await adminQuery(`INSERT INTO ${small} SELECT g, 0 FROM generate_series(1, 4) AS g`);
  await adminQuery(`ANALYZE ${items}, ${small}`);
}

/** Every row of a table, in order: any change shows. */
const rowsOf = async (table: string) =>
  (await adminQuery<{ all: string }>(`SELECT string_agg(id || ':' || v, ',' ORDER BY id) AS all FROM ${table}`))[0]!
    .all;

const send = (grant: OpenGrant, sql: string, params?: unknown[], on = stack) =>
  query(on, grant.token, { sql, ...(params ? { params } : {}) });

describe('unbounded-change judged by the rows a statement changes', () => {
  const unbounded: Array<[string, string]> = [
    ['a WHERE that matches every row', `UPDATE ${items} SET v = 1 WHERE id = id`],
    ['IS NOT NULL', `DELETE FROM ${items} WHERE id IS NOT NULL`],
    [
      'MERGE … WHEN MATCHED THEN UPDATE',
      `MERGE INTO ${items} t USING ${items} s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v + 1`,
    ],
    [
      'INSERT … SELECT … ON CONFLICT DO UPDATE',
      `INSERT INTO ${items} SELECT id, 5 FROM ${items} ON CONFLICT (id) DO UPDATE SET v = excluded.v`,
    ],
    [
      'a writable CTE',
      `WITH gone AS (DELETE FROM ${items} WHERE v >= 0 RETURNING id) SELECT count(*) FROM gone WHERE id > 0`,
    ],
  ];

  it.each(unbounded)('%s: run in a savepoint, 202 held with the rows measured, nothing changed', async (_, sql) => {
    await refill();
    const grant = await openGrant(stack, 'write');
    const before = await rowsOf(items);
    const response = await send(grant, sql);
    expect(response.status).toBe(202);
    expect(response.body.error).toMatchObject({ code: 'approval_required', guardrail: 'unbounded-change' });
    expect(await rowsOf(items)).toBe(before);
    const [event] = await expectStatementEvents(stack, grant, ['held']);
    expect(event).toMatchObject({ guardrail: 'unbounded-change', approvalId: response.body.approval.id });
    expect(event!.error?.message).toMatch(/changed 20 rows \(more than 3\)/);
  });

  it('a change within the bounds runs at once and is committed', async () => {
    await refill();
    const grant = await openGrant(stack, 'write');
    const response = await send(grant, `UPDATE ${items} SET v = 9 WHERE id IN (1, 2)`);
    expect(response.status).toBe(200);
    expect(response.body.rowCount).toBe(2);
    expect((await rowsOf(items)).split(',').filter((row) => row.endsWith(':9'))).toEqual(['1:9', '2:9']);
    await expectStatementEvents(stack, grant, ['executed']);
  });

  it('more than maxFraction of a table is held though fewer than maxRows rows changed', async () => {
    await refill();
    const grant = await openGrant(stack, 'write');
    const before = await rowsOf(small);
    const response = await send(grant, `DELETE FROM ${small} WHERE id <= 3`);
    expect(response.status).toBe(202);
    expect(await rowsOf(small)).toBe(before);
    const [event] = await expectStatementEvents(stack, grant, ['held']);
    expect(event!.error?.message).toMatch(new RegExp(`changed 3 rows of ${schema}\\.small, 75% of the table`));
    // Half of it is within the bounds.
    expect((await send(grant, `DELETE FROM ${small} WHERE id <= 2`)).status).toBe(200);
    expect(await rowsOf(small)).toBe('3:0,4:0');
  });

  it('in a transaction, a later statement over the bounds rolls back the earlier ones too', async () => {
    await refill();
    const grant = await openGrant(stack, 'write');
    const before = await rowsOf(items);
    const response = await query(stack, grant.token, {
      transaction: [
        { sql: `UPDATE ${items} SET v = 7 WHERE id = 1` },
        { sql: `UPDATE ${items} SET v = 8 WHERE v = 0` },
      ],
    });
    expect(response.status).toBe(202);
    expect(await rowsOf(items)).toBe(before);
    await expectStatementEvents(stack, grant, ['held', 'held']);
  });

  it('approved: the page and email show the rows measured; the exact statement then runs once', async () => {
    await refill();
    const grant = await openGrant(stack, 'write');
    const sql = `UPDATE ${items} SET v = $1 WHERE id = id`;
    const held = await send(grant, sql, [4]);
    expect(held.status).toBe(202);
    const ref = held.body.approval.id as string;
    const link = await linkFor(stack, ref, 'oncall@example.com');
    expect((await open(link)).html).toContain('<dt>Rows it changed (measured, rolled back)</dt><dd>20</dd>');
    const oncall = await stack.token('person:oncall', [], { email: 'oncall@example.com' });
    const listed = await stack.call('GET', '/v1/admin/approvals', { token: oncall });
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    expect(listed.body.approvals.find((a: { id: string }) => a.id === ref).statement).toMatchObject({
      measuredRows: 20,
    });
    // Other parameters are another statement: held anew, not run.
    expect((await send(grant, sql, [5])).status).toBe(202);
    expect((await decide(link, 'approve')).status).toBe(200);
    const ran = await send(grant, sql, [4]);
    expect(ran.status).toBe(200);
    expect(ran.body.rowCount).toBe(20);
    expect(new Set((await rowsOf(items)).split(',').map((row) => row.split(':')[1]))).toEqual(new Set(['4']));
    // Spent: the same statement is held again.
    const again = await send(grant, sql, [4]);
    expect(again.status).toBe(202);
    expect(again.body.approval.id).not.toBe(ref);
    const events = await expectStatementEvents(stack, grant, ['held', 'held', 'executed', 'held']);
    expect(events[2]).toMatchObject({ approvalId: ref, rowCount: 20 });
  });

  it('an approval covers the rows its approvers were shown: re-sent when it would change more, it is held again', async () => {
    await refill();
    const grant = await openGrant(stack, 'write');
    const sql = `UPDATE ${items} SET v = $1 WHERE id = id`;
    const held = await send(grant, sql, [6]);
    expect(held.status).toBe(202);
    const ref = held.body.approval.id as string;
    expect((await decide(await linkFor(stack, ref, 'oncall@example.com'), 'approve')).status).toBe(200);
    // The table grows after the approval: the same statement would now change 30 rows, not the 20 approved.
    await adminQuery(`INSERT INTO ${items} SELECT g, 0 FROM generate_series(21, 30) AS g`);
    const before = await rowsOf(items);
    const again = await send(grant, sql, [6]);
    expect(again.status).toBe(202);
    expect(again.body.approval.id).not.toBe(ref);
    expect(await rowsOf(items)).toBe(before);
  });

  it('the email states the rows measured', async () => {
    await refill();
    const grant = await openGrant(stack, 'write');
    const held = await send(grant, `DELETE FROM ${items} WHERE id > 10`);
    expect(held.status).toBe(202);
    const emails = await emailsFor(stack, held.body.approval.id);
    expect(emails.get('oncall@example.com')!.text).toContain('Rows it changed (measured, rolled back): 10');
  });

  it('a block guardrail refuses a change over its bounds with 403, nothing changed', async () => {
    await refill();
    const grant = await openGrant(blocking, 'write');
    const before = await rowsOf(items);
    const response = await send(grant, `UPDATE ${items} SET v = 1 WHERE id = id`, undefined, blocking);
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: 'statement_blocked', guardrail: 'unbounded-change' });
    expect(response.body.error.message).toMatch(/changed 20 rows \(more than 3\); it was rolled back/);
    expect(await rowsOf(items)).toBe(before);
    await expectStatementEvents(blocking, grant, ['blocked']);
    expect((await send(grant, `UPDATE ${items} SET v = 1 WHERE id <= 3`, undefined, blocking)).status).toBe(200);
  });
});
