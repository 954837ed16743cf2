// What the approval tests share: the stack's outbox read as .eml files, the link each approver got,
// and an approver's two steps (open the page, read the code; post the form) done over real HTTP.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { expect } from 'vitest';
import { parseMessage } from '../../shared/approvals/mime.ts';
import type { TestAirlock } from '../support/airlock.ts';
import { infra } from '../support/infra.ts';

export interface Email {
  file: string;
  raw: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  links: string[];
}

export const outboxDir = (stack: TestAirlock) => join(infra().dataDir, 'outbox', stack.tables.grants);

export async function outbox(stack: TestAirlock): Promise<Email[]> {
  const files = (await readdir(outboxDir(stack)).catch(() => [] as string[]))
    .filter((name) => name.endsWith('.eml'))
    .sort();
  return Promise.all(
    files.map(async (file) => {
      const raw = await readFile(join(outboxDir(stack), file), 'utf8');
      const parsed = parseMessage(raw);
      return {
        file,
        raw,
        to: parsed.headers.to ?? '',
        subject: parsed.headers.subject ?? '',
        text: parsed.text,
        html: parsed.html,
        // As /dev/outbox reads them: from the structured header, never from a body the requester writes into.
        links: parsed.headers['x-airlock-approval-link'] ? [parsed.headers['x-airlock-approval-link']] : [],
      };
    }),
  );
}

/** The approval reference a link's token carries (`grant-<id>.1`, `stmt-<hash>.<n>`). */
export function refOf(link: string): string {
  return String(decodeJwt(link.slice(link.lastIndexOf('/') + 1)).approval);
}

/** Every email whose link is for this request, by approver. */
export async function emailsFor(stack: TestAirlock, ref: string): Promise<Map<string, Email>> {
  const byApprover = new Map<string, Email>();
  for (const email of await outbox(stack)) {
    if (email.links.some((link) => refOf(link) === ref)) byApprover.set(email.to, email);
  }
  return byApprover;
}

/** The one link `approver` got for `ref`. */
export async function linkFor(stack: TestAirlock, ref: string, approver: string): Promise<string> {
  const email = (await emailsFor(stack, ref)).get(approver);
  expect(email, `an email to ${approver} for ${ref}`).toBeDefined();
  expect(email!.links).toHaveLength(1);
  return email!.links[0]!;
}

export const grantRef = (grantId: string) => `grant-${grantId}.1`;

export interface Page {
  status: number;
  html: string;
  headers: Headers;
}

export async function open(link: string): Promise<Page> {
  const response = await fetch(link, { headers: { accept: 'text/html' } });
  return { status: response.status, html: await response.text(), headers: response.headers };
}

export function codeOn(page: Page): string {
  const code = /<span class="code">([0-9A-Z]{6})<\/span>/.exec(page.html)?.[1];
  expect(code, 'the page shows a confirmation code').toBeDefined();
  return code!;
}

export async function submit(link: string, fields: Record<string, string>): Promise<Page> {
  const response = await fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: response.status, html: await response.text(), headers: response.headers };
}

/** What a person does: open the link, read the code, type it, press the button. */
export async function decide(link: string, decision: 'approve' | 'deny', reason?: string): Promise<Page> {
  const page = await open(link);
  expect(page.status, page.html).toBe(200);
  return submit(link, { decision, confirm: codeOn(page), ...(reason ? { reason } : {}) });
}

/** Headers every approval page carries, error pages included. */
export function expectPageHeaders(page: Page): void {
  expect(page.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/);
  expect(page.headers.get('referrer-policy')).toBe('no-referrer');
  expect(page.headers.get('cache-control')).toBe('no-store');
  expect(page.headers.get('x-frame-options')).toBe('DENY');
  expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  const csp = page.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("form-action 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  // One script, allowed by its hash (it shows times in local time); nothing inline runs otherwise.
  expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*'/);
  expect(csp).not.toContain('unsafe-inline');
  expect(page.html).toMatch(/^<!doctype html>\n<html lang="en">/);
  expect(page.html.match(/<script/gi) ?? []).toHaveLength(1);
}

/** Asks for write access (rule agents-write: approval needed); returns the pending grant and the requester's identity token. */
export async function requestWrite(
  stack: TestAirlock,
  options: { subject?: string; email?: string; reason?: string; ttl?: number } = {},
) {
  // A day-long identity token: tests move the clock past approval deadlines.
  const identity = await stack.token(
    options.subject ?? `agent:w-${Math.random().toString(36).slice(2, 8)}`,
    ['finance'],
    {
      ttlSeconds: 86_400,
      ...(options.email ? { email: options.email } : {}),
    },
  );
  const response = await stack.call('POST', '/v1/grants', {
    token: identity,
    body: {
      connection: 'shop',
      access: 'write',
      ttl: options.ttl ?? 600,
      reason: options.reason ?? 'fix the totals of order 42',
    },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return { grant: response.body.grant as { id: string; status: string; approvalDeadline: string }, identity };
}

export async function grantOf(stack: TestAirlock, id: string, identity: string) {
  const response = await stack.call('GET', `/v1/grants/${id}`, { token: identity });
  expect(response.status).toBe(200);
  return response.body as {
    grant: {
      id: string;
      status: string;
      decisions: Array<{ by: string; decision: string; reason?: string }>;
      expiresAt: string | null;
    };
    token?: string;
  };
}

export async function auditTypes(stack: TestAirlock, id: string, identity: string): Promise<string[]> {
  const response = await stack.call('GET', `/v1/grants/${id}/audit`, { token: identity });
  expect(response.status).toBe(200);
  expect(response.body.verified).toBe(true);
  return response.body.events.map((event: { type: string }) => event.type);
}

export { editPolicy as edit } from '../support/stack.ts';
