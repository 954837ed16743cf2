// The policy module's public surface: what other modules may import.
// Must never export internals that let a caller bypass the module's checks.

export type { AccessRequest, Decision, Requester } from './decide.ts';
export { decide, globMatch } from './decide.ts';
export { parseDuration } from './duration.ts';
export { formatIssues, loadPolicyFile, parsePolicyText, policyJsonSchema } from './load.ts';
export type { Detector, Guardrail, Issuer, MaskStrategy, Policy, Profile, Rule, StatementKind } from './schema.ts';
export { expandApprovers } from './schema.ts';
