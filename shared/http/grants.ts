// /v1/grants: request, list, read, revoke, and the audit trail of a grant — all by identity token.
// Another subject's grant is a 404; nothing here ever reveals whether such a grant exists.

import { createRoute, z } from '@hono/zod-openapi';
import { AuditTrail, GrantList, GrantMaybeToken, GrantOnly, GrantRequestBody, GrantWithToken } from '../api/index.ts';
import type { AuditLog } from '../audit/index.ts';
import { AirlockError } from '../errors.ts';
import type { GrantService } from '../grants/index.ts';
import { publicGrant } from '../grants/index.ts';
import type { IdentityVerifier } from '../identity/index.ts';
import { ID_PATTERN } from '../ids.ts';
import type { Policy } from '../policy/index.ts';
import { errorResponses, type Routes } from './app.ts';
import { identityAuth } from './auth.ts';

export interface GrantRoutesOptions {
  policy: Policy;
  identity: IdentityVerifier;
  grants: GrantService;
  audit: AuditLog;
}

const GrantId = z.object({ id: z.string().min(1).max(64).meta({ description: 'The grant id.' }) });
const identitySecurity = [{ identityToken: [] }];

export function grantRoutes(options: GrantRoutesOptions): Routes {
  const { grants, audit, policy } = options;
  const auth = identityAuth(options.identity);
  return (app) => {
    app.openapi(
      createRoute({
        method: 'post',
        path: '/v1/grants',
        operationId: 'requestGrant',
        summary: 'Request access: policy grants it now (201), asks humans (202) or denies it (403)',
        tags: ['grants'],
        security: identitySecurity,
        middleware: [auth] as const,
        request: { body: { required: true, content: { 'application/json': { schema: GrantRequestBody } } } },
        responses: {
          201: {
            description: 'Active: the grant and its token',
            content: { 'application/json': { schema: GrantWithToken } },
          },
          202: { description: 'Pending a human approval', content: { 'application/json': { schema: GrantOnly } } },
          ...errorResponses(400, 401, 403, 413, 429, 503),
        },
      }),
      async (c) => {
        const body = c.req.valid('json');
        const result = await grants.request(c.get('principal'), {
          connection: body.connection,
          access: body.access,
          ttlSeconds: body.ttl,
          reason: body.reason,
        });
        const grant = publicGrant(result.grant);
        return result.token ? c.json({ grant, token: result.token }, 201) : c.json({ grant }, 202);
      },
    );

    app.openapi(
      createRoute({
        method: 'get',
        path: '/v1/grants',
        operationId: 'listGrants',
        summary: "The caller's own grants, newest first",
        tags: ['grants'],
        security: identitySecurity,
        middleware: [auth] as const,
        responses: {
          200: { description: 'Grants', content: { 'application/json': { schema: GrantList } } },
          ...errorResponses(401, 503),
        },
      }),
      async (c) => {
        const list = await grants.list(c.get('principal'));
        return c.json({ grants: list.map(publicGrant) }, 200);
      },
    );

    app.openapi(
      createRoute({
        method: 'get',
        path: '/v1/grants/{id}',
        operationId: 'getGrant',
        summary: 'One of your grants, with its token while it is active',
        tags: ['grants'],
        security: identitySecurity,
        middleware: [auth] as const,
        request: { params: GrantId },
        responses: {
          200: { description: 'The grant', content: { 'application/json': { schema: GrantMaybeToken } } },
          ...errorResponses(401, 404, 503),
        },
      }),
      async (c) => {
        const result = await grants.get(c.get('principal'), c.req.valid('param').id);
        return c.json({ grant: publicGrant(result.grant), ...(result.token ? { token: result.token } : {}) }, 200);
      },
    );

    app.openapi(
      createRoute({
        method: 'delete',
        path: '/v1/grants/{id}',
        operationId: 'revokeGrant',
        summary: 'Revoke: end the window now (a pending request is withdrawn)',
        tags: ['grants'],
        security: identitySecurity,
        middleware: [auth] as const,
        request: { params: GrantId },
        responses: {
          200: { description: 'Revoked', content: { 'application/json': { schema: GrantOnly } } },
          ...errorResponses(401, 404, 503),
        },
      }),
      async (c) => {
        const grant = await grants.revoke(c.get('principal'), c.req.valid('param').id);
        return c.json({ grant: publicGrant(grant) }, 200);
      },
    );

    app.openapi(
      createRoute({
        method: 'get',
        path: '/v1/grants/{id}/audit',
        operationId: 'grantAudit',
        summary: "A grant's audit trail and whether its chain verifies (the requester, an auditor or an operator)",
        tags: ['grants', 'audit'],
        security: identitySecurity,
        middleware: [auth] as const,
        request: { params: GrantId },
        responses: {
          200: { description: 'Events in order', content: { 'application/json': { schema: AuditTrail } } },
          ...errorResponses(401, 404, 503),
        },
      }),
      async (c) => {
        const principal = c.get('principal');
        const { id } = c.req.valid('param');
        // Operators have every right auditors have.
        const isAuditor = principal.groups.some(
          (group) => policy.auditors.groups.includes(group) || policy.operators.groups.includes(group),
        );
        if (!ID_PATTERN.test(id)) throw new AirlockError('not_found', `no grant ${id}`);
        if (!isAuditor) await grants.get(principal, id); // 404 unless it is the caller's own grant
        const { events, verified, reason, head } = await audit.verify(id);
        if (isAuditor && events.length === 0 && !head) throw new AirlockError('not_found', `no grant ${id}`);
        return c.json({ events, verified, ...(reason ? { reason } : {}), head }, 200);
      },
    );
  };
}
