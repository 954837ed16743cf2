// Who is who on the operator plane, as pure functions of the policy and a verified principal.

import { describe, expect, it } from 'vitest';
import { mailbox, sameMailbox } from '../../shared/approvals/index.ts';
import type { Principal } from '../../shared/identity/index.ts';
import { rolesOf, verifiedEmail } from '../../shared/operators/index.ts';
import { parsePolicyText } from '../../shared/policy/index.ts';
import { edit, OPERATOR_POLICY } from './support.ts';

const policy = parsePolicyText(
  edit(OPERATOR_POLICY, 'limits:', 'approverGroups: { dbas: [Ana@Example.com, bo@example.com] }\nlimits:').replace(
    '[oncall@example.com, dba@example.com]',
    '[oncall@example.com, dbas]',
  ),
  'roles policy',
);

const principal = (groups: string[], email: string | null, claims: Record<string, unknown> = {}): Principal => ({
  subject: 'person:x',
  issuer: 'https://idp.example',
  groups,
  email,
  claims: { sub: 'person:x', ...claims },
});

describe('verifiedEmail', () => {
  it('trusts the email claim unless the issuer says it is not verified', () => {
    expect(verifiedEmail(principal([], 'A@Example.com'))).toBe('a@example.com');
    expect(verifiedEmail(principal([], 'a@example.com', { email_verified: true }))).toBe('a@example.com');
    expect(verifiedEmail(principal([], 'a@example.com', { email_verified: 'true' }))).toBe('a@example.com');
    for (const verified of [false, 'false', 0, null, 'yes'])
      expect(verifiedEmail(principal([], 'a@example.com', { email_verified: verified })), String(verified)).toBeNull();
    expect(verifiedEmail(principal([], null))).toBeNull();
    expect(verifiedEmail(principal([], '  '))).toBeNull();
  });
});

describe('rolesOf', () => {
  it('makes operators auditors too, and nobody anything by default', () => {
    expect(rolesOf(policy, principal(['secops'], null))).toMatchObject({
      operator: true,
      auditor: true,
      approver: false,
    });
    expect(rolesOf(policy, principal(['security'], null))).toMatchObject({ operator: false, auditor: true });
    expect(rolesOf(policy, principal(['finance', 'Secops'], null))).toMatchObject({ operator: false, auditor: false });
  });

  it('makes an approver of a verified email the policy names in a rule, a guardrail or an approver group', () => {
    for (const email of ['oncall@example.com', 'ana@example.com', 'BO@example.com'])
      expect(rolesOf(policy, principal([], email)).approver, email).toBe(true);
    expect(rolesOf(policy, principal([], 'dba@example.com')).approver).toBe(false);
    expect(rolesOf(policy, principal([], 'oncall+x@example.com')).approver).toBe(false);
    expect(rolesOf(policy, principal([], 'oncall@example.com', { email_verified: false })).approver).toBe(false);
  });
});

describe('mailboxes', () => {
  it('ignore case and a +tag, and nothing else', () => {
    expect(mailbox(' Oncall+Agent@Example.COM ')).toBe('oncall@example.com');
    expect(sameMailbox('oncall+a@example.com', 'ONCALL@example.com')).toBe(true);
    expect(sameMailbox('oncall@example.com', 'oncall@example.org')).toBe(false);
    expect(sameMailbox('on.call@example.com', 'oncall@example.com')).toBe(false);
    expect(sameMailbox(null, 'oncall@example.com')).toBe(false);
    expect(mailbox('+x@example.com')).toBe('+x@example.com');
    expect(mailbox('a@b@c')).toBe('a@b@c');
  });
});
