// The HTTP front door's public surface: the app, its route groups, authentication and error presentation.
// Must never export a route group that skips authentication or the error shape.

export { adminRoutes } from './admin.ts';
export type { AirlockApp, Routes } from './app.ts';
export { createApp } from './app.ts';
export { approvalRoutes } from './approvals.ts';
export type { IdentityEnv } from './auth.ts';
export { identityAuth } from './auth.ts';
export { devRoutes } from './dev.ts';
export { errorBody, toAirlockError } from './errors.ts';
export { GrantRequestBody, grantRoutes } from './grants.ts';
export { openApiRoutes } from './openapi.ts';
export { outboxRoutes } from './outbox.ts';
export { queryRoutes } from './query.ts';
export { parseBody } from './validate.ts';
