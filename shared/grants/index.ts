// The grants module's public surface: what other modules may import.
// Must never export internals that let a caller bypass the module's checks.

export type { GrantStatus } from './model.ts';
export { GRANT_STATUSES, GrantRecord, isLive, publicGrant } from './model.ts';
export type { GrantPosition, GrantSearch, GrantSearchPage } from './search.ts';
export type {
  ApprovalNotifier,
  GrantService,
  LockChecker,
  LockScope,
  OperatorAction,
  SweepReport,
} from './service.ts';
export { createGrantService } from './service.ts';
export type { GrantStore } from './store.ts';
export { createGrantStore } from './store.ts';
