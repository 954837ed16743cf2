// What an audit event is: its types, its core fields and the schema stored items are parsed with.
// Must never let a detail stand in for a core field; details only ever add to an event.

import { z } from 'zod';

export const AUDIT_EVENT_TYPES = [
  'grant.requested',
  'grant.approved',
  'grant.denied',
  'grant.activated',
  'grant.revoked',
  'grant.expired',
  'statement',
  'statement.approved',
  'statement.denied',
  // An operator's lock: chained per lock (`lock-<lockId>`), since a lock is about no one grant.
  'lock.created',
  'lock.lifted',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Fields every event has; a detail with one of these names is refused. */
export const CORE_FIELDS = ['id', 'grantId', 'seq', 'at', 'type', 'subject', 'prevHash', 'hash'] as const;

/**
 * One link of a grant's chain. `id` is `${grantId}:${seq}`: unique, and the same as the item's key.
 * Details (e.g. a statement's fingerprint, decision, rowCount) sit beside the core fields.
 */
export const AuditEvent = z.looseObject({
  id: z.string(),
  grantId: z.string(),
  seq: z.number(),
  at: z.string(),
  type: z.enum(AUDIT_EVENT_TYPES),
  subject: z.string(),
  prevHash: z.string(),
  hash: z.string(),
});
export type AuditEvent = z.infer<typeof AuditEvent>;

export interface AuditAppend {
  grantId: string;
  type: AuditEventType;
  subject: string;
  details?: Record<string, unknown>;
}

export interface AuditLog {
  /** Appends one event at the end of the grant's chain; fails with `unavailable` if it cannot be stored. */
  append(event: AuditAppend): Promise<AuditEvent>;
  /** Every event of the grant, in ascending `seq`. */
  list(grantId: string): Promise<AuditEvent[]>;
}
