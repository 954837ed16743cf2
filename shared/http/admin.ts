// /v1/admin: the operator plane over HTTP — grants of every subject, locks, pending approvals, the audit.
// Must never act before the caller's role is checked: 403 `forbidden` comes before any body is read.

import { createRoute, type RouteConfig, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { AdminGrant, AdminGrantPage, Approval, AuditPage, Grant, Lock, LockOutcome } from '../api/index.ts';
import { publicGrant } from '../grants/index.ts';
import type { IdentityVerifier } from '../identity/index.ts';
import {
  ApprovalDecisionBody,
  AuditQuery,
  adminGrant,
  GrantListQuery,
  LockRequest,
  type OperatorPlane,
  publicLock,
  ReasonBody,
} from '../operators/index.ts';
import { type AppEnv, errorResponses, type Routes } from './app.ts';
import { identityAuth } from './auth.ts';

export interface AdminRoutesOptions {
  identity: IdentityVerifier;
  plane: OperatorPlane;
}

type Right = Parameters<OperatorPlane['authorize']>[1];

const Id = (what: string) =>
  z.object({
    id: z
      .string()
      .min(1)
      .max(64)
      .meta({ description: `The ${what} id.` }),
  });
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const body = <T extends z.ZodType>(schema: T) => ({
  body: { required: true, content: { 'application/json': { schema } } },
});

export function adminRoutes(options: AdminRoutesOptions): Routes {
  const { plane } = options;
  const auth = identityAuth(options.identity);
  /** Identity first, then the right: a caller without it is refused before anything else is read. */
  const guard = (right: Right): [MiddlewareHandler<AppEnv>, MiddlewareHandler<AppEnv>] => [
    auth,
    async function authorize(c, next) {
      await plane.authorize(c.get('principal'), right);
      await next();
    },
  ];
  const route = <R extends Omit<RouteConfig, 'security' | 'tags'>>(config: R) =>
    createRoute({ ...config, tags: ['operators'], security: [{ identityToken: [] }] });

  return (app) => {
    app.openapi(
      route({
        method: 'get',
        path: '/v1/admin/grants',
        operationId: 'adminListGrants',
        summary: "Every subject's grants, newest first (auditors, operators)",
        middleware: guard('read'),
        request: { query: GrantListQuery },
        responses: { 200: json(AdminGrantPage, 'A page of grants'), ...errorResponses(400, 401, 403, 503) },
      }),
      async (c) => c.json(await plane.listGrants(c.get('principal'), c.req.valid('query')), 200),
    );

    app.openapi(
      route({
        method: 'delete',
        path: '/v1/admin/grants/{id}',
        operationId: 'adminRevokeGrant',
        summary: 'Revoke any grant now, with a reason (operators)',
        middleware: guard('operate'),
        request: { params: Id('grant'), ...body(ReasonBody) },
        responses: {
          200: json(z.object({ grant: AdminGrant }), 'Revoked'),
          ...errorResponses(400, 401, 403, 404, 503),
        },
      }),
      async (c) => {
        const grant = await plane.revokeGrant(c.get('principal'), c.req.valid('param').id, c.req.valid('json').reason);
        return c.json({ grant: adminGrant(grant) }, 200);
      },
    );

    app.openapi(
      route({
        method: 'post',
        path: '/v1/admin/locks',
        operationId: 'adminCreateLock',
        summary: 'Lock a subject and/or a connection: revoke and deny everything it covers, refuse new requests',
        description:
          'Answers only after every live grant the lock covers is revoked (roles dropped, sessions ended) and every ' +
          'pending request denied. A lock that holds but could not end everything answers 503 with what it did.',
        middleware: guard('operate'),
        request: body(LockRequest),
        responses: { 201: json(LockOutcome, 'The lock, and what it ended'), ...errorResponses(400, 401, 403, 503) },
      }),
      async (c) => {
        const outcome = await plane.createLock(c.get('principal'), c.req.valid('json'));
        return c.json({ lock: publicLock(outcome.lock), revoked: outcome.revoked, denied: outcome.denied }, 201);
      },
    );

    app.openapi(
      route({
        method: 'get',
        path: '/v1/admin/locks',
        operationId: 'adminListLocks',
        summary: 'The locks in force (auditors, operators)',
        middleware: guard('read'),
        request: { query: z.strictObject({}) },
        responses: { 200: json(z.object({ locks: z.array(Lock) }), 'Active locks'), ...errorResponses(401, 403, 503) },
      }),
      async (c) => c.json({ locks: (await plane.listLocks(c.get('principal'))).map(publicLock) }, 200),
    );

    app.openapi(
      route({
        method: 'delete',
        path: '/v1/admin/locks/{id}',
        operationId: 'adminLiftLock',
        summary: 'Lift a lock, with a reason (operators)',
        middleware: guard('operate'),
        request: { params: Id('lock'), ...body(ReasonBody) },
        responses: { 200: json(z.object({ lock: Lock }), 'Lifted'), ...errorResponses(400, 401, 403, 404, 409, 503) },
      }),
      async (c) => {
        const lock = await plane.liftLock(c.get('principal'), c.req.valid('param').id, c.req.valid('json').reason);
        return c.json({ lock: publicLock(lock) }, 200);
      },
    );

    app.openapi(
      route({
        method: 'get',
        path: '/v1/admin/approvals',
        operationId: 'adminListApprovals',
        summary: 'Pending grant and statement approvals: all of them for auditors, those an approver may decide',
        middleware: guard('read-approvals'),
        request: { query: z.strictObject({}) },
        responses: {
          200: json(z.object({ approvals: z.array(Approval) }), 'Pending approvals'),
          ...errorResponses(401, 403, 503),
        },
      }),
      async (c) => c.json({ approvals: await plane.listApprovals(c.get('principal')) }, 200),
    );

    app.openapi(
      route({
        method: 'post',
        path: '/v1/admin/approvals/{id}',
        operationId: 'adminDecideApproval',
        summary: 'Approve or deny as a signed-in approver (never the requester; same rules as the email link)',
        middleware: guard('decide'),
        request: { params: Id('approval'), ...body(ApprovalDecisionBody) },
        responses: {
          200: json(z.object({ approval: Approval, grant: Grant.optional() }), 'Recorded'),
          ...errorResponses(400, 401, 403, 404, 409, 410, 503),
        },
      }),
      async (c) => {
        const { approval, grant } = await plane.decideApproval(
          c.get('principal'),
          c.req.valid('param').id,
          c.req.valid('json'),
        );
        return c.json({ approval, ...(grant ? { grant: publicGrant(grant) } : {}) }, 200);
      },
    );

    app.openapi(
      route({
        method: 'get',
        path: '/v1/admin/audit',
        operationId: 'adminSearchAudit',
        summary: 'Audit events of every grant in time order, with filters and a cursor (auditors, operators)',
        middleware: guard('read'),
        request: { query: AuditQuery },
        responses: { 200: json(AuditPage, 'A page of events'), ...errorResponses(400, 401, 403, 503) },
      }),
      async (c) => c.json(await plane.searchAudit(c.get('principal'), c.req.valid('query')), 200),
    );
  };
}
