// The audit module's public surface: append-only, keyed hash chains per grant with anchored heads, read per
// grant or in time order. Must never export a way to change or remove an event that has been written.

export type { AuditHeadAnchor } from './anchor.ts';
export { createDynamoHeadAnchor, HEAD_ATTRIBUTE, routeAnchors } from './anchor.ts';
export type { ChainCheck, EventHasher } from './chain.ts';
export { checkChain, checkHead, createKeyedHasher, GENESIS_HASH, hashEvent, verifyChain } from './chain.ts';
export type { DynamoAuditLogOptions } from './dynamo.ts';
export { createDynamoAuditLog } from './dynamo.ts';
export type {
  AuditAppend,
  AuditEvent,
  AuditEventOf,
  AuditEventType,
  AuditLog,
  AuditVerification,
  StoredEvent,
  TimePage,
  TimeQuery,
} from './event.ts';
export { AUDIT_EVENT_TYPES, AuditHead, StoredAuditEvent } from './event.ts';
export { MAX_TIME_PAGE, TIME_INDEX, TIME_INDEX_EPOCH } from './time-index.ts';
