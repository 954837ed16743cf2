import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalRequests } from '../../shared/approvals/requests.ts';
import { createApprovalStore } from '../../shared/approvals/store.ts';
import { createGrantStore } from '../../shared/grants/store.ts';
import { parseOne } from '../../shared/sql/parse.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dynamo } from '../support/infra.ts';
import { openGrant, query } from '../support/stack.ts';
import {
  AGENT,
  APPROVER,
  AUDITOR,
  CONSOLE_POLICY,
  callbackAs,
  consoleCall,
  csrfOf,
  OPERATOR,
  type Person,
  type Session,
  signIn,
} from './support.ts';

let stack: TestAirlock;
let operator: Session;
let operatorToken: string;

beforeAll(async () => {
  stack = await startTestAirlock({ policyText: CONSOLE_POLICY });
  operator = await signIn(stack, OPERATOR);
  operatorToken = await stack.token(OPERATOR.sub, OPERATOR.groups, { email: OPERATOR.email! });
});

afterAll(async () => {
  await stack?.airlock.sweep();
  await stack?.close();
});

/** The grant as the API shows it to an operator. */
async function adminGrant(id: string) {
  const response = await stack.call('GET', '/v1/admin/grants?limit=500', { token: operatorToken });
  expect(response.status).toBe(200);
  return (response.body.grants as Array<{ id: string; status: string }>).find((grant) => grant.id === id);
}

async function activeLocks() {
  const response = await stack.call('GET', '/v1/admin/locks', { token: operatorToken });
  expect(response.status).toBe(200);
  return response.body.locks as Array<{ id: string; reason: string }>;
}

describe('sign-in and the session cookie', () => {
  it('the session cookie is HttpOnly, SameSite=Strict, path /, bounded by the ID token, and not Secure over http', () => {
    const line = operator.setCookies.find((cookie) => cookie.startsWith('airlock-console='))!;
    const attributes = line.split(';').map((part) => part.trim().toLowerCase());
    expect(attributes).toContain('httponly');
    expect(attributes).toContain('samesite=strict');
    expect(attributes).toContain('path=/');
    expect(attributes).not.toContain('secure');
    const maxAge = Number(attributes.find((part) => part.startsWith('max-age='))?.slice('max-age='.length));
    // The dev issuer's ID token lives an hour; the session never outlives it.
    expect(maxAge).toBeGreaterThan(3500);
    expect(maxAge).toBeLessThanOrEqual(3600);
    // The sign-in in progress is Lax (it comes back with the issuer's redirect) and cleared at the callback.
    expect(operator.loginCookie.toLowerCase()).toMatch(/httponly/);
    expect(operator.loginCookie.toLowerCase()).toMatch(/samesite=lax/);
    expect(operator.setCookies.some((cookie) => /^airlock-console-login=;.*max-age=0/i.test(cookie))).toBe(true);
  });

  it('a callback whose state is not the one this browser started signs no one in', async () => {
    const login = await fetch(`${stack.baseUrl}/console/login`, { redirect: 'manual' });
    const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
    const authorize = new URL(login.headers.get('location')!);
    const form = new URLSearchParams(authorize.searchParams);
    form.set('sub', OPERATOR.sub);
    form.set('groups', 'security');
    const decided = await fetch(`${stack.baseUrl}/dev/authorize`, { method: 'POST', body: form, redirect: 'manual' });
    const callback = new URL(decided.headers.get('location')!);
    callback.searchParams.set('state', 'x'.repeat(43));
    const forged = await fetch(callback, { headers: { cookie }, redirect: 'manual' });
    expect(forged.status).toBe(401);
    expect(
      forged.headers.getSetCookie().some((line) => line.startsWith('airlock-console=') && !/max-age=0/i.test(line)),
    ).toBe(false);
    // Without the login cookie (another browser), the right state is refused as well.
    callback.searchParams.set('state', authorize.searchParams.get('state')!);
    const elsewhere = await fetch(callback, { redirect: 'manual' });
    expect(elsewhere.status).toBe(401);
  });

  it('a sign-in code is good once: replaying the callback signs no one in', async () => {
    const login = await fetch(`${stack.baseUrl}/console/login`, { redirect: 'manual' });
    const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
    const form = new URLSearchParams(new URL(login.headers.get('location')!).searchParams);
    form.set('sub', OPERATOR.sub);
    const decided = await fetch(`${stack.baseUrl}/dev/authorize`, { method: 'POST', body: form, redirect: 'manual' });
    const callback = decided.headers.get('location')!;
    expect((await fetch(callback, { headers: { cookie }, redirect: 'manual' })).status).toBe(200);
    expect((await fetch(callback, { headers: { cookie }, redirect: 'manual' })).status).not.toBe(200);
  });

  it('a session cookie that was altered, or an API bearer token, is no session', async () => {
    const altered = { ...operator, cookie: `${operator.cookie.slice(0, -4)}AAAA` };
    const page = await consoleCall(stack, altered, 'GET', '/console/grants');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/console');
    const bearer = await consoleCall(stack, null, 'GET', '/console/grants', undefined, {
      authorization: `Bearer ${operatorToken}`,
    });
    expect(bearer.status).toBe(303);
    expect(bearer.headers.get('location')).toBe('/console');
  });

  it('the dev issuer only sends the browser back to this stack', async () => {
    const login = await fetch(`${stack.baseUrl}/console/login`, { redirect: 'manual' });
    const authorize = new URL(login.headers.get('location')!);
    authorize.searchParams.set('redirect_uri', 'https://evil.example/console/callback');
    expect((await fetch(authorize, { redirect: 'manual' })).status).toBe(400);
  });
});

