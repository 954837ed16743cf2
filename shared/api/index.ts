// The API's outside contract as zod schemas: one per concept, imported by routes, OpenAPI, MCP, the CLI and tests.
// Must never describe an internal record (stored items, secrets): only what crosses the API.

export type { AuditDetails, AuditEventCore, AuditEventOf, AuditEventType, StatementDecision } from './audit.ts';
export {
  AUDIT_DETAILS,
  AUDIT_EVENT_TYPES,
  AuditEvent,
  AuditTrail,
  CORE_FIELDS,
  STATEMENT_DECISIONS,
} from './audit.ts';
export { ConnectionList, RequestableAccess } from './connections.ts';
export { ErrorBody, ErrorCodeSchema } from './errors.ts';
export {
  GRANT_DECISIONS,
  GRANT_STATUSES,
  Grant,
  GrantList,
  GrantMaybeToken,
  GrantOnly,
  GrantRequestBody,
  GrantStatus,
  GrantWithToken,
} from './grant.ts';
export { AdminGrant, AdminGrantPage, Approval, AuditPage, Lock, LockOutcome } from './operators.ts';
export type { StatementInput } from './query.ts';
export {
  HeldStatement,
  MAX_PARAM_DEPTH,
  MAX_PARAMS,
  MAX_SQL_CHARS,
  nestedWithin,
  QueryBody,
  QueryColumn,
  QueryResponse,
  QueryResult,
} from './query.ts';
