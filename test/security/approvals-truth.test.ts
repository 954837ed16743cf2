// Approvals that tell the truth (issue 12, item 7), against the real stack: a reason cannot forge a decision
// link, a `+tag` requester is neither mailed nor able to decide as the mailbox it shares, a link locks after
// five wrong codes, and approval emails per requester per hour are bounded (429 rate_limited beyond).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signApprovalLink } from '../../shared/approvals/link.ts';
import { MAX_CODE_FAILURES } from '../../shared/approvals/model.ts';
import { createApprovalStore } from '../../shared/approvals/store.ts';
import { loadSigningKeys } from '../../shared/identity/grant-token.ts';
import { readSecret, SECRET_NAMES, SigningKeysSecret } from '../../shared/secrets/index.ts';
import {
  codeOn,
  decide,
  edit,
  emailsFor,
  grantRef,
  linkFor,
  open,
  outbox,
  requestWrite,
  submit,
} from '../approvals/support.ts';
import { DEMO_POLICY_TEXT, startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dynamo, secrets } from '../support/infra.ts';

let stack: TestAirlock;

beforeAll(async () => {
  stack = await startTestAirlock({
    policyText: edit(
      DEMO_POLICY_TEXT,
      'limits: { maxRows: 1000, statementTimeout: 30s, approvalTimeout: 1h }',
      'limits: { maxRows: 1000, statementTimeout: 30s, approvalTimeout: 1h, approvalEmailsPerHour: 6 }',
    ),
  });
});
afterAll(async () => {
  await stack?.close();
});

/** Each test asks as its own subject, so the hourly email budget is per test. */
const subject = (name: string) => `agent:${name}-${Math.random().toString(36).slice(2, 8)}`;

describe('a reason cannot forge a decision link', () => {
  it('the real link comes first, the reason stays on one quoted line, and /dev/outbox lists only the real link', async () => {
    const forged = 'http://127.0.0.1:1/v1/approvals/aaaa.bbbb.cccc';
    const reason = `routine\n\nReview and decide (this link is for dba@example.com only and works once):\n${forged}\n`;
    const { grant } = await requestWrite(stack, { subject: subject('forger'), reason });
    const emails = await emailsFor(stack, grantRef(grant.id));
    expect(emails.size).toBe(2);
    const listed = (await stack.call('GET', '/dev/outbox')).body.messages as Array<{ id: string; links: string[] }>;
    for (const email of emails.values()) {
      const [first, second] = email.text.split('\n');
      expect(first).toMatch(/^Review and decide \(this link is for (dba|oncall)@example\.com only and works once\):$/);
      expect(second).toBe(email.links[0]);
      const why = email.text.split('\n').find((line) => line.startsWith('Why: '));
      expect(why).toBe(
        'Why: "routine\\n\\nReview and decide (this link is for dba@example.com only and works once):\\nhttp[:]//127.0.0.1:1/v1/approvals/aaaa.bbbb.cccc"',
      );
      expect(email.text).not.toContain(forged);
      const entry = listed.find((message) => message.links.includes(email.links[0]!));
      expect(entry?.links).toEqual([email.links[0]]);
    }
    expect(listed.some((message) => message.links.some((link) => link.includes('aaaa.bbbb.cccc')))).toBe(false);
  });
});

describe('addresses compare as mailboxes', () => {
  it('a requester oncall+agent@ is not mailed as oncall@, and cannot decide with oncall@’s link', async () => {
    const { grant } = await requestWrite(stack, { subject: subject('tagged'), email: 'Oncall+agent@Example.com' });
    const emails = await emailsFor(stack, grantRef(grant.id));
    expect([...emails.keys()]).toEqual(['dba@example.com']);
    // A link for oncall@ signed by Airlock itself (as if mailed): the page refuses the requester's own mailbox.
    const keys = await loadSigningKeys(await readSecret(secrets(), SECRET_NAMES.signingKeys, SigningKeysSecret));
    const { token } = await signApprovalLink(
      keys,
      {
        approval: grantRef(grant.id),
        approver: 'oncall@example.com',
        expiresAt: new Date(grant.approvalDeadline),
        issuer: stack.policy.publicUrl,
      },
      stack.clock.now,
    );
    const page = await open(`${stack.policy.publicUrl}/v1/approvals/${token}`);
    expect(page.status).toBe(403);
    expect(page.html).toContain('you asked for this; someone else has to approve it');
  });
});

describe('the confirmation code', () => {
  it(`locks its link after ${MAX_CODE_FAILURES} wrong tries, counted on the request; the right code then decides nothing`, async () => {
    const { grant } = await requestWrite(stack, { subject: subject('guesser') });
    const link = await linkFor(stack, grantRef(grant.id), 'dba@example.com');
    const code = codeOn(await open(link));
    const wrong = code === 'AAAAAA' ? 'BBBBBB' : 'AAAAAA';
    for (let attempt = 1; attempt < MAX_CODE_FAILURES; attempt++) {
      const page = await submit(link, { decision: 'approve', confirm: wrong });
      expect(page.status).toBe(400);
      expect(page.html).toContain(
        `${MAX_CODE_FAILURES - attempt} ${MAX_CODE_FAILURES - attempt === 1 ? 'try' : 'tries'} left`,
      );
    }
    const last = await submit(link, { decision: 'approve', confirm: wrong });
    expect(last.status).toBe(410);
    expect(last.html).toContain(`locked after ${MAX_CODE_FAILURES} wrong codes`);
    const right = await submit(link, { decision: 'approve', confirm: code });
    expect(right.status).toBe(410);
    expect((await open(link)).status).toBe(410);
    const stored = await createApprovalStore({ client: dynamo(), table: stack.tables.approvals }).get(
      `grant-${grant.id}`,
    );
    expect(stored).toMatchObject({ status: 'pending', decisions: [] });
    expect(Object.values(stored!.codeFailures)).toEqual([MAX_CODE_FAILURES]);
    // The other approver's link still works.
    const other = await decide(await linkFor(stack, grantRef(grant.id), 'oncall@example.com'), 'approve');
    expect(other.status).toBe(200);
  });
});

describe('approval emails per requester per hour', () => {
  it('beyond limits.approvalEmailsPerHour a new hold is 429 rate_limited with retryAfterSeconds, and nobody is mailed', async () => {
    const asker = subject('flood');
    const identity = await stack.token(asker, ['finance'], { ttlSeconds: 86_400 });
    const ask = () =>
      stack.call('POST', '/v1/grants', {
        token: identity,
        body: { connection: 'shop', access: 'write', ttl: 600, reason: 'flood' },
      });
    // Two approvers each: three requests are the six emails this policy allows in an hour.
    for (let i = 0; i < 3; i++) expect((await ask()).status).toBe(202);
    const before = (await outbox(stack)).length;
    const refused = await ask();
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'rate_limited', retryAfterSeconds: expect.any(Number) });
    expect(refused.body.error.retryAfterSeconds).toBeGreaterThan(3500);
    expect((await outbox(stack)).length).toBe(before);
    // Another requester is not held back by this one.
    expect((await requestWrite(stack, { subject: subject('bystander') })).grant.status).toBe('pending');
    // An hour later the window has moved on.
    stack.clock.advance(3601);
    expect((await ask()).status).toBe(202);
  });
});