describe('headers', () => {
  it('every console page carries a strict CSP whose hashes are exactly its inline style and script', async () => {
    for (const path of ['/console', '/console/grants', '/console/locks', '/console/approvals']) {
      const page = await consoleCall(stack, path === '/console' ? null : operator, 'GET', path);
      expect(page.status, path).toBe(200);
      const csp = page.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("form-action 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("base-uri 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      const hashOf = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
      const style = /<style>([\s\S]*?)<\/style>/.exec(page.html)![1]!;
      const script = /<script>([\s\S]*?)<\/script>/.exec(page.html)![1]!;
      expect(csp).toContain(`style-src ${hashOf(style)}`);
      expect(csp).toContain(`script-src ${hashOf(script)}`);
      expect(page.html.match(/<script/g)).toHaveLength(1);
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      expect(page.headers.get('cache-control')).toBe('no-store');
      expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });
});

describe('CSRF', () => {
  it('a revoke without the CSRF token, with a wrong one, or from another origin changes nothing', async () => {
    const grant = await openGrant(stack, 'read');
    const csrf = await csrfOf(stack, operator);
    const path = `/console/grants/${grant.id}/revoke`;
    const attempts: Array<[Record<string, string>, Record<string, string>]> = [
      [{ reason: 'no token' }, {}],
      [{ reason: 'wrong token', _csrf: `${csrf.slice(0, -2)}xx` }, {}],
      [{ reason: 'other origin', _csrf: csrf }, { origin: 'https://evil.example' }],
    ];
    for (const [form, headers] of attempts) {
      const response = await consoleCall(stack, operator, 'POST', path, form, headers);
      expect(response.status, form.reason).toBe(403);
    }
    expect((await adminGrant(grant.id))?.status).toBe('active');
    // The same form with the token does revoke: the refusals above were the CSRF check, nothing else.
    const done = await consoleCall(stack, operator, 'POST', path, { reason: 'with token', _csrf: csrf });
    expect(done.status).toBe(303);
    expect((await adminGrant(grant.id))?.status).toBe('revoked');
  });

  it('a lock without the CSRF token is not created', async () => {
    const before = await activeLocks();
    const response = await consoleCall(stack, operator, 'POST', '/console/locks', {
      subject: 'agent:nobody-csrf',
      reason: 'no token',
    });
    expect(response.status).toBe(403);
    expect(await activeLocks()).toEqual(before);
  });
});

describe('who may act', () => {
  it('an agent signed in through the same issuer reaches no console page and no console action', async () => {
    const agent = await signIn(stack, AGENT);
    const grant = await openGrant(stack, 'read');
    for (const path of ['/console/grants', `/console/grants/${grant.id}`, '/console/locks', '/console/approvals']) {
      const page = await consoleCall(stack, agent, 'GET', path);
      expect(page.status, path).toBe(403);
      expect(page.html).not.toContain(grant.id.slice(0, 12));
    }
    // Its own session's CSRF token (from the sign-out form every page has) does not make an action allowed.
    const page = await consoleCall(stack, agent, 'GET', '/console/grants');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)![1]!;
    const revoke = await consoleCall(stack, agent, 'POST', `/console/grants/${grant.id}/revoke`, {
      reason: 'agent tries',
      _csrf: csrf,
    });
    expect(revoke.status).toBe(403);
    expect((await adminGrant(grant.id))?.status).toBe('active');
    const before = await activeLocks();
    const lock = await consoleCall(stack, agent, 'POST', '/console/locks', {
      connection: 'shop',
      reason: 'agent tries',
      _csrf: csrf,
    });
    expect(lock.status).toBe(403);
    expect(await activeLocks()).toEqual(before);
  });

  it('an auditor reads grants but is shown no revoke form and cannot revoke', async () => {
    const auditor = await signIn(stack, AUDITOR);
    const grant = await openGrant(stack, 'read');
    const story = await consoleCall(stack, auditor, 'GET', `/console/grants/${grant.id}`);
    expect(story.status).toBe(200);
    expect(story.html).toContain('Chain verified');
    expect(story.html).not.toContain('Revoke this grant');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(story.html)![1]!;
    const revoke = await consoleCall(stack, auditor, 'POST', `/console/grants/${grant.id}/revoke`, {
      reason: 'auditor tries',
      _csrf: csrf,
    });
    expect(revoke.status).toBe(403);
    expect((await adminGrant(grant.id))?.status).toBe('active');
  });
});

describe('approvals', () => {
  it('a requester who is also an approver is not offered their own request, and cannot decide it', async () => {
    const identity = await stack.token('agent:dba', ['finance'], { email: 'dba@example.com' });
    const asked = await stack.call('POST', '/v1/grants', {
      token: identity,
      body: { connection: 'shop', access: 'write', ttl: 300, reason: 'my own change' },
    });
    expect(asked.status).toBe(202);
    const requester = await signIn(stack, { sub: 'agent:dba', groups: [], email: 'dba@example.com' });
    const page = await consoleCall(stack, requester, 'GET', '/console/approvals');
    expect(page.status).toBe(200);
    // The plane lists for an approver only what they may decide: their own request is not among it.
    expect(page.html).not.toContain('my own change');
    expect(page.html).not.toContain('value="approve"');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)![1]!;
    const id = `grant-${asked.body.grant.id}.1`;
    const decided = await consoleCall(stack, requester, 'POST', `/console/approvals/${id}`, {
      decision: 'approve',
      reason: 'self',
      _csrf: csrf,
    });
    expect(decided.status).toBe(403);
    const after = await stack.call('GET', `/v1/grants/${asked.body.grant.id}`, { token: identity });
    expect(after.body.grant.status).toBe('pending');
  });
});

