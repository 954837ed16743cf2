// Pending approvals as operators and approvers see them: what waits, for whom, and whether this caller may
// decide it. Must never show a statement's raw text (with its literals) to anyone but one of its approvers.

import { type ApprovalRequest, approvalRef, approvalsGiven, sameMailbox } from '../approvals/index.ts';
import type { Principal } from '../identity/index.ts';
import type { OperatorRoles } from './roles.ts';

/** Whether this caller may decide the request now (the decision itself re-checks everything). */
export function mayDecide(request: ApprovalRequest, principal: Principal, roles: OperatorRoles): boolean {
  const email = roles.email;
  if (email === null || !request.approvers.includes(email)) return false;
  if (request.requester.subject === principal.subject || sameMailbox(request.requester.email, email)) return false;
  return !request.decisions.some((decision) => decision.approver === email);
}

export function publicApproval(request: ApprovalRequest, canDecide: boolean) {
  const statement = request.statement;
  return {
    id: approvalRef(request),
    kind: request.kind,
    status: request.status,
    grantId: request.grantId,
    requester: request.requester,
    connection: request.connection,
    access: request.access,
    ttlSeconds: request.ttlSeconds,
    reason: request.reason,
    rule: request.rule,
    statement: statement
      ? {
          kind: statement.kind,
          fingerprint: statement.fingerprint,
          normalizedSql: statement.normalizedSql,
          tables: statement.tables,
          guardrail: statement.guardrail,
          heldBecause: statement.heldBecause,
          ...(canDecide ? { sql: statement.sql } : {}),
        }
      : null,
    approvers: request.approvers,
    required: request.required,
    approvals: approvalsGiven(request),
    decisions: request.decisions.map(({ approver, decision, at, reason }) => ({
      by: approver,
      decision,
      at,
      ...(reason ? { reason } : {}),
    })),
    createdAt: request.createdAt,
    deadline: request.deadline,
    decidedAt: request.decidedAt,
    canDecide,
  };
}
export type PublicApproval = ReturnType<typeof publicApproval>;
