// The API's Grant as the CLI reads it (API.md "Grant"), and the few lines that describe one.
// Parsed loosely at the edge: unknown fields pass through, a missing core field is an error.

import { CliError } from './exit.ts';
import { clock, formatSeconds, type Style } from './render.ts';

export interface Grant {
  id: string;
  status: 'pending' | 'active' | 'denied' | 'expired' | 'revoked';
  subject: string;
  connection: string;
  access: string;
  reason: string;
  rule: string;
  ttlSeconds: number;
  requestedAt: string;
  activatedAt: string | null;
  expiresAt: string | null;
  approvalDeadline?: string | null;
  approval?: { required: number; approvers: number } | null;
  decisions: Array<{ by: string; decision: string; at: string; reason?: string }>;
}

export function readGrant(body: unknown): { grant: Grant; token?: string } {
  const value = body as { grant?: Partial<Grant>; token?: unknown } | null;
  const grant = value?.grant;
  if (!grant || typeof grant.id !== 'string' || typeof grant.status !== 'string')
    throw new CliError('Airlock answered without a grant');
  return { grant: grant as Grant, ...(typeof value.token === 'string' ? { token: value.token } : {}) };
}

export function readGrants(body: unknown): Grant[] {
  const grants = (body as { grants?: unknown } | null)?.grants;
  if (!Array.isArray(grants)) throw new CliError('Airlock answered without a grant list');
  return grants as Grant[];
}

/** The window is open: active and before its end, whatever the status says. */
export const isOpen = (grant: Grant, now: Date) =>
  grant.status === 'active' && grant.expiresAt !== null && Date.parse(grant.expiresAt) > now.getTime();

export function statusWord(grant: Grant, style: Style, now: Date): string {
  if (grant.status === 'active' && !isOpen(grant, now)) return style.red('ended');
  const paint = {
    active: style.green,
    pending: style.yellow,
    denied: style.red,
    expired: style.dim,
    revoked: style.dim,
  }[grant.status];
  return paint(grant.status);
}

/** What a pending grant is waiting for, in one line. */
export function waitingFor(grant: Grant, now: Date): string {
  const approvers = grant.approval
    ? `${grant.approval.required} of ${grant.approval.approvers} approver${grant.approval.approvers === 1 ? '' : 's'}`
    : 'a human approver';
  const deadline = grant.approvalDeadline ? `; request expires at ${clock(grant.approvalDeadline, now)}` : '';
  return `waiting for ${approvers} (rule ${grant.rule}) to approve grant ${grant.id}${deadline}`;
}

export function describeGrant(grant: Grant, style: Style, now: Date): string {
  const lines = [
    `grant ${style.bold(grant.id)}  ${statusWord(grant, style, now)}`,
    `  ${grant.access} on ${grant.connection} for ${formatSeconds(grant.ttlSeconds)} (rule ${grant.rule}), requested by ${grant.subject}`,
    `  reason: ${grant.reason}`,
  ];
  if (grant.activatedAt)
    lines.push(
      `  window: ${clock(grant.activatedAt, now)} → ${clock(grant.expiresAt, now)}${isOpen(grant, now) ? ` (${formatSeconds((Date.parse(grant.expiresAt!) - now.getTime()) / 1000)} left)` : ''}`,
    );
  if (grant.status === 'pending') lines.push(`  ${waitingFor(grant, now)}`);
  for (const decision of grant.decisions) {
    lines.push(
      `  ${clock(decision.at, now)}  ${decision.decision} by ${decision.by}${decision.reason ? ` — ${decision.reason}` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