describe('the grants list', () => {
  it('shows each grant’s role from its record, as the admin API does', async () => {
    const grant = await openGrant(stack, { subject: 'agent:listed', reason: 'listed with its role' });
    const page = await consoleCall(stack, operator, 'GET', '/console/grants?subject=agent:listed');
    expect(page.status).toBe(200);
    expect(page.html).toContain(`<code>${stack.roleOf(grant.id)}</code>`);
    expect((await adminGrant(grant.id)) as unknown).toMatchObject({ role: stack.roleOf(grant.id) });
  });

  it('shows how many statements each grant’s audit chain records, refused ones included', async () => {
    const counted = await openGrant(stack, { subject: 'agent:counted', reason: 'counted statements' });
    const idle = await openGrant(stack, { subject: 'agent:counted', reason: 'no statements' });
    expect((await query(stack, counted.token, { sql: 'SELECT 1' })).status).toBe(200);
    expect((await query(stack, counted.token, { sql: 'SELECT count(*) FROM orders' })).status).toBe(200);
    expect((await query(stack, counted.token, { sql: 'DELETE FROM orders' })).status).toBe(403);
    const page = await consoleCall(stack, operator, 'GET', '/console/grants?subject=agent:counted');
    expect(page.status).toBe(200);
    const rowOf = (id: string) => {
      const start = page.html.indexOf(`/console/grants/${id}"`);
      expect(start).toBeGreaterThan(-1);
      return page.html.slice(start, page.html.indexOf('</tr>', start));
    };
    expect(rowOf(counted.id)).toContain('<td data-label="Statements">3</td>');
    expect(rowOf(idle.id)).toContain('<td data-label="Statements">0</td>');
  });
});

