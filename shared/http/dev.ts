// Local-mode routes: the dev identity issuer. Never mounted in AWS.
// Tokens are only minted for the local stack's own issuer, which the policy must name to trust.

import { createRoute, z } from '@hono/zod-openapi';
import type { DevIssuer } from '../identity/index.ts';
import { errorResponses, type Routes } from './app.ts';

const DevTokenBody = z
  .strictObject({
    sub: z.string().min(1).max(256),
    groups: z.array(z.string().min(1).max(128)).max(64).optional(),
    email: z.email().optional(),
    ttlSeconds: z.number().int().min(1).max(86_400).optional(),
  })
  .meta({ id: 'DevTokenRequest' });

const Jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).meta({ id: 'Jwks' });

export function devRoutes(options: { issuer: DevIssuer }): Routes {
  return (app) => {
    app.openapi(
      createRoute({
        method: 'post',
        path: '/dev/token',
        operationId: 'devToken',
        summary: 'Local stack only: an identity token from the dev issuer',
        tags: ['local'],
        security: [],
        request: { body: { required: true, content: { 'application/json': { schema: DevTokenBody } } } },
        responses: {
          200: {
            description: 'A signed identity token',
            content: { 'application/json': { schema: z.object({ token: z.string() }) } },
          },
          ...errorResponses(400, 413),
        },
      }),
      async (c) => c.json({ token: await options.issuer.issue(c.req.valid('json')) }, 200),
    );
    app.openapi(
      createRoute({
        method: 'get',
        path: '/dev/jwks.json',
        operationId: 'devJwks',
        summary: 'Local stack only: the dev issuer’s public keys',
        tags: ['local'],
        security: [],
        responses: { 200: { description: 'JWKS', content: { 'application/json': { schema: Jwks } } } },
      }),
      (c) => c.json(options.issuer.jwks() as z.infer<typeof Jwks>, 200),
    );
  };
}
