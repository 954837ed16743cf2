// The postgres module's public surface: what other modules may import.
// Must never export internals that let a caller bypass the module's checks.

export type { ConnectionMasking } from './admin.ts';
export { adminSecret, adminTargetFrom, connectionTarget, createConnectionAdmins } from './admin.ts';
export type { DatabaseTarget, PgClient, WireOptions } from './driver.ts';
export { closeClient, connectClient } from './driver.ts';
export type { PipelineStep, ResultField, ResultLimits, StatementResult, WireStatement } from './execute.ts';
export { endTransaction, failedStep, isConnectionLost, runPipeline, runStatement } from './execute.ts';
export { derivePassword } from './password.ts';
export { quoteIdent, quoteLiteral } from './quote.ts';
export type { RoleNaming } from './role-names.ts';
export { grantIdOfRole, roleNameFor } from './role-names.ts';
export type { RoleAdmin, RoleMasking } from './roles.ts';
export { assertPrefix, createRoleAdmin, FORBIDDEN_MEMBERSHIPS, ROLE_PREFIX } from './roles.ts';
export type { GrantSessionTarget, SessionPool } from './sessions.ts';
export { createSessionPool } from './sessions.ts';
export { isSessionLost } from './wire-guard.ts';
