// The audit module's public surface: append-only, hash-chained audit events per grant.
// Must never export a way to change or remove an event that has been written.

export { GENESIS_HASH, hashEvent, verifyChain } from './chain.ts';
export type { DynamoAuditLogOptions } from './dynamo.ts';
export { createDynamoAuditLog } from './dynamo.ts';
export type { AuditAppend, AuditEvent, AuditEventOf, AuditEventType, AuditLog, StoredEvent } from './event.ts';
export { AUDIT_EVENT_TYPES, StoredAuditEvent } from './event.ts';
