// What the query tests share: policies derived from the demo one, grants opened over HTTP, the audit
// trail of a grant, and ground truth read with the admin client (raw sensitive values, orders checksum).

import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { DEMO_POLICY_TEXT, type TestAirlock } from '../support/airlock.ts';
import { adminClient } from '../support/infra.ts';

/** Replaces exactly one occurrence, so a change to the demo policy cannot silently change what a test means. */
function edit(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at === -1 || text.indexOf(from, at + 1) !== -1)
    throw new Error(`policy text: expected one ${JSON.stringify(from)}`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

const WRITE_APPROVAL = '    approval: { approvers: [oncall@example.com, dba@example.com], required: 1 }\n';
const UNBOUNDED_CHANGE = `  - { name: unbounded-change,  statements: [update, delete], when: no-where, action: approve,
      approvers: [oncall@example.com] }`;

/** The demo policy with `agents-write` granted without approval; its guardrails unchanged (no-ddl blocks, unbounded-change approves). */
export const AUTO_WRITE_POLICY = edit(DEMO_POLICY_TEXT, WRITE_APPROVAL, '');

/** Like AUTO_WRITE_POLICY, but an UPDATE/DELETE without WHERE is blocked outright. */
export const BLOCK_UNBOUNDED_POLICY = edit(
  AUTO_WRITE_POLICY,
  UNBOUNDED_CHANGE,
  '  - { name: no-unbounded-change, statements: [update, delete], when: no-where, action: block }',
);

export function withLimits(policyText: string, limits: string): string {
  return edit(
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

export async function openGrant(
  stack: TestAirlock,
  options: { access?: 'read' | 'write'; ttl?: number; subject?: string } = {},
): Promise<OpenGrant> {
  const access = options.access ?? 'read';
  const identity = await stack.token(
    options.subject ?? `agent:${access}-${randomBytes(3).toString('hex')}`,
    access === 'write' ? ['finance'] : [],
  );
  const response = await stack.call('POST', '/v1/grants', {
    token: identity,
    body: { connection: 'shop', access, ttl: options.ttl ?? 600, reason: 'query endpoint tests (issue 4)' },
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
  grant: OpenGrant,
): Promise<{ events: Array<Record<string, unknown>>; verified: boolean }> {
  const response = await stack.call('GET', `/v1/grants/${grant.id}/audit`, { token: grant.identity });
  expect(response.status).toBe(200);
  return response.body;
}

export async function statementEvents(stack: TestAirlock, grant: OpenGrant): Promise<StatementEvent[]> {
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
    if (
      ['sql_syntax', 'multiple_statements', 'grant_expired', 'grant_revoked'].includes(event.error?.code ?? '') &&
      event.decision !== 'failed'
    )
      continue;
    expect(event.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(typeof event.normalizedSql).toBe('string');
  }
  return events;
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
  rawCustomers ??= (async () => {
    const admin = await adminClient();
    try {
      return (await admin.query('SELECT id, name, email, phone, card_number, ssn FROM public.customers ORDER BY id'))
        .rows as RawCustomer[];
    } finally {
      await admin.end();
    }
  })();
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

export async function adminQuery<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const admin = await adminClient();
  try {
    return (await admin.query(sql, params)).rows as T[];
  } finally {
    await admin.end();
  }
}

/** Row count and a digest of every row of `public.orders`: any change to the table changes it. */
export async function ordersChecksum(): Promise<{ n: number; digest: string }> {
  const [row] = await adminQuery<{ n: number; digest: string }>(
    `SELECT count(*)::int AS n, md5(string_agg(concat_ws(':', id, customer_id, total, status, created_at), ',' ORDER BY id)) AS digest FROM public.orders`,
  );
  return row!;
}

export const uniqueSchema = () => `q_${randomBytes(4).toString('hex')}`;
