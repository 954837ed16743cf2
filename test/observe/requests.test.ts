// Request ids and the request log line, against a real Airlock: every response carries x-request-id, every
// error body and every audit event the request caused carries the same id, and each request logs one line.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantRef, linkFor, requestWrite, submit } from '../approvals/support.ts';
import { openGrant, query } from '../query/fixtures.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { type CapturedLogs, captureLogs, requestLines } from './support.ts';

let stack: TestAirlock;
let logs: CapturedLogs;

beforeAll(async () => {
  logs = captureLogs('debug');
  stack = await startTestAirlock({ observe: { logger: logs.logger } });
});

afterAll(async () => {
  await stack?.close();
});

const HEX_ID = /^[0-9a-f]{32}$/;

/** The one log line of the request that answered with `requestId`. */
function lineOf(requestId: string) {
  const lines = requestLines(logs).filter((line) => line.requestId === requestId);
  expect(lines, `one log line for request ${requestId}`).toHaveLength(1);
  return lines[0]!;
}

describe('x-request-id', () => {
  it('is on every response: success, 404, 401, 413, the approval pages, /mcp and the probes', async () => {
    const identity = await stack.token('agent:ids');
    const responses = [
      await stack.call('GET', '/healthz'),
      await stack.call('GET', '/readyz'),
      await stack.call('GET', '/no/such/route'),
      await stack.call('GET', '/v1/grants'),
      await stack.call('GET', '/v1/grants', { token: identity }),
      await stack.call('POST', '/v1/grants', { token: identity, body: 'x'.repeat(300 * 1024) }),
      await stack.call('GET', '/v1/approvals/not-a-link'),
      await stack.call('POST', '/mcp', { body: {} }),
      await stack.call('POST', '/v1/query', { body: { sql: 'SELECT 1' } }),
    ];
    // /readyz may be 503 on a busy machine (its checks are bounded in time); it carries the header either way.
    expect(responses.map((r) => (r === responses[1] && r.status === 503 ? 200 : r.status))).toEqual([
      200, 200, 404, 401, 200, 413, 400, 401, 401,
    ]);
    for (const response of responses) expect(response.headers.get('x-request-id')).toMatch(HEX_ID);
    expect(new Set(responses.map((r) => r.headers.get('x-request-id'))).size).toBe(responses.length);
  });

  it('echoes a sane incoming id and replaces one that is too long or has unsafe characters', async () => {
    const traceHeader = 'Root=1-67891233-abcdef012345678912345678;Parent=1';
    expect(
      (await stack.call('GET', '/healthz', { headers: { 'x-request-id': 'req-42.a:b' } })).headers.get('x-request-id'),
    ).toBe('req-42.a:b');
    expect(
      (
        await stack.call('GET', '/healthz', { headers: { 'x-request-id': '7f0c2a9e-1111-4e5b-9c3d-0123456789ab' } })
      ).headers.get('x-request-id'),
    ).toBe('7f0c2a9e-1111-4e5b-9c3d-0123456789ab');
    for (const insane of [traceHeader, 'a'.repeat(129), '<script>', 'two words', '-leading-dash', '"quoted"']) {
      const response = await stack.call('GET', '/healthz', { headers: { 'x-request-id': insane } });
      expect(response.headers.get('x-request-id'), insane).toMatch(HEX_ID);
    }
  });

  it('is in every error body, equal to the header', async () => {
    const identity = await stack.token('agent:errors');
    const errors = [
      await stack.call('GET', '/nowhere'),
      await stack.call('GET', '/v1/grants/aaaaaaaaaaaaaaaaaaaa', { token: identity }),
      await stack.call('POST', '/v1/grants', { token: identity, body: { connection: 'shop' } }),
      await stack.call('POST', '/v1/grants', {
        token: identity,
        body: { connection: 'shop', access: 'admin', ttl: 60, reason: 'no such profile' },
      }),
      await stack.call('POST', '/v1/query', { token: 'not.a.token', body: { sql: 'SELECT 1' } }),
    ];
    expect(errors.map((r) => r.body.error.code)).toEqual([
      'not_found',
      'not_found',
      'invalid_request',
      'policy_denied',
      'unauthenticated',
    ]);
    for (const response of errors) expect(response.body.error.requestId).toBe(response.headers.get('x-request-id'));
  });
});