describe('a held statement, as its approver and an auditor see it', () => {
  it('shows the approver its parameters masked as on the link page and who else must approve; an auditor neither', async () => {
    const identity = await stack.token('agent:params', ['finance']);
    const asked = await stack.call('POST', '/v1/grants', {
      token: identity,
      body: { connection: 'shop', access: 'write', ttl: 300, reason: 'fix an address' },
    });
    expect(asked.status).toBe(202);
    const oncall = await stack.token(APPROVER.sub, [], { email: APPROVER.email! });
    const approved = await stack.call('POST', `/v1/admin/approvals/grant-${asked.body.grant.id}.1`, {
      token: oncall,
      body: { decision: 'approve', reason: 'ok' },
    });
    expect(approved.status).toBe(200);
    const record = await createGrantStore({ client: dynamo(), table: stack.tables.grants }).get(asked.body.grant.id);
    expect(record?.status).toBe('active');
    // Recorded as the query side records a hold, on this stack's approvals table.
    const gate = createApprovalRequests({
      policy: stack.policy,
      store: createApprovalStore({ client: dynamo(), table: stack.tables.approvals }),
      now: stack.clock.now,
    }).gate;
    const held = await gate.admit({
      grant: record!,
      statement: await parseOne('UPDATE customers SET email = $1, country = $2'),
      paramsHash: `console-${asked.body.grant.id}`,
      params: ['alice.sensitive@example.org', 'PT'],
      measuredRows: 1000,
      guardrail: 'unbounded-change',
      reason: 'UPDATE without WHERE',
      approvers: ['oncall@example.com', 'dba@example.com'],
      required: 2,
    });
    expect(held.run).toBe(false);

    const approver = await signIn(stack, APPROVER);
    const page = await consoleCall(stack, approver, 'GET', '/console/approvals');
    expect(page.status).toBe(200);
    const card = page.html.slice(page.html.indexOf('UPDATE customers SET email = $1'));
    expect(card).toContain('<code>$1</code> = <code>a***@example.org</code>');
    expect(card).toContain('(masked: email)');
    expect(card).toContain('<code>$2</code> = <code>&quot;PT&quot;</code>');
    expect(card).toContain('2 more approvals, from oncall@example.com (you), dba@example.com');
    expect(page.html).toContain('1000 (measured by Airlock, then rolled back)');
    expect(page.html).not.toContain('alice.sensitive');

    const auditor = await signIn(stack, AUDITOR);
    const seen = await consoleCall(stack, auditor, 'GET', '/console/approvals');
    expect(seen.html).toContain('UPDATE customers SET email = $1');
    expect(seen.html).not.toContain('a***@example.org');
    expect(seen.html).not.toContain('Parameters');
    const listed = await stack.call('GET', '/v1/admin/approvals', {
      token: await stack.token(AUDITOR.sub, AUDITOR.groups, { email: AUDITOR.email! }),
    });
    const statement = (listed.body.approvals as Array<{ statement: Record<string, unknown> | null }>).find(
      (approval) => approval.statement?.normalizedSql !== undefined,
    )?.statement;
    expect(statement).toBeDefined();
    expect(statement).not.toHaveProperty('params');
    expect(statement).not.toHaveProperty('sql');
  });
});

