// The policy module's public surface: what other modules may import.
// Must never export internals that let a caller bypass the module's checks.

export type { RequestableAccess, RequestableConnection } from './connections.ts';
export { requestableConnections } from './connections.ts';
export type { AccessRequest, Decision, Requester } from './decide.ts';
export { decide, globMatch } from './decide.ts';
export { DURATION_PATTERN, parseDuration } from './duration.ts';
export { policyJsonSchema } from './json-schema.ts';
export { formatIssues, loadPolicyFile, parsePolicyText } from './load.ts';
export type {
  AuditSink,
  Capability,
  Detector,
  Guardrail,
  Issuer,
  Policy,
  Rule,
  StatementKind,
} from './schema.ts';
export { expandApprovers, MaskStrategy, Profile, sinkName } from './schema.ts';
