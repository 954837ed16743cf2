// The query module's public surface: what other modules may import.
// Must never export internals that let a caller bypass the module's checks.

export type { GateDecision, HeldStatement, StatementGate } from './gate.ts';
export type { QueryProfile, QueryResponse, QueryResult, QueryService } from './service.ts';
export { createQueryService, QueryBody } from './service.ts';