describe('the audit events a request caused carry its requestId', () => {
  it('grant request, statements (executed, blocked, failed) and revocation, each with its own request id', async () => {
    const grant = await openGrant(stack, { subject: 'agent:audit-ids' });
    const executed = await stack.call('POST', '/v1/query', {
      token: grant.token,
      body: { sql: 'SELECT count(*) FROM orders WHERE id < $1', params: [10] },
      headers: { 'x-request-id': 'caller-chosen-1' },
    });
    expect(executed.status).toBe(200);
    const blocked = await query(stack, grant.token, { sql: 'DROP TABLE orders' });
    expect(blocked.status).toBe(403);
    const failed = await query(stack, grant.token, { sql: 'SELECT no_such_column FROM orders' });
    expect(failed.status).toBe(400);
    const revoked = await stack.call('DELETE', `/v1/grants/${grant.id}`, { token: grant.identity });
    expect(revoked.status).toBe(200);

    const trail = await stack.call('GET', `/v1/grants/${grant.id}/audit`, { token: grant.identity });
    expect(trail.body.verified).toBe(true);
    const events = trail.body.events as Array<{ type: string; decision?: string; requestId?: string }>;
    const byType = (type: string, decision?: string) =>
      events.filter((event) => event.type === type && (decision === undefined || event.decision === decision));
    expect(byType('grant.requested')[0]!.requestId).toMatch(HEX_ID);
    // Activation happens inside the same request as the grant request.
    expect(byType('grant.activated')[0]!.requestId).toBe(byType('grant.requested')[0]!.requestId);
    expect(byType('statement', 'executed')[0]!.requestId).toBe('caller-chosen-1');
    expect(byType('statement', 'blocked')[0]!.requestId).toBe(blocked.headers.get('x-request-id'));
    expect(byType('statement', 'failed')[0]!.requestId).toBe(failed.headers.get('x-request-id'));
    expect(byType('grant.revoked')[0]!.requestId).toBe(revoked.headers.get('x-request-id'));
    // The request ids name the log lines of those requests, with the grant and the subject.
    const line = lineOf('caller-chosen-1');
    expect(line).toMatchObject({
      method: 'POST',
      route: '/v1/query',
      status: 200,
      grantId: grant.id,
      subject: 'agent:audit-ids',
    });
  });

  it('keeps concurrent requests apart: each statement event has the id of the request that sent it', async () => {
    const grant = await openGrant(stack, { subject: 'agent:concurrent' });
    const ids = Array.from({ length: 12 }, (_, n) => `parallel-${n}`);
    const responses = await Promise.all(
      ids.map((id, n) =>
        stack.call('POST', '/v1/query', {
          token: grant.token,
          body: { sql: `SELECT ${n} AS n, pg_sleep(0.0${n % 5})` },
          headers: { 'x-request-id': id },
        }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(ids.map(() => 200));
    const trail = await stack.call('GET', `/v1/grants/${grant.id}/audit`, { token: grant.identity });
    const statements = (trail.body.events as Array<{ type: string; id: string; requestId: string }>).filter(
      (event) => event.type === 'statement',
    );
    const auditIdOf = new Map(responses.map((r, n) => [r.body.auditId as string, ids[n]!]));
    expect(statements).toHaveLength(ids.length);
    for (const event of statements) expect(event.requestId).toBe(auditIdOf.get(event.id));
  });

  it('an approval decided through its link carries the approver request id; the log never shows the link token', async () => {
    const { grant } = await requestWrite(stack, { subject: 'agent:approved-ids' });
    const link = await linkFor(stack, grantRef(grant.id), 'oncall@example.com');
    const page = await fetch(link);
    const code = /<span class="code">([0-9A-Z]{6})<\/span>/.exec(await page.text())?.[1];
    const decided = await submit(link, { decision: 'approve', confirm: code! });
    expect(decided.status).toBe(200);
    const requestId = decided.headers.get('x-request-id');
    expect(requestId).toMatch(HEX_ID);
    expect(lineOf(requestId!)).toMatchObject({ route: '/v1/approvals/:token', status: 200, grantId: grant.id });
    const token = link.slice(link.lastIndexOf('/') + 1);
    expect(logs.text()).not.toContain(token);
    expect(logs.text()).not.toContain(token.split('.')[2]!);
  });
});

describe('one log line per request', () => {
  it('names the route pattern, status, duration, subject, grant and error code, at info; probes at debug', async () => {
    const grant = await openGrant(stack, { subject: 'agent:lines' });
    const read = await stack.call('GET', `/v1/grants/${grant.id}`, { token: grant.identity });
    const missing = await stack.call('GET', '/v1/grants/zzzzzzzzzzzzzzzzzzzz', { token: grant.identity });
    const probe = await stack.call('GET', '/healthz');
    expect(lineOf(read.headers.get('x-request-id')!)).toMatchObject({
      level: 'info',
      msg: 'GET /v1/grants/:id 200',
      method: 'GET',
      route: '/v1/grants/:id',
      status: 200,
      subject: 'agent:lines',
      grantId: grant.id,
    });
    expect(lineOf(read.headers.get('x-request-id')!).durationMs).toEqual(expect.any(Number));
    expect(lineOf(missing.headers.get('x-request-id')!)).toMatchObject({
      level: 'info',
      route: '/v1/grants/:id',
      status: 404,
      code: 'not_found',
      grantId: 'zzzzzzzzzzzzzzzzzzzz',
    });
    expect(lineOf(probe.headers.get('x-request-id')!)).toMatchObject({ level: 'debug', route: '/healthz' });
    const unmatched = await stack.call('GET', `/v1/approvals/${'x'.repeat(40)}/extra?token=secret-in-query`);
    expect(lineOf(unmatched.headers.get('x-request-id')!)).toMatchObject({ route: 'unmatched', status: 404 });
    expect(logs.text()).not.toContain('secret-in-query');
    expect(logs.text()).not.toContain('x'.repeat(40));
  });

  it('never carries the identity token, the grant token, SQL or parameters', async () => {
    const grant = await openGrant(stack, { subject: 'agent:secret-free' });
    const marker = 'param-value-7f3a91';
    await query(stack, grant.token, { sql: "SELECT 'literal-5c2e' AS x, $1::text AS y", params: [marker] });
    await query(stack, grant.token, { sql: "SELECT 'literal-5c2e' FROM nowhere_table" });
    const text = logs.text();
    for (const forbidden of [grant.token, grant.identity, marker, 'literal-5c2e', 'nowhere_table', 'SELECT']) {
      expect(text, forbidden.slice(0, 20)).not.toContain(forbidden);
    }
  });
});
