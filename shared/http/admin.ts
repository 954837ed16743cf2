// /v1/admin: the operator plane over HTTP — grants of every subject, locks, pending approvals, the audit.
// Must never act before the caller's role is checked: 403 `forbidden` comes before any body is read.

import { Hono } from 'hono';
import { z } from 'zod';
import { AirlockError } from '../errors.ts';
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
import { formatIssues } from '../policy/index.ts';
import { type Routes, readJson } from './app.ts';
import { type IdentityEnv, identityAuth } from './auth.ts';
import { parseBody } from './validate.ts';

/** Lists without filters refuse any query parameter rather than ignore a typo. */
const NoQuery = z.strictObject({});

export interface AdminRoutesOptions {
  identity: IdentityVerifier;
  plane: OperatorPlane;
}

function parseQuery<T extends z.ZodType>(schema: T, query: Record<string, string>): z.infer<T> {
  const result = schema.safeParse(query);
  if (!result.success) {
    const issues = formatIssues(result.error.issues);
    throw new AirlockError('invalid_request', `invalid query: ${issues.join('; ')}`, { issues });
  }
  return result.data;
}

export function adminRoutes(options: AdminRoutesOptions): Routes {
  const { plane } = options;
  return (app) => {
    const admin = new Hono<IdentityEnv>();
    admin.use(identityAuth(options.identity));

    admin.get('/grants', async (c) => {
      const principal = c.get('principal');
      plane.authorize(principal, 'read');
      return c.json(await plane.listGrants(principal, parseQuery(GrantListQuery, c.req.query())));
    });

    admin.delete('/grants/:id', async (c) => {
      const principal = c.get('principal');
      plane.authorize(principal, 'operate');
      const { reason } = parseBody(ReasonBody, await readJson(c.req.raw));
      return c.json({ grant: adminGrant(await plane.revokeGrant(principal, c.req.param('id'), reason)) });
    });

    admin.post('/locks', async (c) => {
      const principal = c.get('principal');
      plane.authorize(principal, 'operate');
      const outcome = await plane.createLock(principal, parseBody(LockRequest, await readJson(c.req.raw)));
      return c.json({ lock: publicLock(outcome.lock), revoked: outcome.revoked, denied: outcome.denied }, 201);
    });

    admin.get('/locks', async (c) => {
      const principal = c.get('principal');
      plane.authorize(principal, 'read');
      parseQuery(NoQuery, c.req.query());
      return c.json({ locks: (await plane.listLocks(principal)).map(publicLock) });
    });

    admin.delete('/locks/:id', async (c) => {
      const principal = c.get('principal');
      plane.authorize(principal, 'operate');
      const { reason } = parseBody(ReasonBody, await readJson(c.req.raw));
      return c.json({ lock: publicLock(await plane.liftLock(principal, c.req.param('id'), reason)) });
    });

    admin.get('/approvals', async (c) => {
      const principal = c.get('principal');
      plane.authorize(principal, 'read-approvals');
      parseQuery(NoQuery, c.req.query());
      return c.json({ approvals: await plane.listApprovals(principal) });
    });

    admin.post('/approvals/:id', async (c) => {
      const principal = c.get('principal');
      plane.authorize(principal, 'decide');
      const body = parseBody(ApprovalDecisionBody, await readJson(c.req.raw));
      const { approval, grant } = await plane.decideApproval(principal, c.req.param('id'), body);
      return c.json({ approval, ...(grant ? { grant: publicGrant(grant) } : {}) });
    });

    admin.get('/audit', async (c) => {
      const principal = c.get('principal');
      plane.authorize(principal, 'read');
      return c.json(await plane.searchAudit(principal, parseQuery(AuditQuery, c.req.query())));
    });

    app.route('/v1/admin', admin);
  };
}
