// /v1/grants: request, list, read, revoke, and the audit trail of a grant — all by identity token.
// Another subject's grant is a 404; nothing here ever reveals whether such a grant exists.

import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditLog } from '../audit/event.ts';
import { AirlockError } from '../errors.ts';
import { publicGrant } from '../grants/model.ts';
import type { GrantService } from '../grants/service.ts';
import type { IdentityVerifier } from '../identity/verify.ts';
import { ID_PATTERN } from '../ids.ts';
import { parseDuration } from '../policy/duration.ts';
import type { Policy } from '../policy/schema.ts';
import { type Routes, readJson } from './app.ts';
import { type IdentityEnv, identityAuth } from './auth.ts';
import { parseBody } from './validate.ts';

export const GrantRequestBody = z.strictObject({
  connection: z.string().min(1).max(128),
  access: z.string().min(1).max(128),
  ttl: z.union([z.number(), z.string().max(16)]).transform((value, ctx) => {
    const seconds = parseDuration(value);
    if (seconds === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected seconds or a duration like 30m' });
      return z.NEVER;
    }
    return seconds;
  }),
  reason: z.string().trim().min(1, 'a reason is required').max(1000),
});

export interface GrantRoutesOptions {
  policy: Policy;
  identity: IdentityVerifier;
  grants: GrantService;
  audit: AuditLog;
}

export function grantRoutes(options: GrantRoutesOptions): Routes {
  const { grants, audit, policy } = options;
  return (app) => {
    const v1 = new Hono<IdentityEnv>();
    v1.use(identityAuth(options.identity));

    v1.post('/', async (c) => {
      const body = parseBody(GrantRequestBody, await readJson(c.req.raw));
      const principal = c.get('principal');
      const result = await grants.request(principal, {
        connection: body.connection,
        access: body.access,
        ttlSeconds: body.ttl,
        reason: body.reason,
      });
      const grant = publicGrant(result.grant);
      return result.token ? c.json({ grant, token: result.token }, 201) : c.json({ grant }, 202);
    });

    v1.get('/', async (c) => {
      const list = await grants.list(c.get('principal'));
      return c.json({ grants: list.map(publicGrant) });
    });

    v1.get('/:id', async (c) => {
      const result = await grants.get(c.get('principal'), c.req.param('id'));
      return c.json({ grant: publicGrant(result.grant), ...(result.token ? { token: result.token } : {}) });
    });

    v1.delete('/:id', async (c) => {
      const grant = await grants.revoke(c.get('principal'), c.req.param('id'));
      return c.json({ grant: publicGrant(grant) });
    });

    v1.get('/:id/audit', async (c) => {
      const principal = c.get('principal');
      const id = c.req.param('id');
      const isAuditor = principal.groups.some((group) => policy.auditors.groups.includes(group));
      if (!ID_PATTERN.test(id)) throw new AirlockError('not_found', `no grant ${id}`);
      if (!isAuditor) await grants.get(principal, id); // 404 unless it is the caller's own grant
      const { events, verified, reason, head } = await audit.verify(id);
      if (isAuditor && events.length === 0 && !head) throw new AirlockError('not_found', `no grant ${id}`);
      return c.json({ events, verified, ...(reason ? { reason } : {}), head });
    });

    app.route('/v1/grants', v1);
  };
}
