// The outermost HTTP middleware: a request id on every response, one log line and the HTTP metrics per
// request, and the request's scope for everything below. Logs route patterns, never paths or queries.

import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { ID_PATTERN } from '../ids.ts';
import { describeCause, type Logger, silentLogger } from './logger.ts';
import { type Metrics, noMetrics } from './metrics.ts';
import { acceptRequestId, inRequestScope, newRequestId, type RequestScope } from './request.ts';
import { withServerSpan } from './tracing.ts';

export const REQUEST_ID_HEADER = 'x-request-id';

export interface RequestObserverOptions {
  logger?: Logger;
  metrics?: Metrics;
}

/** Polled by load balancers and scrapers: logged at debug unless they fail. */
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Routes whose `:id` is a grant id. */
const GRANT_ROUTE = /^\/v1\/(admin\/)?grants\/:id(\/|$)/;

export function observeRequests(options: RequestObserverOptions = {}): MiddlewareHandler {
  const logger = options.logger ?? silentLogger();
  const metrics = options.metrics ?? noMetrics;
  return async function observe(c, next) {
    const started = performance.now();
    const method = METHODS.has(c.req.method) ? c.req.method : 'OTHER';
    const scope: RequestScope = { requestId: acceptRequestId(c.req.header(REQUEST_ID_HEADER)) ?? newRequestId() };
    await withServerSpan(method, (span) =>
      inRequestScope(scope, async () => {
        await next();
        const route = routePattern(c);
        span.updateName(`${method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': c.res.status });
      }),
    );
    setRequestIdHeader(c, scope.requestId);
    const route = routePattern(c);
    const status = c.res.status;
    const seconds = (performance.now() - started) / 1000;
    metrics.count('http_requests_total', { method, route, status: String(status) });
    metrics.observe('http_request_duration_seconds', seconds, { method, route });
    if (scope.errorCode === 'policy_denied') metrics.count('grants_total', { outcome: 'denied' });

    const grantId = scope.grantId ?? grantParam(c, route);
    const subject = principalSubject(c) ?? scope.subject;
    const awsRequestId = lambdaRequestId(c);
    const line = {
      requestId: scope.requestId,
      method,
      route,
      status,
      durationMs: Math.round(seconds * 100_000) / 100,
      ...(subject ? { subject } : {}),
      ...(grantId ? { grantId } : {}),
      ...(scope.errorCode ? { code: scope.errorCode } : {}),
      ...(scope.failure !== undefined ? { cause: describeCause(scope.failure) } : {}),
      ...(awsRequestId ? { awsRequestId } : {}),
    };
    const message = `${method} ${route} ${status}${scope.errorCode ? ` ${scope.errorCode}` : ''}`;
    if (status >= 500) logger.error(line, message);
    else if (PROBES.has(route)) logger.debug(line, message);
    else logger.info(line, message);
  };
}

/** The pattern of the route that answered (`/v1/grants/:id`), or `unmatched`: never the raw path, which may hold a link token. */
export function routePattern(c: Context): string {
  const routes = matchedRoutes(c);
  for (let index = routes.length - 1; index >= 0; index--) {
    const route = routes[index]!;
    // Middleware takes (c, next); a route handler takes (c).
    if (route.handler.length < 2) return route.path;
  }
  return 'unmatched';
}

function setRequestIdHeader(c: Context, requestId: string): void {
  try {
    c.res.headers.set(REQUEST_ID_HEADER, requestId);
  } catch {
    // A response with immutable headers (one passed through from fetch) is copied once.
    c.res = new Response(c.res.body, c.res);
    c.res.headers.set(REQUEST_ID_HEADER, requestId);
  }
}

function grantParam(c: Context, route: string): string | undefined {
  if (!GRANT_ROUTE.test(route)) return undefined;
  const id = c.req.param('id');
  return id && ID_PATTERN.test(id) ? id : undefined;
}

function principalSubject(c: Context): string | undefined {
  const principal = (c.var as Record<string, unknown>).principal as { subject?: unknown } | undefined;
  return typeof principal?.subject === 'string' ? principal.subject : undefined;
}

function lambdaRequestId(c: Context): string | undefined {
  const env = c.env as { lambdaContext?: { awsRequestId?: unknown } } | undefined;
  const id = env?.lambdaContext?.awsRequestId;
  return typeof id === 'string' ? id : undefined;
}
