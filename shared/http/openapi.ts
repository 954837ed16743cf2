// The public system routes: liveness, the grant tokens' public keys, and the OpenAPI 3.1 document, generated
// from the routes' own schemas (every route the app mounts, as mounted). It never reflects configuration or secrets.

import { createRoute, z } from '@hono/zod-openapi';
import type { AirlockApp, Routes } from './app.ts';

const Jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });

export interface SystemRoutesOptions {
  /** Airlock's base URL: the protected resource MCP clients and OAuth-aware tools discover. */
  publicUrl: string;
  /** The configured identity issuers: where a token for this resource comes from. */
  issuers: string[];
  /** The grant tokens' public keys (served by the API half). */
  publicJwks?: { keys: unknown[] };
}

const ProtectedResource = z
  .object({
    resource: z.string(),
    authorization_servers: z.array(z.string()),
    bearer_methods_supported: z.array(z.string()),
    resource_name: z.string(),
  })
  .meta({ id: 'ProtectedResourceMetadata', description: 'RFC 9728 protected resource metadata' });

export function systemRoutes(options: SystemRoutesOptions): Routes {
  return (app) => {
    app.openapi(
      createRoute({
        method: 'get',
        path: '/healthz',
        operationId: 'health',
        summary: 'Liveness: the process answers',
        tags: ['system'],
        security: [],
        responses: {
          200: { description: 'Alive', content: { 'application/json': { schema: z.object({ ok: z.literal(true) }) } } },
        },
      }),
      (c) => c.json({ ok: true as const }, 200),
    );
    app.openapi(
      createRoute({
        method: 'get',
        path: '/.well-known/oauth-protected-resource',
        operationId: 'protectedResource',
        summary: 'RFC 9728 metadata: this resource and the issuers whose tokens it accepts',
        tags: ['system'],
        security: [],
        responses: {
          200: {
            description: 'Protected resource metadata',
            content: { 'application/json': { schema: ProtectedResource } },
          },
        },
      }),
      (c) =>
        c.json(
          {
            resource: options.publicUrl,
            authorization_servers: options.issuers,
            bearer_methods_supported: ['header'],
            resource_name: 'Airlock',
          },
          200,
        ),
    );
    const { publicJwks } = options;
    if (!publicJwks) return;
    app.openapi(
      createRoute({
        method: 'get',
        path: '/.well-known/jwks.json',
        operationId: 'grantTokenKeys',
        summary: 'The public keys grant tokens are signed with',
        tags: ['system'],
        security: [],
        responses: { 200: { description: 'JWKS', content: { 'application/json': { schema: Jwks } } } },
      }),
      (c) => c.json(publicJwks as z.infer<typeof Jwks>, 200),
    );
  };
}

/** The OpenAPI document of everything mounted on `app`. */
export function openApiDocument(app: AirlockApp, serverUrl: string) {
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Airlock',
      version: '1',
      description: 'Just-in-time, least-privilege access to PostgreSQL for AI agents.',
    },
    servers: [{ url: serverUrl }],
    tags: [
      { name: 'grants', description: 'Ask for access, follow it, end it.' },
      { name: 'query', description: 'Run SQL with a grant token.' },
      { name: 'approvals', description: 'Decide through an emailed link.' },
      { name: 'audit', description: 'The tamper-evident trail.' },
      { name: 'mcp', description: 'The MCP server for agents.' },
      { name: 'system', description: 'Health and keys.' },
      { name: 'local', description: 'Local stack only.' },
    ],
  });
}

/** GET /openapi.json: built once, on first request, after every route is mounted. */
export function openApiRoutes(serverUrl: string): Routes {
  return (app) => {
    let document: ReturnType<typeof openApiDocument> | undefined;
    app.openapi(
      createRoute({
        method: 'get',
        path: '/openapi.json',
        operationId: 'openapi',
        summary: 'This document',
        tags: ['system'],
        security: [],
        responses: {
          200: {
            description: 'OpenAPI 3.1',
            content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
          },
        },
      }),
      (c) => {
        document ??= openApiDocument(app, serverUrl);
        return c.json(document as unknown as Record<string, unknown>, 200);
      },
    );
  };
}
