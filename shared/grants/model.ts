// The grant record and its state machine: pending → active → expired | revoked; pending → denied | expired.
// A status only moves along these edges, and only through a conditional write in the store.

import { z } from 'zod';
import { GRANT_DECISIONS, type Grant, GrantStatus } from '../api/index.ts';
import { AuditHead } from '../audit/index.ts';

export { GRANT_STATUSES, GrantStatus } from '../api/index.ts';

export const TRANSITIONS: Record<GrantStatus, readonly GrantStatus[]> = {
  pending: ['active', 'denied', 'expired', 'revoked'],
  active: ['expired', 'revoked'],
  denied: [],
  expired: [],
  revoked: [],
};

export const GrantDecision = z.object({
  by: z.string(),
  decision: z.enum(GRANT_DECISIONS),
  at: z.string(),
  reason: z.string().optional(),
});
export type GrantDecision = z.infer<typeof GrantDecision>;

/** The audit event a grant owes from its end state until it is written (the sweeper retries it). */
export const EndEvent = z.object({
  type: z.enum(['grant.revoked', 'grant.denied', 'grant.expired']),
  subject: z.string(),
  details: z.record(z.string(), z.unknown()),
});
export type EndEvent = z.infer<typeof EndEvent>;

/**
 * The stored item. `sweep`/`dueAt` exist only while the sweeper may have to act: pending, active, or
 * `audit` (an ended grant whose `endEvent` is not written yet).
 */
export const GrantRecord = z.object({
  id: z.string(),
  status: GrantStatus,
  subject: z.string(),
  issuer: z.string(),
  email: z.string().nullable(),
  connection: z.string(),
  access: z.string(),
  reason: z.string(),
  rule: z.string(),
  ttlSeconds: z.number().int(),
  requestedAt: z.string(),
  activatedAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  /** Pending only: when an unanswered request expires. */
  approvalDeadline: z.string().nullable(),
  approval: z.object({ approvers: z.array(z.string()), required: z.number().int() }).nullable(),
  decisions: z.array(GrantDecision),
  role: z.string(),
  /** Where the role logs in, recorded at activation so the query side never needs the admin secret. */
  target: z.object({ host: z.string(), port: z.number().int(), database: z.string() }).nullable(),
  /** The database sessions this grant's role may open: its share of the subject's sessionsPerSubject. */
  sessionLimit: z.number().int().min(1).optional(),
  sweep: z.enum(['pending', 'active', 'audit']).optional(),
  dueAt: z.string().optional(),
  endEvent: EndEvent.optional(),
  /** Last seq and hash of the grant's audit chain: written only by the audit log's anchor, never by a transition. */
  auditHead: AuditHead.optional(),
  ttl: z.number().int(),
});
export type GrantRecord = z.infer<typeof GrantRecord>;

/** What the API shows of a grant (API.md "Grant"). */
export function publicGrant(grant: GrantRecord): Grant {
  return {
    id: grant.id,
    status: grant.status,
    subject: grant.subject,
    connection: grant.connection,
    access: grant.access,
    reason: grant.reason,
    rule: grant.rule,
    ttlSeconds: grant.ttlSeconds,
    requestedAt: grant.requestedAt,
    activatedAt: grant.activatedAt,
    expiresAt: grant.expiresAt,
    approvalDeadline: grant.approvalDeadline,
    approval: grant.approval ? { required: grant.approval.required, approvers: grant.approval.approvers.length } : null,
    decisions: grant.decisions.map(({ by, decision, at, reason }) => ({
      by,
      decision,
      at,
      ...(reason ? { reason } : {}),
    })),
  };
}

/** A grant is usable only while active AND before its window end, whatever the store still says. */
export function isLive(grant: GrantRecord, now: Date): boolean {
  return grant.status === 'active' && grant.expiresAt !== null && Date.parse(grant.expiresAt) > now.getTime();
}
