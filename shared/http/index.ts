// The HTTP front door's public surface: the app, its route groups, authentication and error presentation.
// Must never export a route group that skips authentication or the error shape.

export { adminRoutes } from './admin.ts';
export type { AirlockApp, AppEnv, Routes } from './app.ts';
export { createApp, documentedRoute, errorResponses } from './app.ts';
export { approvalRoutes } from './approvals.ts';
export { bearerToken, identityAuth } from './auth.ts';
export { connectionRoutes } from './connections.ts';
export { devRoutes } from './dev.ts';
export { devAuthorizeRoutes } from './dev-authorize.ts';
export { grantRoutes } from './grants.ts';
export type { RequestGuardOptions } from './guard.ts';
export { requestGuard, requestGuardOptions } from './guard.ts';
export type { ObserveRoutesOptions } from './health.ts';
export { observeRoutes } from './health.ts';
export { openApiDocument, openApiRoutes, systemRoutes } from './openapi.ts';
export { outboxRoutes } from './outbox.ts';
export type { Presentation } from './present.ts';
export { errorBody, presentError, STATUS, toAirlockError } from './present.ts';
export { queryRoutes } from './query.ts';
export { parseBody } from './validate.ts';
