// The operator plane's shapes: a grant with its issuer, a lock, a pending approval, and the pages that list them.
// Must never show an approver's link, a confirmation code, or a held statement's text to someone who cannot decide it.

import { z } from 'zod';
import { AuditEvent } from './audit.ts';
import { Grant } from './grant.ts';

const Instant = z.iso.datetime({ offset: false });

export const AdminGrant = Grant.extend({
  issuer: z.string().meta({ description: 'The issuer of the requester’s identity token.' }),
}).meta({ id: 'AdminGrant' });

export const Lock = z
  .object({
    id: z.string(),
    subject: z.string().optional().meta({ description: 'The subject it covers (exactly).' }),
    issuer: z.string().optional().meta({ description: 'Narrows the subject to one issuer.' }),
    connection: z.string().optional().meta({ description: 'The connection it covers.' }),
    reason: z.string(),
    by: z.string().meta({ description: 'The operator who placed it.' }),
    createdAt: Instant,
    expiresAt: Instant.optional().meta({ description: 'When it ends by itself (its ttl).' }),
    liftedAt: Instant.optional(),
    liftedBy: z.string().optional(),
    liftReason: z.string().optional(),
  })
  .meta({ id: 'Lock' });

export const LockOutcome = z
  .object({
    lock: Lock,
    revoked: z.array(z.string()).meta({ description: 'The grants it revoked (roles dropped, sessions ended).' }),
    denied: z.array(z.string()).meta({ description: 'The pending requests it denied.' }),
  })
  .meta({ id: 'LockOutcome' });

export const Approval = z
  .object({
    id: z.string().meta({ description: 'The approval’s id, as in the 202 of a held statement.' }),
    kind: z.enum(['grant', 'statement']),
    status: z.string(),
    grantId: z.string(),
    requester: z.object({ subject: z.string(), email: z.string().nullable() }),
    connection: z.string(),
    access: z.string(),
    ttlSeconds: z.number().int(),
    reason: z.string(),
    rule: z.string(),
    statement: z
      .object({
        kind: z.string(),
        fingerprint: z.string(),
        normalizedSql: z.string(),
        tables: z.array(z.string()),
        guardrail: z.string(),
        heldBecause: z.string(),
        sql: z.string().optional().meta({ description: 'The exact text, shown to those who may decide it.' }),
      })
      .nullable(),
    approvers: z.array(z.string()),
    required: z.number().int(),
    approvals: z.number().int(),
    decisions: z.array(
      z.object({
        by: z.string(),
        decision: z.enum(['approved', 'denied']),
        at: z.string(),
        reason: z.string().optional(),
      }),
    ),
    createdAt: z.string(),
    deadline: z.string(),
    decidedAt: z.string().nullable(),
    canDecide: z.boolean().meta({ description: 'Whether the caller may approve or deny it.' }),
  })
  .catchall(z.unknown())
  .meta({ id: 'Approval' });

export const AdminGrantPage = z.object({ grants: z.array(AdminGrant), next: z.string().optional() });
export const AuditPage = z.object({ events: z.array(AuditEvent), next: z.string().optional() });
