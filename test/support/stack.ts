// The test harness every integration suite shares: policies derived from the demo one, grants opened over HTTP,
// queries, the audit trail of a grant, a grant record builder, and ground truth read as the admin.

import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { GrantRecord } from '../../shared/grants/index.ts';
import { newId } from '../../shared/ids.ts';
import { isConnectionLost, type PgClient } from '../../shared/postgres/index.ts';
import { DEMO_POLICY_TEXT, type TestAirlock } from './airlock.ts';
import { adminClient } from './infra.ts';

/** Replaces exactly one occurrence, so a change to the demo policy cannot silently change what a test means. */
export function editPolicy(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at === -1 || text.indexOf(from, at + 1) !== -1) {
    throw new Error(`policy text: expected one ${JSON.stringify(from)}`);
  }
  return text.slice(0, at) + to + text.slice(at + from.length);
}

const WRITE_APPROVAL = '    approval: { approvers: [oncall@example.com, dba@example.com], required: 1 }\n';

/** The demo policy with `agents-write` granted without approval; its guardrails unchanged. */
export const AUTO_WRITE_POLICY = editPolicy(DEMO_POLICY_TEXT, WRITE_APPROVAL, '');

export function withLimits(policyText: string, limits: string): string {
  return editPolicy(
    policyText,
    'limits: { maxRows: 1000, statementTimeout: 30s, approvalTimeout: 1h }',
    `limits: { ${limits} }`,
  );
}

export interface OpenGrant {
  id: string;
  /** The grant token, for /v1/query. */
  token: string;
  /** The requester's identity token, for /v1/grants/{id} and its audit. */
  identity: string;
  expiresAt: string;
}

export interface OpenGrantOptions {
  access?: 'read' | 'write';
  ttl?: number;
  subject?: string;
  reason?: string;
}

/** An active grant on `shop`, asked for over HTTP by a fresh agent (writers are in `finance`). */
export async function openGrant(
  stack: TestAirlock,
  options: OpenGrantOptions | 'read' | 'write' = {},
): Promise<OpenGrant> {
  const {
    access = 'read',
    ttl = 600,
    subject,
    reason = 'test suite',
  } = typeof options === 'string' ? { access: options } : options;
  const identity = await stack.token(
    subject ?? `agent:${access}-${randomBytes(3).toString('hex')}`,
    access === 'write' ? ['finance'] : [],
  );
  const response = await stack.call('POST', '/v1/grants', {
    token: identity,
    body: { connection: 'shop', access, ttl, reason },
  });
  if (response.status !== 201) throw new Error(`grant: ${response.status} ${JSON.stringify(response.body)}`);
  return { id: response.body.grant.id, token: response.body.token, identity, expiresAt: response.body.grant.expiresAt };
}

export function query(stack: TestAirlock, token: string | undefined, body: unknown) {
  return stack.call('POST', '/v1/query', { token, body });
}

export interface StatementEvent {
  id: string;
  seq: number;
  decision: 'executed' | 'blocked' | 'held' | 'failed';
  fingerprint: string | null;
  normalizedSql: string | null;
  rowCount: number | null;
  maskedColumns: string[];
  guardrail?: string;
  error?: { code: string; sqlstate?: string; message?: string; position?: number };
  [field: string]: unknown;
}

export async function auditTrail(
  stack: TestAirlock,
  grant: Pick<OpenGrant, 'id' | 'identity'>,
): Promise<{ events: Array<Record<string, unknown>>; verified: boolean }> {
  const response = await stack.call('GET', `/v1/grants/${grant.id}/audit`, { token: grant.identity });
  expect(response.status).toBe(200);
  return response.body;
}

/** The grant's statement events, from a chain that verifies. */
export async function statementEvents(
  stack: TestAirlock,
  grant: Pick<OpenGrant, 'id' | 'identity'>,
): Promise<StatementEvent[]> {
  const trail = await auditTrail(stack, grant);
  expect(trail.verified).toBe(true);
  return trail.events.filter((event) => event.type === 'statement') as StatementEvent[];
}

