// GET /v1/connections: the connections and accesses the caller could request, by identity token.
// Says only what `decide` would say to this caller; never lists a connection the policy would deny it.

import { createRoute } from '@hono/zod-openapi';
import { ConnectionList } from '../api/index.ts';
import type { IdentityVerifier } from '../identity/index.ts';
import { type Policy, requestableConnections } from '../policy/index.ts';
import { errorResponses, type Routes } from './app.ts';
import { identityAuth } from './auth.ts';

export interface ConnectionRoutesOptions {
  policy: Policy;
  identity: IdentityVerifier;
}

export function connectionRoutes(options: ConnectionRoutesOptions): Routes {
  return (app) => {
    app.openapi(
      createRoute({
        method: 'get',
        path: '/v1/connections',
        operationId: 'listConnections',
        summary: 'The connections and accesses the caller could request (a dry run of the policy)',
        tags: ['grants'],
        security: [{ identityToken: [] }],
        middleware: [identityAuth(options.identity)] as const,
        responses: {
          200: {
            description: 'What policy would grant or put to approvers',
            content: { 'application/json': { schema: ConnectionList } },
          },
          ...errorResponses(401),
        },
      }),
      (c) => c.json({ connections: requestableConnections(options.policy, c.get('principal')) }, 200),
    );
  };
}
