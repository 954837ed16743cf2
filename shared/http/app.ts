// The Hono app: one error shape, a body limit, the OpenAPI registry, and the route groups each part mounts.
// The same app runs on Node locally, in Lambda, and in tests through app.request().

import { OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { Context, Handler, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ErrorBody } from '../api/index.ts';
import { AirlockError } from '../errors.ts';
import type { GrantRecord } from '../grants/index.ts';
import type { Principal } from '../identity/index.ts';
import { currentRequestId, noteError, observeRequests, type RequestObserverOptions } from '../observe/index.ts';
import { formatIssues } from '../policy/index.ts';
import { type RequestGuardOptions, requestGuard } from './guard.ts';
import { presentError, STATUS } from './present.ts';

/** What middleware puts on a request's context for the handlers after it. */
export type AppEnv = {
  Variables: {
    /** Set by identityAuth: the verified identity behind the bearer token. */
    principal: Principal;
    /** Set by grantAuth: the live grant behind a grant token. */
    grant: GrantRecord;
  };
};

export type AirlockApp = OpenAPIHono<AppEnv>;

export interface AppOptions {
  /** Request bodies above this are refused with 413 `too_large` before they are read. */
  maxBodyBytes: number;
  /** Airlock's base URL: every 401 points at its protected-resource metadata (RFC 9728). */
  publicUrl: string;
  /** Where each request's log line and metrics go. */
  observe?: RequestObserverOptions;
  /** Host and Origin checks (requestGuardOptions); every route, /healthz included, is behind them. */
  guard: RequestGuardOptions;
}

/** Where a 401 tells OAuth-aware clients (MCP clients) to learn how to get a token. */
export function resourceMetadataUrl(publicUrl: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/.well-known/oauth-protected-resource`;
}

/** A route group mounts its routes on the app. */
export type Routes = (app: AirlockApp) => void;

export function createApp(options: AppOptions, ...groups: Routes[]): AirlockApp {
  const app = new OpenAPIHono<AppEnv>({
    // A body or parameter that fails its route's schema: 400 with every issue named by its path.
    defaultHook: (result) => {
      if (result.success) return;
      const issues = formatIssues(result.error.issues);
      throw new AirlockError('invalid_request', `invalid request: ${issues.join('; ')}`, { issues });
    },
  });
  const metadata = resourceMetadataUrl(options.publicUrl);
  const answer = (c: Context, error: unknown) => errorResponse(c, error, metadata);
  app.onError((error, c) => answer(c, error));
  app.notFound((c) => answer(c, new AirlockError('not_found', `no route for ${c.req.method} ${c.req.path}`)));
  app.use(observeRequests(options.observe));
  // After the request log (a refused request is still logged), before every route.
  app.use(requestGuard(options.guard));
  app.use(
    bodyLimit({
      maxSize: options.maxBodyBytes,
      onError: (c) => {
        // The rest of the body is never read, so this connection cannot carry another request.
        c.header('Connection', 'close');
        return errorResponse(
          c,
          new AirlockError('too_large', `the request body is over ${options.maxBodyBytes} bytes`),
        );
      },
    }),
  );
  app.openAPIRegistry.registerComponent('securitySchemes', 'identityToken', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'An identity token from an issuer the policy configures.',
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'grantToken', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A grant token from POST /v1/grants, good at /v1/query while the grant is active.',
  });
  for (const mount of groups) mount(app);
  return app;
}

/** Answers with the API's error shape; internal causes are logged, never sent. */
export function errorResponse(c: Context, thrown: unknown, resourceMetadata?: string): Response {
  const requestId = currentRequestId();
  const presented = presentError(thrown, { resourceMetadata, ...(requestId ? { requestId } : {}) });
  // The request's log line carries the code, and the cause of a 500/503 (never sent to the caller).
  noteError(presented.error.code, presented.severity === 'error' ? (presented.cause ?? thrown) : undefined);
  return c.json(presented.body, presented.status, presented.headers);
}

/** The documented answers of a route for these error statuses, each the API's error body. */
export function errorResponses(...statuses: number[]): RouteConfig['responses'] {
  const descriptions = new Map<number, string[]>();
  for (const [code, status] of Object.entries(STATUS)) {
    if (statuses.includes(status)) descriptions.set(status, [...(descriptions.get(status) ?? []), code]);
  }
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: `Error: ${(descriptions.get(status) ?? ['error']).join(', ')}`,
        content: { 'application/json': { schema: ErrorBody } },
      },
    ]),
  );
}

/**
 * A route documented in the OpenAPI document but mounted without its request validators: the approval pages
 * answer HTML even when the form is wrong, and /mcp reads its own body.
 */
export function documentedRoute(
  app: AirlockApp,
  route: RouteConfig,
  ...handlers: Array<MiddlewareHandler<AppEnv> | Handler<AppEnv>>
): void {
  app.openAPIRegistry.registerPath(route);
  // Hono's `on` overloads are typed for literal paths; this one is built from the documented path.
  const on = app.on.bind(app) as unknown as (method: string, path: string, ...chain: typeof handlers) => AirlockApp;
  on(route.method.toUpperCase(), route.path.replaceAll(/\{(\w+)\}/g, ':$1'), ...handlers);
}