/**
 * The grant's statement events are exactly these decisions, in order; every parsed statement carries
 * its fingerprint and normalized text. Returns the events for further checks.
 */
export async function expectStatementEvents(
  stack: TestAirlock,
  grant: OpenGrant,
  decisions: StatementEvent['decision'][],
): Promise<StatementEvent[]> {
  const events = await statementEvents(stack, grant);
  expect(events.map((event) => event.decision)).toEqual(decisions);
  for (const event of events) {
    // Unparsed statements, and attempts after the window (recorded without reading the body), carry no fingerprint.
    const unparsed = ['sql_syntax', 'multiple_statements', 'grant_expired', 'grant_revoked'];
    if (unparsed.includes(event.error?.code ?? '') && event.decision !== 'failed') continue;
    expect(event.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(typeof event.normalizedSql).toBe('string');
  }
  return events;
}

/** One admin session for a piece of work: ground truth is read as the admin, never through Airlock. */
export async function withAdmin<T>(work: (admin: PgClient) => Promise<T>): Promise<T> {
  const admin = await adminClient();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}

export async function adminQuery<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  return withAdmin(async (admin) => (await admin.query(sql, params)).rows as T[]);
}

/** Row count and a digest of every row of `public.orders`: any change to the table changes it. */
export async function ordersChecksum(): Promise<{ n: number; digest: string }> {
  const [row] = await adminQuery<{ n: number; digest: string }>(
    `SELECT count(*)::int AS n, md5(string_agg(concat_ws(':', id, customer_id, total, status, created_at), ',' ORDER BY id)) AS digest FROM public.orders`,
  );
  return row!;
}

export interface RawCustomer {
  id: number;
  name: string;
  email: string;
  phone: string;
  card_number: string;
  ssn: string;
}

let rawCustomers: Promise<RawCustomer[]> | undefined;

/** The seeded customers as stored, read as the admin: the values no response may contain. */
export function seededCustomers(): Promise<RawCustomer[]> {
  rawCustomers ??= adminQuery<RawCustomer>(
    'SELECT id, name, email, phone, card_number, ssn FROM public.customers ORDER BY id',
  );
  return rawCustomers;
}

/** Every raw email, phone, card number or SSN of the demo data that occurs in `text`. */
export async function rawValuesIn(text: string): Promise<string[]> {
  const leaks: string[] = [];
  for (const customer of await seededCustomers()) {
    for (const value of [customer.email, customer.phone, customer.card_number, customer.ssn]) {
      if (text.includes(value)) leaks.push(value);
    }
  }
  return leaks;
}

/** A schema name no other test uses. */
export const uniqueSchema = (prefix = 'q') => `${prefix}_${randomBytes(4).toString('hex')}`;

/** A stored grant record, pending by default, for tests that write the store directly. */
export function grantRecord(overrides: Partial<GrantRecord> = {}): GrantRecord {
  const requestedAt = new Date();
  const dueAt = new Date(requestedAt.getTime() + 120_000);
  return {
    id: newId(),
    status: 'pending',
    subject: 'agent:store',
    issuer: 'http://127.0.0.1/dev',
    email: null,
    connection: 'shop',
    access: 'read',
    reason: 'store fidelity',
    rule: 'agents-read',
    ttlSeconds: 600,
    requestedAt: requestedAt.toISOString(),
    activatedAt: null,
    expiresAt: null,
    approvalDeadline: null,
    approval: null,
    decisions: [],
    role: 'airlock_x',
    target: null,
    sweep: 'pending',
    dueAt: dueAt.toISOString(),
    ttl: Math.floor(dueAt.getTime() / 1000) + 30 * 86400,
    ...overrides,
  };
}

/** The session was cut off (its backend terminated or its socket closed): the next statement fails as a lost connection. */
export async function expectSessionEnded(session: PgClient): Promise<void> {
  const outcome = await session.query('SELECT 1').then(
    () => 'answered',
    (error: unknown) => error,
  );
  expect(outcome).not.toBe('answered');
  expect(isConnectionLost(outcome)).toBe(true);
}
