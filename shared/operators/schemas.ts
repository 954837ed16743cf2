// The operator plane's request shapes (bodies and query strings), one zod schema each, parsed at the edge.
// Must never echo a value back in an issue: messages name the field only.

import { z } from 'zod';
import { AUDIT_EVENT_TYPES } from '../audit/index.ts';
import { GRANT_STATUSES } from '../grants/index.ts';
import { parseDuration } from '../policy/index.ts';

const Reason = z.string().trim().min(1, 'a reason is required').max(1000);

/** An ISO 8601 instant with a zone, normalised to UTC (the form every stored time has). */
const Instant = z
  .string()
  .max(40)
  .refine((value) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(value), {
    message: 'expected an ISO 8601 time with a zone, e.g. 2030-01-31T12:00:00Z',
  })
  .transform((value, ctx) => {
    const at = new Date(value);
    if (Number.isNaN(at.getTime())) {
      ctx.addIssue({ code: 'custom', message: 'not a valid time' });
      return z.NEVER;
    }
    return at.toISOString();
  });

const Limit = z
  .string()
  .regex(/^\d{1,4}$/, 'expected a whole number from 1 to 500')
  .transform(Number)
  .pipe(z.number().int().min(1, 'expected a whole number from 1 to 500').max(500, 'at most 500'))
  .default(100);

const Cursor = z.string().min(1).max(512);

/** Every operator action that changes something says why. */
export const ReasonBody = z.strictObject({ reason: Reason });

/** POST /v1/admin/locks. */
export const LockRequest = z
  .strictObject({
    subject: z.string().trim().min(1).max(256).optional(),
    issuer: z.string().trim().min(1).max(512).optional(),
    connection: z.string().trim().min(1).max(128).optional(),
    reason: Reason,
    ttl: z
      .union([z.number(), z.string().max(16)])
      .transform((value, ctx) => {
        const seconds = parseDuration(value);
        if (seconds === undefined || seconds < 1) {
          ctx.addIssue({ code: 'custom', message: 'expected seconds or a duration like 30m' });
          return z.NEVER;
        }
        return seconds;
      })
      .optional(),
  })
  .refine((body) => body.subject !== undefined || body.connection !== undefined, {
    message: 'name a subject, a connection, or both',
  })
  .refine((body) => body.issuer === undefined || body.subject !== undefined, {
    message: 'an issuer narrows a subject: give the subject too',
    path: ['issuer'],
  });
export type LockRequest = z.infer<typeof LockRequest>;

/** POST /v1/admin/approvals/{id}. */
export const ApprovalDecisionBody = z.strictObject({ decision: z.enum(['approve', 'deny']), reason: Reason });
export type ApprovalDecisionBody = z.infer<typeof ApprovalDecisionBody>;

/** GET /v1/admin/grants. */
export const GrantListQuery = z.strictObject({
  status: z.enum(GRANT_STATUSES).optional(),
  subject: z.string().min(1).max(256).optional(),
  connection: z.string().min(1).max(128).optional(),
  since: Instant.optional(),
  limit: Limit,
  next: Cursor.optional(),
});
export type GrantListQuery = z.infer<typeof GrantListQuery>;

/** GET /v1/admin/audit. */
export const AuditQuery = z.strictObject({
  since: Instant.optional(),
  until: Instant.optional(),
  subject: z.string().min(1).max(256).optional(),
  grantId: z.string().min(1).max(128).optional(),
  type: z.enum(AUDIT_EVENT_TYPES).optional(),
  decision: z.enum(['executed', 'blocked', 'held', 'failed']).optional(),
  limit: Limit,
  next: Cursor.optional(),
});
export type AuditQuery = z.infer<typeof AuditQuery>;
