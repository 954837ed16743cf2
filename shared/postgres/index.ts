// The postgres module's public surface: what other modules may import.
// Must never export internals that let a caller bypass the module's checks.

export type { ConnectionMasking } from './admin.ts';
export { adminSecret, adminTargetFrom, connectionTarget, createConnectionAdmins } from './admin.ts';
export type { PgClient, WireOptions } from './driver.ts';
export { closeClient, connectClient, isConnectionLost } from './driver.ts';
export { derivePassword } from './password.ts';
export { quoteIdent, quoteLiteral } from './quote.ts';
export type { RoleNaming } from './role-names.ts';
export { grantIdOfRole, roleNameFor } from './role-names.ts';
export type { RoleAdmin, RoleMasking } from './roles.ts';
export { assertPrefix, FORBIDDEN_MEMBERSHIPS, ROLE_PREFIX } from './roles.ts';
export type { SessionPool } from './sessions.ts';
export { createSessionPool } from './sessions.ts';
