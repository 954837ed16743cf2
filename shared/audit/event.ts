// What an audit event is: its types and details (the API's schemas), and the core schema stored items are parsed with.
// Must never let a detail stand in for a core field; details only ever add to an event.

import { z } from 'zod';
import {
  AUDIT_EVENT_TYPES,
  type AuditDetails,
  type AuditEvent,
  type AuditEventOf,
  type AuditEventType,
  CORE_FIELDS,
} from '../api/index.ts';

export type { AuditEvent, AuditEventOf, AuditEventType };
export { AUDIT_EVENT_TYPES, CORE_FIELDS };

/**
 * The core every stored item must have. `id` is `${grantId}:${seq}`: unique, and the same as the item's key.
 * Details sit beside the core fields and are kept as written (they are hashed with it).
 */
export const StoredAuditEvent = z.looseObject({
  id: z.string(),
  grantId: z.string(),
  seq: z.number(),
  at: z.string(),
  type: z.enum(AUDIT_EVENT_TYPES),
  subject: z.string(),
  prevHash: z.string(),
  hash: z.string(),
});

/** An event as stored and hashed: the core fields and whatever details it was written with. */
export type StoredEvent = z.infer<typeof StoredAuditEvent>;

/** One event to append: its type decides the shape of its details. */
export type AuditAppend = {
  [T in AuditEventType]: {
    grantId: string;
    type: T;
    subject: string;
    details: AuditDetails<T> & { requestId?: string };
  };
}[AuditEventType];

export interface AuditLog {
  /** Appends one event at the end of the grant's chain; fails with `unavailable` if it cannot be stored. */
  append(event: AuditAppend): Promise<AuditEvent>;
  /** Every event of the grant, in ascending `seq`. */
  list(grantId: string): Promise<AuditEvent[]>;
}
