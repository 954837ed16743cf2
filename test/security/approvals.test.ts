// Races on approval links, over real HTTP: the same link or several approvers deciding at once, and a
// decision racing the approval deadline and the sweeper. Exactly one decision stands, and the approver's
// answer, the grant, its role and its audit trail always agree.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auditTypes,
  codeOn,
  grantOf,
  grantRef,
  linkFor,
  open,
  type Page,
  requestWrite,
  submit,
} from '../approvals/support.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { withAdmin } from './support.ts';

let stack: TestAirlock;
beforeAll(async () => {
  stack = await startTestAirlock();
});
afterAll(async () => {
  await stack?.airlock.sweep();
  await stack?.close();
});

const roleExists = (grantId: string) =>
  withAdmin(
    async (admin) =>
      (await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [stack.roleOf(grantId)])).rows.length === 1,
  );

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The link and confirmation code `approver` got for a fresh write request. */
async function pendingWrite(approvers: string[] = ['oncall@example.com']) {
  const { grant, identity } = await requestWrite(stack, { reason: 'adversarial suite: approval races' });
  const links = new Map<string, { link: string; code: string }>();
  for (const approver of approvers) {
    const link = await linkFor(stack, grantRef(grant.id), approver);
    links.set(approver, { link, code: codeOn(await open(link)) });
  }
  return { grant, identity, links };
}

/** The grant is active with exactly one approval and one activation, its role exists and its token runs SQL. */
async function expectActiveOnce(grantId: string, identity: string, approver: string) {
  const after = await grantOf(stack, grantId, identity);
  expect(after.grant.status).toBe('active');
  expect(after.grant.decisions.map((d) => [d.by, d.decision])).toEqual([
    [approver, 'approved'],
    ['airlock', 'activated'],
  ]);
  expect(await roleExists(grantId)).toBe(true);
  const ran = await stack.call('POST', '/v1/query', { token: after.token, body: { sql: 'SELECT 1 AS one' } });
  expect(ran.status).toBe(200);
  const types = await auditTypes(stack, grantId, identity);
  expect(types.filter((type) => type === 'grant.approved')).toHaveLength(1);
  expect(types.filter((type) => type === 'grant.activated')).toHaveLength(1);
}

const statuses = (pages: Page[]) => pages.map((page) => page.status).sort();

describe('concurrent decisions', () => {
  it('the same link posted eight times at once: one approval, seven 410s, one role', async () => {
    const { grant, identity, links } = await pendingWrite();
    const { link, code } = links.get('oncall@example.com')!;
    const pages = await Promise.all(
      Array.from({ length: 8 }, () => submit(link, { decision: 'approve', confirm: code })),
    );
    expect(statuses(pages)).toEqual([200, 410, 410, 410, 410, 410, 410, 410]);
    expect(pages.find((page) => page.status === 200)!.html).toContain('Approved');
    await expectActiveOnce(grant.id, identity, 'oncall@example.com');
  });

  it('both approvers at once, one approval required: one wins, the other is 410', async () => {
    const { grant, identity, links } = await pendingWrite(['oncall@example.com', 'dba@example.com']);
    const order = [...links.entries()];
    const pages = await Promise.all(
      order.map(([, { link, code }]) => submit(link, { decision: 'approve', confirm: code })),
    );
    expect(statuses(pages)).toEqual([200, 410]);
    const winner = order[pages.findIndex((page) => page.status === 200)]![0];
    await expectActiveOnce(grant.id, identity, winner);
  });

  it('an approval and a denial at once: exactly one stands, and the grant agrees with it', async () => {
    for (let round = 0; round < 3; round++) {
      const { grant, identity, links } = await pendingWrite(['oncall@example.com', 'dba@example.com']);
      const approve = links.get('oncall@example.com')!;
      const deny = links.get('dba@example.com')!;
      const [approved, denied] = await Promise.all([
        submit(approve.link, { decision: 'approve', confirm: approve.code }),
        submit(deny.link, { decision: 'deny', confirm: deny.code }),
      ]);
      expect(statuses([approved, denied])).toEqual([200, 410]);
      if (approved.status === 200) {
        await expectActiveOnce(grant.id, identity, 'oncall@example.com');
      } else {
        expect(denied.html).toContain('Denied');
        const after = await grantOf(stack, grant.id, identity);
        expect(after.grant.status).toBe('denied');
        expect(after.token).toBeUndefined();
        expect(await roleExists(grant.id)).toBe(false);
        expect(await auditTypes(stack, grant.id, identity)).toEqual(['grant.requested', 'grant.denied']);
      }
    }
  });
});

describe('an approval racing the deadline and the sweeper', () => {
  it('whoever wins, the approver’s answer and the grant agree: approved ⇒ active with a working role; refused ⇒ expired, no role', async () => {
    const outcomes: string[] = [];
    // [how long before the deadline the approver posts, when the clock jumps past it and the sweeper runs] (ms)
    for (const [leadMs, delayMs] of [
      [40, 0],
      [150, 40],
      [300, 100],
      [600, 200],
      [1_200, 300],
      [2_500, 600],
    ] as const) {
      const { grant, identity, links } = await pendingWrite();
      const { link, code } = links.get('oncall@example.com')!;
      const deadline = Date.parse(grant.approvalDeadline);
      const skew = stack.clock.now().getTime() - Date.now();
      stack.clock.advance((deadline - leadMs - stack.clock.now().getTime()) / 1000);
      try {
        const [page] = await Promise.all([
          submit(link, { decision: 'approve', confirm: code }),
          (async () => {
            await sleep(delayMs);
            stack.clock.advance((leadMs + 1_000) / 1000);
            await stack.airlock.sweep();
          })(),
        ]);
        await stack.airlock.sweep();
        const after = await grantOf(stack, grant.id, identity);
        const types = await auditTypes(stack, grant.id, identity);
        expect([200, 410]).toContain(page.status);
        if (page.status === 200) {
          outcomes.push(`${leadMs}/${delayMs} ms approved`);
          expect(page.html).toContain('Approved');
          expect(after.grant.status).toBe('active');
          expect(Date.parse((after.grant.decisions[0] as { at?: string }).at ?? '')).toBeLessThan(deadline);
          expect(await roleExists(grant.id)).toBe(true);
          expect(
            (await stack.call('POST', '/v1/query', { token: after.token, body: { sql: 'SELECT 1' } })).status,
          ).toBe(200);
          expect(types).not.toContain('grant.expired');
        } else {
          outcomes.push(`${leadMs}/${delayMs} ms refused`);
          expect(after.grant.status).toBe('expired');
          expect(after.token).toBeUndefined();
          expect(await roleExists(grant.id)).toBe(false);
          expect(types).not.toContain('grant.activated');
          expect(types.filter((type) => type === 'grant.expired')).toHaveLength(1);
        }
      } finally {
        stack.clock.advance((Date.now() + skew - stack.clock.now().getTime()) / 1000);
      }
    }
    // Not asserted (it depends on the machine), but the report shows both sides were exercised.
    console.log(`[approval race] outcomes: ${outcomes.join(', ')}`);
  });
});
