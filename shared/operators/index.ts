// The operator plane's public surface: roles, locks (store, checker, service), and the plane every front
// door calls. Must never export a way to act as an operator without the caller's roles being checked.

export type { PublicApproval } from './approvals.ts';
export type { AuditPosition, AuditSearch, AuditTimeline, AuditTimeQuery } from './audit-search.ts';
export type { Lock, PublicLock } from './lock.ts';
export { publicLock } from './lock.ts';
export type { LockStore } from './lock-store.ts';
export { createLockHeadAnchor, createLockStore, LOCK_CHAIN_PREFIX } from './lock-store.ts';
export type { LockOutcome, LockService, LockServiceOptions, Operator } from './locks.ts';
export { createLockChecker, createLockService, lockChain } from './locks.ts';
export type { AdminGrant, OperatorPlane, OperatorPlaneOptions } from './plane.ts';
export { adminGrant, createOperatorPlane } from './plane.ts';
export type { OperatorRight, OperatorRoles } from './roles.ts';
export { rolesOf, verifiedEmail } from './roles.ts';
export { ApprovalDecisionBody, AuditQuery, GrantListQuery, LockRequest, ReasonBody } from './schemas.ts';
export type { ChainVerdict } from './story.ts';
export { readChain } from './story.ts';
