// A grant as the API shows it, and the body that asks for one: one schema each, used by routes, docs, MCP and CLI.
// Must never include the role's password, the admin secret, or approvers' addresses.

import { z } from 'zod';
import { parseDuration } from '../policy/index.ts';

export const GRANT_STATUSES = ['pending', 'active', 'denied', 'expired', 'revoked'] as const;
export const GrantStatus = z.enum(GRANT_STATUSES).meta({ id: 'GrantStatus' });
export type GrantStatus = z.infer<typeof GrantStatus>;

export const GRANT_DECISIONS = ['approved', 'denied', 'activated', 'revoked', 'expired', 'failed'] as const;

const Instant = z.iso.datetime({ offset: false });

export const GrantDecisionView = z.object({
  by: z.string().meta({ description: 'Who decided: an approver, an operator, `policy`, `airlock` or `sweeper`.' }),
  decision: z.enum(GRANT_DECISIONS),
  at: Instant,
  reason: z.string().optional(),
});

export const Grant = z
  .object({
    id: z.string(),
    status: GrantStatus,
    subject: z.string().meta({ description: 'The requester (identity token `sub`).' }),
    connection: z.string(),
    access: z.string().meta({ description: 'The profile asked for, e.g. read or write.' }),
    reason: z.string(),
    rule: z.string().meta({ description: 'The policy rule that decided.' }),
    ttlSeconds: z.number().int().meta({ description: 'The window length granted (clamped to the rule’s maxTtl).' }),
    requestedAt: Instant,
    activatedAt: Instant.nullable(),
    expiresAt: Instant.nullable().meta({ description: 'The window end; null until the grant is active.' }),
    approvalDeadline: Instant.nullable().meta({ description: 'Pending grants: when the request lapses.' }),
    approval: z
      .object({ required: z.number().int(), approvers: z.number().int() })
      .nullable()
      .meta({ description: 'How many approvals are needed, of how many approvers (a count, never the addresses).' }),
    decisions: z.array(GrantDecisionView),
  })
  .meta({ id: 'Grant' });
export type Grant = z.infer<typeof Grant>;

/** `30m`, `1h`, `45s` or a number of seconds; the policy clamps it to the rule's maxTtl. */
const Ttl = z.union([z.number(), z.string().max(16)]).transform((value, ctx) => {
  const seconds = parseDuration(value);
  if (seconds === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected seconds or a duration like 30m' });
    return z.NEVER;
  }
  return seconds;
});

export const GrantRequestBody = z
  .strictObject({
    connection: z.string().min(1).max(128),
    access: z.string().min(1).max(128),
    ttl: Ttl.meta({ description: 'Window length: seconds, or a duration like "30m" or "1h".' }),
    reason: z.string().trim().min(1, 'a reason is required').max(1000),
  })
  .meta({ id: 'GrantRequest' });
export type GrantRequestBody = z.infer<typeof GrantRequestBody>;

export const GrantWithToken = z.object({
  grant: Grant,
  token: z.string().meta({ description: 'The grant token for /v1/query (while the grant is active).' }),
});
export const GrantOnly = z.object({ grant: Grant });
export const GrantMaybeToken = z.object({ grant: Grant, token: z.string().optional() });
export const GrantList = z.object({ grants: z.array(Grant) });
