// An approval request as stored: who asks, what for, who may decide, and the decisions so far.
// A request's status only moves by a conditional write on its `version`; a time never moves it by itself.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { mailbox } from './address.ts';

export const APPROVAL_STATUSES = ['pending', 'approved', 'denied', 'expired', 'consumed'] as const;
export const ApprovalStatus = z.enum(APPROVAL_STATUSES);
export type ApprovalStatus = z.infer<typeof ApprovalStatus>;

export const ApprovalDecision = z.object({
  approver: z.string(),
  decision: z.enum(['approved', 'denied']),
  at: z.string(),
  reason: z.string().optional(),
});
export type ApprovalDecision = z.infer<typeof ApprovalDecision>;

/** What a held statement is bound to (grant, fingerprint, keyed hash of text + params) and what the page shows. */
export const HeldStatementView = z.object({
  fingerprint: z.string(),
  paramsHash: z.string(),
  kind: z.string(),
  normalizedSql: z.string(),
  sql: z.string(),
  tables: z.array(z.string()),
  guardrail: z.string(),
  /** Why the guardrail held it, e.g. "DELETE without WHERE". */
  heldBecause: z.string(),
  /** The bound parameters as approvers see them: masked where they meet a masked column, or where that cannot be told. */
  params: z
    .array(
      z.object({
        position: z.number().int().min(1),
        shown: z.string(),
        /** The strategy it was masked with, `undecided` when its column could not be told, null when shown as sent. */
        masked: z.string().nullable(),
      }),
    )
    .default([]),
});
export type HeldStatementView = z.infer<typeof HeldStatementView>;

export const ApprovalRequest = z.object({
  /** `grant-<grantId>`, or `stmt-<hash of grant, fingerprint, paramsHash>`: re-sending a statement finds its item. */
  id: z.string(),
  /** Starts at 1; a statement's item is reused by a new hold after the previous one was consumed, denied or expired. */
  generation: z.number().int().min(1),
  /** Bumped by every write; each write is conditional on the version it read. */
  version: z.number().int().min(0),
  kind: z.enum(['grant', 'statement']),
  status: ApprovalStatus,
  grantId: z.string(),
  statement: HeldStatementView.nullable(),
  /** Emails, lower-case, groups already expanded. */
  approvers: z.array(z.string()).min(1),
  required: z.number().int().min(1),
  decisions: z.array(ApprovalDecision),
  /** `jti` of every link that decided: a link decides once. */
  usedLinks: z.array(z.string()),
  /** Wrong confirmation codes typed per link (`jti`); a link locks at MAX_CODE_FAILURES. */
  codeFailures: z.record(z.string(), z.number().int().min(1)).default({}),
  requester: z.object({ subject: z.string(), email: z.string().nullable() }),
  connection: z.string(),
  access: z.string(),
  ttlSeconds: z.number().int(),
  /** The requester's reason for the grant. */
  reason: z.string(),
  rule: z.string(),
  /** The grant's window end, for a statement on an active grant. */
  grantExpiresAt: z.string().nullable(),
  createdAt: z.string(),
  deadline: z.string(),
  decidedAt: z.string().nullable(),
  consumedAt: z.string().nullable(),
  /** When every approver was emailed; null until then, so a failed send is retried on the next re-send. */
  notifiedAt: z.string().nullable(),
  ttl: z.number().int(),
});
export type ApprovalRequest = z.infer<typeof ApprovalRequest>;

/** The public name of one generation of a request: what links, audit events and the 202 body carry. */
export const approvalRef = (request: Pick<ApprovalRequest, 'id' | 'generation'>) =>
  `${request.id}.${request.generation}`;

const REF = /^((?:grant|stmt)-[0-9a-z]{20,64})\.([1-9][0-9]{0,8})$/;

export function parseApprovalRef(ref: string): { id: string; generation: number } | null {
  const match = REF.exec(ref);
  return match ? { id: match[1]!, generation: Number(match[2]) } : null;
}

export const grantApprovalId = (grantId: string) => `grant-${grantId}`;

/** Deterministic, so the same statement on the same grant finds the same hold; reveals nothing (paramsHash is keyed). */
export function statementApprovalId(grantId: string, fingerprint: string, paramsHash: string): string {
  return `stmt-${createHash('sha256').update(`${grantId}\n${fingerprint}\n${paramsHash}`).digest('hex').slice(0, 40)}`;
}

/** Wrong confirmation codes after which a link is locked: 5 guesses at a 30-bit code. */
export const MAX_CODE_FAILURES = 5;

/** Approvers and requester compare as mailboxes (case, `+tag`); a requester is matched by email and by subject. */
export function isRequester(request: Pick<ApprovalRequest, 'requester'>, approver: string): boolean {
  const who = mailbox(approver);
  const { email, subject } = request.requester;
  return (email !== null && who === mailbox(email)) || who === mailbox(subject);
}

/** Distinct people who approved: two addresses of one mailbox are one approval. */
export const approvalsGiven = (request: Pick<ApprovalRequest, 'decisions'>) =>
  new Set(request.decisions.filter((d) => d.decision === 'approved').map((d) => mailbox(d.approver))).size;
