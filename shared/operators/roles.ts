// Who a signed-in person is on the operator plane: auditor, operator, approver — from the policy's groups and
// the issuer's signed claims. Must never make anyone an approver on an email the issuer did not verify.

import { AirlockError } from '../errors.ts';
import type { Principal } from '../identity/index.ts';
import { expandApprovers, type Policy } from '../policy/index.ts';

export interface OperatorRoles {
  /** Reads every grant, lock, pending approval and audit event. */
  auditor: boolean;
  /** An auditor who may also revoke any grant and place or lift locks. */
  operator: boolean;
  /** The verified email (lower-cased), or null when the issuer vouched for none. */
  email: string | null;
  /** The verified email is among the approvers the policy names anywhere. */
  approver: boolean;
}

/**
 * The principal's email (the issuer's `emailClaim`) when the issuer vouches for it: an `email_verified`
 * claim, where the issuer sends one, must be true; an issuer that never sends it is trusted for its emails.
 */
export function verifiedEmail(principal: Principal): string | null {
  if (principal.email === null || principal.email.trim() === '') return null;
  const verified = principal.claims.email_verified;
  if (verified !== undefined && verified !== true && verified !== 'true') return null;
  return principal.email.trim().toLowerCase();
}

/** Every approver address the policy names: rule approvals and guardrails, groups expanded. */
export function policyApprovers(policy: Policy): Set<string> {
  const lists = [
    ...policy.rules.flatMap((rule) => (rule.approval ? [rule.approval.approvers] : [])),
    ...policy.guardrails.flatMap((guardrail) => (guardrail.approvers ? [guardrail.approvers] : [])),
  ];
  return new Set(lists.flatMap((list) => expandApprovers(list, policy.approverGroups)));
}

export function rolesOf(policy: Policy, principal: Principal): OperatorRoles {
  const inAny = (groups: string[]) => principal.groups.some((group) => groups.includes(group));
  const operator = inAny(policy.operators.groups);
  const email = verifiedEmail(principal);
  return {
    operator,
    auditor: operator || inAny(policy.auditors.groups),
    email,
    approver: email !== null && policyApprovers(policy).has(email),
  };
}

/** What a route needs: reading (auditors and operators), operating (operators), or deciding (approvers). */
export type OperatorRight = 'read' | 'operate' | 'read-approvals' | 'decide';

export function requireRight(roles: OperatorRoles, right: OperatorRight): void {
  const allowed = {
    read: roles.auditor,
    operate: roles.operator,
    'read-approvals': roles.auditor || roles.approver,
    decide: roles.approver,
  }[right];
  if (!allowed) throw new AirlockError('forbidden', FORBIDDEN[right]);
}

const FORBIDDEN: Record<OperatorRight, string> = {
  read: 'only auditors and operators may read this',
  operate: 'only operators may do this',
  'read-approvals': 'only auditors, operators and approvers may list approvals',
  decide: 'only an approver, signed in with a verified email the policy names, may decide',
};
