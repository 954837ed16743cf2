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

/** Attributes the store adds to an item for the time index (not part of the event, never hashed); refused as details. */
export const INDEX_FIELDS = ['tmonth', 'tkey'] as const;

/** A chain id (a grant id, or another chain's name): characters that sort after `#`, so time-index keys order by it. */
export const CHAIN_ID = /^[A-Za-z0-9._:-]{1,128}$/;

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

/** The last link of a chain: kept apart from the events (on the grant record), so deleting events cannot move it. */
export const AuditHead = z.object({ seq: z.number().int().min(1), hash: z.string() });
export type AuditHead = z.infer<typeof AuditHead>;

/** A chain with the verdict on it: `verified` only when complete, every keyed hash holds and the last event is the head. */
export interface AuditVerification {
  events: AuditEvent[];
  verified: boolean;
  /** Why it does not verify (absent when it does). */
  reason?: string;
  /** The anchored head, so a reader without the key can still check the links and the end. */
  head: AuditHead | null;
}

export interface TimeQuery {
  /** ISO 8601; events at or after it. */
  since?: string;
  /** ISO 8601; events before it. */
  until?: string;
  /** The `next` of a previous page: continue right after its last event. */
  after?: string;
  /** 1 to 1000. */
  limit: number;
}

export interface TimePage {
  /** Oldest first: by `at`, then `grantId`, then `seq`. */
  events: AuditEvent[];
  /** After this page's last event; present whenever the page is not empty (an empty page means: nothing newer yet). */
  next?: string;
}

export interface AuditLog {
  /** Appends one event at the end of the grant's chain; fails with `unavailable` if it cannot be stored. */
  append(event: AuditAppend): Promise<AuditEvent>;
  /** Every event of the grant, in ascending `seq`. */
  list(grantId: string): Promise<AuditEvent[]>;
  /** How many statement events the grant's chain holds (one per statement sent, refusals included). */
  countStatements(grantId: string): Promise<number>;
  /** Every grant's events in time order, a page at a time (an index read: eventually consistent, see docs/audit.md). */
  listByTime(query: TimeQuery): Promise<TimePage>;
  /** The grant's events and whether the chain checks out against its key and its anchored head. */
  verify(grantId: string): Promise<AuditVerification>;
}
