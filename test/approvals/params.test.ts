// Bound parameters on the approval page and in the email: recorded by the statement gate as the query side
// will call it (with `params`), mailed by the real stack's sweeper, shown on its real page. Values meeting a
// masked column are masked with its strategy, undecidable ones redacted, the rest shown (detectors still run).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalRequests } from '../../shared/approvals/requests.ts';
import { createApprovalStore } from '../../shared/approvals/store.ts';
import { createGrantStore } from '../../shared/grants/store.ts';
import { parseOne } from '../../shared/sql/parse.ts';
import { AUTO_WRITE_POLICY, openGrant, query, withLimits } from '../query/fixtures.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dynamo } from '../support/infra.ts';
import { emailsFor, linkFor, open } from './support.ts';

let stack: TestAirlock;

beforeAll(async () => {
  stack = await startTestAirlock({
    policyText: withLimits(AUTO_WRITE_POLICY, 'maxRows: 1000, statementTimeout: 30s, approvalEmailsPerHour: 3'),
  });
});
afterAll(async () => {
  await stack?.close();
});

const SSN = '342-61-1387';
const EMAIL = 'alice.sensitive@example.org';
const CARD = '4111111111111111';
const PHONE = '+1 555 0100 777';

async function hold(sql: string, params: unknown[]) {
  const grant = await openGrant(stack, { access: 'write' });
  const record = await createGrantStore({ client: dynamo(), table: stack.tables.grants }).get(grant.id);
  // The query side's gate, on the stack's own approvals table (it records; the API side mails).
  const gate = createApprovalRequests({
    policy: stack.policy,
    store: createApprovalStore({ client: dynamo(), table: stack.tables.approvals }),
    now: stack.clock.now,
  }).gate;
  const statement = await parseOne(sql);
  const admitted = await gate.admit({
    grant: record!,
    statement,
    paramsHash: `test-${Math.random()}`,
    params,
    guardrail: 'unbounded-change',
    reason: 'UPDATE without WHERE',
    approvers: ['oncall@example.com'],
    required: 1,
  });
  expect(admitted.run).toBe(false);
  await stack.airlock.sweep();
  const ref = (admitted as { approval: { id: string } }).approval.id;
  return { ref, email: (await emailsFor(stack, ref)).get('oncall@example.com')! };
}

describe('parameters shown to approvers', () => {
  it('are masked by the column they meet, redacted when that cannot be told, shown as sent otherwise', async () => {
    const { ref, email } = await hold(
      `UPDATE customers SET ssn = $1, email = $2, card_number = $3, phone = $4, name = upper($5), country = $6, created_at = $7::timestamptz`,
      [SSN, EMAIL, CARD, PHONE, 'carol', 'PT', '2030-01-01T00:00:00Z'],
    );
    const expected = [
      '$1 = [REDACTED] (masked: redact)',
      '$2 = a***@example.org (masked: email)',
      '$3 = ************1111 (masked: last4)',
      '$4 = [REDACTED] (masked: hash)',
      '$5 = [REDACTED] (masked: undecided)',
      '$6 = "PT"',
      '$7 = "2030-01-01T00:00:00Z"',
    ];
    expect(email.text).toContain(`Parameters: "${expected.join(', ').replace(/"/g, '\\"')}"`);
    const page = await open(await linkFor(stack, ref, 'oncall@example.com'));
    expect(page.status).toBe(200);
    for (const line of expected) expect(page.html).toContain(line.replace(/"/g, '&quot;'));
    for (const raw of [SSN, EMAIL, CARD, PHONE, 'carol'])
      for (const text of [email.text, email.html, email.raw, page.html]) expect(text).not.toContain(raw);
  });

  it('compare, IN lists, ANY and aliases: decided from the tree; content detectors still mask a raw value', async () => {
    const { email } = await hold(
      `DELETE FROM customers c WHERE c.email IN ($1, $2) OR c.name = $3 OR c.id = ANY($4) OR ssn LIKE $5`,
      ['a@b.example', 'b@c.example', SSN, [1, 2], '342%'],
    );
    expect(email.text).toContain(
      'Parameters: "$1 = a***@b.example (masked: email), $2 = b***@c.example (masked: email), $3 = \\"[REDACTED]\\" (masked: detectors), $4 = [1,2], $5 = [REDACTED] (masked: redact)"',
    );
    expect(email.text).not.toContain(SSN);
  });
});

describe('statement holds per requester per hour', () => {
  it('a flood of held statements stops at the email budget with 429 rate_limited', async () => {
    const grant = await openGrant(stack, { access: 'write' });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await query(stack, grant.token, { sql: `DELETE FROM orders WHERE ${i} = ${i}` });
      statuses.push(response.status);
      if (response.status === 429) expect(response.body.error).toMatchObject({ code: 'rate_limited' });
    }
    // One approver each: the budget of three emails allows three holds.
    expect(statuses).toEqual([202, 202, 202, 429, 429]);
  });
});
