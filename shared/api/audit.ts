// Audit events as the API shows them: the core fields every event has, and the details of each type.
// One schema per event type, so writers and readers (routes, CLI, export) agree; unknown fields are kept.

import { z } from 'zod';

export const AUDIT_EVENT_TYPES = [
  'grant.requested',
  'grant.approved',
  'grant.denied',
  'grant.activated',
  'grant.revoked',
  'grant.expired',
  'statement',
  'statement.approved',
  'statement.denied',
  // An operator's lock: chained per lock (`lock-<lockId>`), since a lock is about no one grant.
  'lock.created',
  'lock.lifted',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export const STATEMENT_DECISIONS = ['executed', 'blocked', 'held', 'failed'] as const;
export type StatementDecision = (typeof STATEMENT_DECISIONS)[number];

/** Fields every event has; a detail with one of these names is refused. */
export const CORE_FIELDS = ['id', 'grantId', 'seq', 'at', 'type', 'subject', 'prevHash', 'hash'] as const;

const core = {
  id: z.string().meta({ description: '`<grantId>:<seq>`' }),
  grantId: z.string(),
  seq: z.number().int().min(1),
  at: z.string().meta({ description: 'ISO 8601 UTC' }),
  subject: z.string().meta({ description: 'Whose grant the event belongs to.' }),
  prevHash: z.string(),
  hash: z.string(),
  requestId: z.string().optional().meta({ description: 'The request that caused the event.' }),
};

/** An approver's decision on a grant or a held statement. */
const ApprovalDetails = {
  approvalId: z.string(),
  by: z.string().meta({ description: 'The approver (email) or operator who decided.' }),
  reason: z.string().optional(),
  approvals: z.number().int(),
  required: z.number().int(),
};

const StatementRef = {
  fingerprint: z.string().nullable(),
  normalizedSql: z.string().nullable().meta({ description: 'The statement with literals replaced by $n.' }),
};

/** Who ended a grant, why, and — for an operator — from which issuer and under which lock. */
const EndDetails = {
  by: z.string().meta({ description: 'The requester, an approver, an operator, `airlock` or `sweeper`.' }),
  reason: z.string().optional(),
  byIssuer: z.string().optional().meta({ description: 'The issuer of an operator who ended it.' }),
  lockId: z.string().optional().meta({ description: 'The operator’s lock that ended it.' }),
  previous: z.string().optional().meta({ description: 'The status it ended from.' }),
};

/** An operator's action on a lock. */
const LockAction = {
  lockId: z.string(),
  by: z.string(),
  byIssuer: z.string(),
  reason: z.string(),
};

export const StatementError = z.object({
  code: z.string(),
  message: z.string().optional(),
  sqlstate: z.string().optional(),
  position: z.number().int().nullable().optional(),
});

export const AUDIT_DETAILS = {
  'grant.requested': z.object({
    connection: z.string(),
    access: z.string(),
    ttlSeconds: z.number().int(),
    requestedTtlSeconds: z.number().int(),
    reason: z.string(),
    rule: z.string(),
    needsApproval: z.boolean(),
  }),
  'grant.approved': z.object(ApprovalDetails),
  'grant.denied': z.object({ ...EndDetails }),
  'grant.activated': z.object({ expiresAt: z.string().nullable(), role: z.string() }),
  'grant.revoked': z.object({ ...EndDetails }),
  'grant.expired': z.object({ previous: z.string() }),
  statement: z.object({
    ...StatementRef,
    kind: z.string().nullable(),
    tables: z.array(z.string()),
    decision: z.enum(STATEMENT_DECISIONS),
    rowCount: z.number().int().nullable(),
    durationMs: z.number().nullable(),
    maskedColumns: z.array(z.string()),
    truncated: z.boolean().optional(),
    guardrail: z.string().optional(),
    approvalId: z.string().optional(),
    error: StatementError.optional(),
  }),
  'statement.approved': z.object({ ...ApprovalDetails, ...StatementRef, guardrail: z.string() }),
  'statement.denied': z.object({ ...ApprovalDetails, ...StatementRef, guardrail: z.string() }),
  'lock.created': z.object({
    ...LockAction,
    lock: z.object({
      subject: z.string().optional(),
      issuer: z.string().optional(),
      connection: z.string().optional(),
      expiresAt: z.string().optional(),
    }),
  }),
  'lock.lifted': z.object({ ...LockAction }),
} as const satisfies Record<AuditEventType, z.ZodObject>;

export type AuditDetails<T extends AuditEventType = AuditEventType> = z.input<(typeof AUDIT_DETAILS)[T]>;

const eventOf = <T extends AuditEventType>(type: T) =>
  z.looseObject({ ...core, type: z.literal(type), ...AUDIT_DETAILS[type].shape });

export const AuditEvent = z
  .discriminatedUnion('type', [
    eventOf('grant.requested'),
    eventOf('grant.approved'),
    eventOf('grant.denied'),
    eventOf('grant.activated'),
    eventOf('grant.revoked'),
    eventOf('grant.expired'),
    eventOf('statement'),
    eventOf('statement.approved'),
    eventOf('statement.denied'),
    eventOf('lock.created'),
    eventOf('lock.lifted'),
  ])
  .meta({ id: 'AuditEvent', description: 'One link of a grant’s chain: core fields plus the details of its type.' });
/** The core fields every event has. */
export type AuditEventCore = {
  id: string;
  grantId: string;
  seq: number;
  at: string;
  subject: string;
  prevHash: string;
  hash: string;
  requestId?: string;
};

/** One event of a type: its core fields and that type's details (the schema above also keeps unknown fields). */
export type AuditEventOf<T extends AuditEventType> = AuditEventCore & { type: T } & z.output<(typeof AUDIT_DETAILS)[T]>;
export type AuditEvent = { [T in AuditEventType]: AuditEventOf<T> }[AuditEventType];

export const AuditTrail = z
  .object({
    events: z.array(AuditEvent),
    verified: z.boolean().meta({
      description: 'Whether the chain of hashes checks out and is complete up to the head the grant record keeps.',
    }),
    reason: z.string().optional().meta({ description: 'Why the chain does not verify (absent when it does).' }),
    head: z
      .object({ seq: z.number().int().min(1), hash: z.string() })
      .nullable()
      .meta({ description: "The chain's last link as anchored on the grant record (null when none is anchored)." }),
  })
  .meta({ id: 'AuditTrail' });
export type AuditTrail = z.infer<typeof AuditTrail>;
