// The query path's public surface: a service that authenticates grant tokens and runs statements as the grant's role.
// Must never export a way to run a statement without its plan, its window, masking and its audit event.

export type { GateDecision, HeldStatement, StatementGate } from './gate.ts';
export type { QueryPhase, QueryProfile } from './profile.ts';
export type { QueryOutcome, QueryService, QueryServiceOptions } from './service.ts';
export { createQueryService } from './service.ts';
