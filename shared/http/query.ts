// POST /v1/query: grant tokens only. The handler is a table of contents of the query path;
// every decision lives in shared/query.

import { createRoute } from '@hono/zod-openapi';
import { HeldStatement, QueryBody, QueryResponse } from '../api/index.ts';
import type { QueryService } from '../query/index.ts';
import { errorResponses, type Routes } from './app.ts';
import { bearerToken } from './auth.ts';

export function queryRoutes(options: { query: QueryService }): Routes {
  const { query } = options;
  return (app) => {
    app.openapi(
      createRoute({
        method: 'post',
        path: '/v1/query',
        operationId: 'query',
        summary: 'Run one statement, or a transaction, as the grant’s temporary role',
        description:
          'Each statement is parsed, guarded, run as the grant’s role, masked and audited before the answer leaves. ' +
          'A statement a guardrail holds answers 202 with the approval to wait for.',
        tags: ['query'],
        security: [{ grantToken: [] }],
        middleware: [
          async function grant(c, next) {
            c.set('grant', await query.authenticate(bearerToken(c.req.header('authorization'))));
            await next();
          },
        ] as const,
        request: { body: { required: true, content: { 'application/json': { schema: QueryBody } } } },
        responses: {
          200: {
            description: 'The result (or one per statement)',
            content: { 'application/json': { schema: QueryResponse } },
          },
          202: {
            description: 'Held for a human approval; nothing ran',
            content: { 'application/json': { schema: HeldStatement } },
          },
          ...errorResponses(400, 401, 403, 404, 409, 413, 429, 500, 503),
        },
      }),
      async (c) => {
        const outcome = await query.run(c.get('grant'), c.req.valid('json'));
        if (outcome.status === 'held') {
          const { approval, guardrail, message } = outcome;
          return c.json({ error: { code: 'approval_required' as const, message, guardrail }, approval }, 202);
        }
        return c.json(outcome.response, 200);
      },
    );
  };
}