describe('sign-out', () => {
  it('signing out clears the session cookie, and the browser is signed out after it', async () => {
    const session = await signIn(stack, OPERATOR);
    const csrf = await csrfOf(stack, session);
    const out = await consoleCall(stack, session, 'POST', '/console/logout', { _csrf: csrf });
    expect(out.status).toBe(303);
    const cleared = out.headers.getSetCookie().find((line) => line.startsWith('airlock-console='));
    expect(cleared).toMatch(/^airlock-console=;/);
    expect(cleared).toMatch(/Max-Age=0/i);
    // What the browser holds now: no session cookie.
    const after = await consoleCall(stack, null, 'GET', '/console/grants');
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toBe('/console');
    const landing = await consoleCall(stack, null, 'GET', '/console?notice=signed-out');
    expect(landing.html).toContain('You are signed out.');
  });

  it('signing out ends the session on the server: a copy of the cookie taken before is no session after it', async () => {
    const session = await signIn(stack, OPERATOR);
    const copy: Session = { ...session };
    const csrf = await csrfOf(stack, session);
    const grant = await openGrant(stack, { subject: 'agent:copied', reason: 'a copied cookie must not revoke this' });
    expect((await consoleCall(stack, copy, 'GET', '/console/grants')).status).toBe(200);
    expect((await consoleCall(stack, session, 'POST', '/console/logout', { _csrf: csrf })).status).toBe(303);

    const page = await consoleCall(stack, copy, 'GET', '/console/grants');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/console');
    expect((await consoleCall(stack, copy, 'GET', '/console')).html).toContain('/console/login');
    const revoke = await consoleCall(stack, copy, 'POST', `/console/grants/${grant.id}/revoke`, {
      reason: 'with a copied cookie',
      _csrf: csrf,
    });
    expect(revoke.status).toBe(401);
    expect((await adminGrant(grant.id))?.status).toBe('active');
    // Other sessions of the same person are their own: signing out in one browser ends that one only.
    expect((await consoleCall(stack, operator, 'GET', '/console/grants')).status).toBe(200);
  });

  it('a lock on the person ends their console session for good, and refuses sign-in while it holds', async () => {
    const person: Person = { sub: 'human:sec-locked', groups: ['security'], email: 'sec-locked@example.com' };
    const session = await signIn(stack, person);
    expect((await consoleCall(stack, session, 'GET', '/console/locks')).status).toBe(200);
    // A lock on the person's database access only (subject and connection) leaves their console session alone.
    const narrow = await stack.call('POST', '/v1/admin/locks', {
      token: operatorToken,
      body: { subject: person.sub, connection: 'shop', reason: 'no database for now' },
    });
    expect(narrow.status).toBe(201);
    expect((await consoleCall(stack, session, 'GET', '/console/locks')).status).toBe(200);
    const locked = await stack.call('POST', '/v1/admin/locks', {
      token: operatorToken,
      body: { subject: person.sub, reason: 'laptop stolen' },
    });
    expect(locked.status).toBe(201);

    const page = await consoleCall(stack, session, 'GET', '/console/locks');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/console');
    const { callback } = await callbackAs(stack, person);
    expect(callback.status).toBe(403);
    expect(callback.headers.getSetCookie().some((line) => line.startsWith('airlock-console='))).toBe(false);
    // Someone else's session goes on.
    expect((await consoleCall(stack, operator, 'GET', '/console/locks')).status).toBe(200);

    for (const lock of [locked, narrow]) {
      const lifted = await stack.call('DELETE', `/v1/admin/locks/${lock.body.lock.id}`, {
        token: operatorToken,
        body: { reason: 'laptop found' },
      });
      expect(lifted.status).toBe(200);
    }
    // Lifting the lock does not bring the old session back; signing in again works.
    expect((await consoleCall(stack, session, 'GET', '/console/locks')).status).toBe(303);
    const again = await signIn(stack, person);
    expect((await consoleCall(stack, again, 'GET', '/console/locks')).status).toBe(200);
  });

  it('signing out needs the CSRF token: a cross-site form cannot sign someone out', async () => {
    const response = await consoleCall(stack, operator, 'POST', '/console/logout', {});
    expect(response.status).toBe(403);
    expect(response.headers.getSetCookie().some((line) => line.startsWith('airlock-console='))).toBe(false);
  });
});
