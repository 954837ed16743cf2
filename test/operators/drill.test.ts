// The incident drill: an agent's identity token leaked. An operator locks the subject in one call; every
// live grant of it ends (roles dropped, sessions cut), its pending request is denied, it cannot ask again
// until the lock is lifted or runs out, and the audit names the operator and the reason.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assembleAirlock } from '../../shared/airlock/index.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dynamo, infra, secrets, wire } from '../support/infra.ts';
import {
  auditor,
  expectTerminated,
  OPERATOR_POLICY,
  openRead,
  operator,
  person,
  requestWrite,
  roleExists,
  sessionAs,
} from './support.ts';

let stack: TestAirlock;
beforeAll(async () => {
  stack = await startTestAirlock({ policyText: OPERATOR_POLICY });
});
afterAll(async () => {
  await stack.airlock.sweep();
  await stack.close();
});

const readBody = { connection: 'shop', access: 'read', ttl: 300, reason: 'after the incident' };

describe('locking a subject', () => {
  it('ends every live grant of the subject, denies its pending request, refuses new ones, and is audited', async () => {
    const leaked = await person(stack, 'agent:demo');
    const first = await openRead(stack, 'agent:demo', leaked);
    const second = await openRead(stack, 'agent:demo', leaked);
    const pending = await requestWrite(stack, 'agent:demo');
    const bystander = await openRead(stack, 'agent:bystander');
    const sessions = [await sessionAs(stack, first.id), await sessionAs(stack, second.id)];
    const bystanderSession = await sessionAs(stack, bystander.id);

    const reader = await auditor(stack);
    const waiting = async () =>
      (await stack.call('GET', '/v1/admin/approvals', { token: reader })).body.approvals.map(
        (approval: { id: string }) => approval.id,
      );
    expect(await waiting()).toContain(`grant-${pending.id}.1`);

    const secops = await operator(stack);
    const started = performance.now();
    const locked = await stack.call('POST', '/v1/admin/locks', {
      token: secops,
      body: { subject: 'agent:demo', reason: 'identity token leaked (INC-42)' },
    });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(locked.status, JSON.stringify(locked.body)).toBe(201);
    expect(locked.body.lock).toMatchObject({
      id: expect.stringMatching(/^[0-9a-z]{20}$/),
      subject: 'agent:demo',
      reason: 'identity token leaked (INC-42)',
      by: 'person:oncall-sec',
      createdAt: expect.any(String),
    });
    expect(locked.body.lock.expiresAt).toBeUndefined();
    expect([...locked.body.revoked].sort()).toEqual([first.id, second.id].sort());
    expect(locked.body.denied).toEqual([pending.id]);
    const lockId = locked.body.lock.id as string;

    // Done before the answer: no role, no session, no token that works.
    expect(await roleExists(stack, first.id)).toBe(false);
    expect(await roleExists(stack, second.id)).toBe(false);
    await Promise.all(sessions.map(expectTerminated));
    for (const grant of [first, second]) {
      const query = await stack.call('POST', '/v1/query', { token: grant.token, body: { sql: 'SELECT 1' } });
      expect(query.status).toBe(403);
      expect(query.body.error.code).toBe('grant_revoked');
    }
    const mine = await stack.call('GET', `/v1/grants/${pending.id}`, { token: pending.identity });
    expect(mine.body.grant.status).toBe('denied');
    expect(await waiting()).not.toContain(`grant-${pending.id}.1`);
    const revoked = await stack.call('GET', `/v1/grants/${first.id}`, { token: leaked });
    expect(revoked.body.grant.status).toBe('revoked');
    expect(revoked.body.grant.decisions.at(-1)).toMatchObject({
      by: 'person:oncall-sec',
      decision: 'revoked',
      reason: 'identity token leaked (INC-42)',
    });

    // The leaked token asks again: 403 locked, with the lock's id and reason.
    const again = await stack.call('POST', '/v1/grants', { token: leaked, body: readBody });
    expect(again.status).toBe(403);
    expect(again.body.error).toMatchObject({
      code: 'locked',
      lock: { id: lockId, reason: 'identity token leaked (INC-42)' },
    });
    // A request that would wait for humans is refused too, before anything is stored or anyone is emailed.
    const asksForWrite = await person(stack, 'agent:demo', ['finance']);
    const write = await stack.call('POST', '/v1/grants', {
      token: asksForWrite,
      body: { connection: 'shop', access: 'write', ttl: 300, reason: 'sneak a write in' },
    });
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe('locked');
    expect((await stack.call('GET', '/v1/grants', { token: leaked })).body.grants).toHaveLength(3);

    // Someone else is untouched.
    expect(await roleExists(stack, bystander.id)).toBe(true);
    expect((await bystanderSession.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    await bystanderSession.end();

    // The audit names the operator and the reason: on each grant's chain and on the lock's own.
    const trail = await stack.call('GET', `/v1/grants/${first.id}/audit`, { token: reader });
    expect(trail.body.verified).toBe(true);
    expect(trail.body.events.find((event: { type: string }) => event.type === 'grant.revoked')).toMatchObject({
      type: 'grant.revoked',
      subject: 'agent:demo',
      by: 'person:oncall-sec',
      reason: 'identity token leaked (INC-42)',
      lockId,
    });
    const denial = await stack.call('GET', `/v1/admin/audit?grantId=${pending.id}&type=grant.denied`, {
      token: reader,
    });
    expect(denial.body.events).toEqual([
      expect.objectContaining({ type: 'grant.denied', by: 'person:oncall-sec', lockId }),
    ]);
    const chain = await stack.call('GET', `/v1/admin/audit?grantId=lock-${lockId}`, { token: reader });
    expect(chain.status).toBe(200);
    expect(chain.body.events).toEqual([
      expect.objectContaining({
        type: 'lock.created',
        grantId: `lock-${lockId}`,
        subject: 'person:oncall-sec',
        by: 'person:oncall-sec',
        reason: 'identity token leaked (INC-42)',
        lock: { subject: 'agent:demo' },
      }),
    ]);

    // Listed while it holds; lifting it (with a reason) lets the subject ask again.
    const listed = await stack.call('GET', '/v1/admin/locks', { token: reader });
    expect(listed.body.locks.map((lock: { id: string }) => lock.id)).toContain(lockId);
    const lifted = await stack.call('DELETE', `/v1/admin/locks/${lockId}`, {
      token: secops,
      body: { reason: 'token rotated, agent redeployed' },
    });
    expect(lifted.status).toBe(200);
    expect(lifted.body.lock).toMatchObject({
      id: lockId,
      liftedBy: 'person:oncall-sec',
      liftReason: 'token rotated, agent redeployed',
    });
    expect((await stack.call('GET', '/v1/admin/locks', { token: reader })).body.locks).toEqual([]);
    const twice = await stack.call('DELETE', `/v1/admin/locks/${lockId}`, { token: secops, body: { reason: 'again' } });
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe('conflict');
    const after = await stack.call('POST', '/v1/grants', { token: leaked, body: readBody });
    expect(after.status).toBe(201);
    const lockTrail = await stack.call('GET', `/v1/admin/audit?grantId=lock-${lockId}`, { token: reader });
    expect(lockTrail.body.events.map((event: { type: string }) => event.type)).toEqual(['lock.created', 'lock.lifted']);
    expect(lockTrail.body.events[1]).toMatchObject({
      by: 'person:oncall-sec',
      reason: 'token rotated, agent redeployed',
    });
  });

  it('ends by itself at its TTL (the clock decides, not the store)', async () => {
    const secops = await operator(stack);
    const agent = await person(stack, 'agent:ttl');
    const locked = await stack.call('POST', '/v1/admin/locks', {
      token: secops,
      body: { subject: 'agent:ttl', reason: 'cool down', ttl: '10m' },
    });
    expect(locked.status).toBe(201);
    expect(Date.parse(locked.body.lock.expiresAt) - Date.parse(locked.body.lock.createdAt)).toBe(600_000);
    expect((await stack.call('POST', '/v1/grants', { token: agent, body: readBody })).body.error.code).toBe('locked');
    stack.clock.advance(599);
    expect((await stack.call('POST', '/v1/grants', { token: agent, body: readBody })).body.error.code).toBe('locked');
    stack.clock.advance(2);
    expect((await stack.call('POST', '/v1/grants', { token: agent, body: readBody })).status).toBe(201);
    const reader = await auditor(stack);
    const active = (await stack.call('GET', '/v1/admin/locks', { token: reader })).body.locks;
    expect(active.map((lock: { id: string }) => lock.id)).not.toContain(locked.body.lock.id);
  });

  it('narrows to one issuer when asked: the same subject name from another issuer is not locked', async () => {
    const secops = await operator(stack);
    const locked = await stack.call('POST', '/v1/admin/locks', {
      token: secops,
      body: { subject: 'agent:issuer', issuer: 'https://elsewhere.example', reason: 'only theirs' },
    });
    expect(locked.status).toBe(201);
    const agent = await person(stack, 'agent:issuer');
    expect((await stack.call('POST', '/v1/grants', { token: agent, body: readBody })).status).toBe(201);
  });

  it('MCP request_access answers the locked tool error', async () => {
    const secops = await operator(stack);
    const locked = await stack.call('POST', '/v1/admin/locks', {
      token: secops,
      body: { subject: 'agent:mcp-locked', reason: 'prompt injection seen' },
    });
    const token = await person(stack, 'agent:mcp-locked');
    const client = new Client({ name: 'airlock-test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${stack.baseUrl}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    try {
      const result = (await client.callTool({
        name: 'request_access',
        arguments: { connection: 'shop', access: 'read', ttl: '5m', reason: 'try anyway' },
      })) as CallToolResult & { structuredContent: any };
      expect(result.isError).toBe(true);
      expect(result.structuredContent.error).toMatchObject({
        code: 'locked',
        lock: { id: locked.body.lock.id, reason: 'prompt injection seen' },
      });
      const tools = (await client.listTools()).tools.map((tool) => tool.name);
      expect(tools.some((name) => /lock|admin|revoke_any|approve/.test(name))).toBe(false);
    } finally {
      await client.close();
    }
  });

  it('survives a restart: a new Airlock on the same store still refuses the subject', async () => {
    const secops = await operator(stack);
    await stack.call('POST', '/v1/admin/locks', {
      token: secops,
      body: { subject: 'agent:restart', reason: 'held across deploys' },
    });
    const restarted = await assembleAirlock({
      policy: stack.policy,
      secrets: secrets(),
      dynamo: dynamo(),
      tables: stack.tables,
      wire: wire(),
      parts: { api: true, query: true },
      now: stack.clock.now,
      rolePrefix: stack.rolePrefix,
      dev: { baseUrl: stack.baseUrl, outboxDir: `${infra().dataDir}/outbox/restart` },
    });
    try {
      const response = await restarted.app.request(`${stack.baseUrl}/v1/grants`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await person(stack, 'agent:restart')}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(readBody),
      });
      expect(response.status).toBe(403);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('locked');
    } finally {
      await restarted.close();
    }
  });
});

describe('locking a connection', () => {
  it('ends every subject’s grants on it and refuses requests for it', async () => {
    const secops = await operator(stack);
    const a = await openRead(stack, 'agent:conn-a');
    const b = await openRead(stack, 'agent:conn-b');
    const locked = await stack.call('POST', '/v1/admin/locks', {
      token: secops,
      body: { connection: 'shop', reason: 'database maintenance', ttl: 60 },
    });
    expect(locked.status).toBe(201);
    expect(locked.body.revoked).toEqual(expect.arrayContaining([a.id, b.id]));
    expect(await roleExists(stack, a.id)).toBe(false);
    expect(await roleExists(stack, b.id)).toBe(false);
    const refused = await stack.call('POST', '/v1/grants', {
      token: await person(stack, 'agent:conn-c'),
      body: readBody,
    });
    expect(refused.body.error).toMatchObject({ code: 'locked', lock: { id: locked.body.lock.id } });
    const lifted = await stack.call('DELETE', `/v1/admin/locks/${locked.body.lock.id}`, {
      token: secops,
      body: { reason: 'maintenance over' },
    });
    expect(lifted.status).toBe(200);
  });

  it('refuses a lock that names nothing, an unknown connection, an issuer without a subject, or no reason', async () => {
    const secops = await operator(stack);
    const cases: Array<[unknown, RegExp]> = [
      [{ reason: 'everything' }, /name a subject, a connection, or both/],
      [{ connection: 'nope', reason: 'x' }, /unknown connection "nope"/],
      [{ issuer: 'https://x.example', connection: 'shop', reason: 'x' }, /issuer/],
      [{ subject: 'agent:x' }, /reason/],
      [{ subject: 'agent:x', reason: '   ' }, /a reason is required/],
      [{ subject: 'agent:x', reason: 'x', ttl: 'forever' }, /ttl/],
      [{ subject: 'agent:x', reason: 'x', extra: 1 }, /extra/],
    ];
    for (const [body, message] of cases) {
      const response = await stack.call('POST', '/v1/admin/locks', { token: secops, body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error.code).toBe('invalid_request');
      expect(response.body.error.message).toMatch(message);
    }
    const locks = (await stack.call('GET', '/v1/admin/locks', { token: secops })).body.locks;
    expect(locks.filter((lock: { subject?: string }) => lock.subject === 'agent:x')).toEqual([]);
  });
});
