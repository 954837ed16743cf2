// Who may call /v1/admin: an agent (or anyone outside the policy's groups) gets 403 `forbidden` on every
// route before any body is read; an auditor lists and reads but cannot revoke, lock, unlock or decide.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { auditor, OPERATOR_POLICY, openRead, operator, person, roleExists } from './support.ts';

let stack: TestAirlock;
beforeAll(async () => {
  stack = await startTestAirlock({ policyText: OPERATOR_POLICY });
});
afterAll(async () => {
  await stack.airlock.sweep();
  await stack.close();
});

const ROUTES: Array<[string, string, unknown?]> = [
  ['GET', '/v1/admin/grants'],
  ['DELETE', '/v1/admin/grants/aaaaaaaaaaaaaaaaaaaa', { reason: 'x' }],
  ['POST', '/v1/admin/locks', { subject: 'agent:x', reason: 'x' }],
  ['GET', '/v1/admin/locks'],
  ['DELETE', '/v1/admin/locks/aaaaaaaaaaaaaaaaaaaa', { reason: 'x' }],
  ['GET', '/v1/admin/approvals'],
  ['POST', '/v1/admin/approvals/grant-aaaaaaaaaaaaaaaaaaaa.1', { decision: 'approve', reason: 'x' }],
  ['GET', '/v1/admin/audit?grantId=aaaaaaaaaaaaaaaaaaaa'],
];

describe('the admin routes', () => {
  it('answer 401 without an identity token and 403 forbidden to an agent, whatever the body', async () => {
    const agent = await person(stack, 'agent:curious', ['finance']);
    for (const [method, path, body] of ROUTES) {
      const anonymous = await stack.call(method, path, { body });
      expect(anonymous.status, `${method} ${path}`).toBe(401);
      const refused = await stack.call(method, path, { token: agent, body });
      expect(refused.status, `${method} ${path}`).toBe(403);
      expect(refused.body.error.code, `${method} ${path}`).toBe('forbidden');
      // An invalid body changes nothing: the role is checked first.
      if (body !== undefined) {
        const garbage = await stack.call(method, path, { token: agent, body: { nonsense: true } });
        expect(garbage.body.error.code, `${method} ${path}`).toBe('forbidden');
      }
    }
  });

  it('refuse groups that only look like the operators’ or auditors’ (case, a longer name)', async () => {
    const lookalike = await person(stack, 'person:lookalike', ['secops-readonly', 'Security', 'SECOPS']);
    for (const [method, path, body] of ROUTES) {
      const refused = await stack.call(method, path, { token: lookalike, body });
      expect(refused.body.error.code, `${method} ${path}`).toBe('forbidden');
    }
  });

  it('let an auditor list and read, and refuse them every change', async () => {
    const target = await openRead(stack, 'agent:audited');
    const reader = await auditor(stack);
    const grants = await stack.call('GET', '/v1/admin/grants?subject=agent:audited', { token: reader });
    expect(grants.status).toBe(200);
    expect(grants.body.grants.map((grant: { id: string }) => grant.id)).toEqual([target.id]);
    expect((await stack.call('GET', '/v1/admin/locks', { token: reader })).status).toBe(200);
    expect((await stack.call('GET', '/v1/admin/approvals', { token: reader })).status).toBe(200);
    const audit = await stack.call('GET', `/v1/admin/audit?grantId=${target.id}`, { token: reader });
    expect(audit.status).toBe(200);
    expect(audit.body.events.map((event: { type: string }) => event.type)).toEqual([
      'grant.requested',
      'grant.activated',
    ]);

    const revoke = await stack.call('DELETE', `/v1/admin/grants/${target.id}`, {
      token: reader,
      body: { reason: 'I read it, so I may end it?' },
    });
    expect(revoke.status).toBe(403);
    expect(revoke.body.error.code).toBe('forbidden');
    const lock = await stack.call('POST', '/v1/admin/locks', {
      token: reader,
      body: { subject: 'agent:audited', reason: 'no' },
    });
    expect(lock.body.error.code).toBe('forbidden');
    const decide = await stack.call('POST', '/v1/admin/approvals/grant-aaaaaaaaaaaaaaaaaaaa.1', {
      token: reader,
      body: { decision: 'approve', reason: 'no' },
    });
    expect(decide.body.error.code).toBe('forbidden');
    expect(await roleExists(stack, target.id)).toBe(true);
    expect((await stack.call('POST', '/v1/query', { token: target.token, body: { sql: 'SELECT 1' } })).status).toBe(
      200,
    );
  });

  it('let an operator revoke any grant with a reason: same effect as the owner’s revoke, by the operator', async () => {
    const target = await openRead(stack, 'agent:revoked-by-ops');
    const secops = await operator(stack);
    const noReason = await stack.call('DELETE', `/v1/admin/grants/${target.id}`, { token: secops, body: {} });
    expect(noReason.status).toBe(400);
    expect(noReason.body.error.code).toBe('invalid_request');
    const noBody = await stack.call('DELETE', `/v1/admin/grants/${target.id}`, { token: secops });
    expect(noBody.status).toBe(400);
    expect(await roleExists(stack, target.id)).toBe(true);

    const revoked = await stack.call('DELETE', `/v1/admin/grants/${target.id}`, {
      token: secops,
      body: { reason: 'suspicious volume' },
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body.grant).toMatchObject({ id: target.id, status: 'revoked', subject: 'agent:revoked-by-ops' });
    expect(revoked.body.grant.decisions.at(-1)).toMatchObject({
      by: 'person:oncall-sec',
      decision: 'revoked',
      reason: 'suspicious volume',
    });
    expect(await roleExists(stack, target.id)).toBe(false);
    const query = await stack.call('POST', '/v1/query', { token: target.token, body: { sql: 'SELECT 1' } });
    expect(query.body.error.code).toBe('grant_revoked');
    // An operator reads any grant's audit trail, as an auditor does.
    const trail = await stack.call('GET', `/v1/grants/${target.id}/audit`, { token: secops });
    expect(trail.status).toBe(200);
    expect(trail.body.verified).toBe(true);
    const events = trail.body.events;
    expect(events.find((event: { type: string }) => event.type === 'grant.revoked')).toMatchObject({
      by: 'person:oncall-sec',
      reason: 'suspicious volume',
      byIssuer: `${stack.baseUrl}/dev`,
    });

    const again = await stack.call('DELETE', `/v1/admin/grants/${target.id}`, {
      token: secops,
      body: { reason: 'again' },
    });
    expect(again.status).toBe(200);
    expect(again.body.grant.status).toBe('revoked');
    const missing = await stack.call('DELETE', '/v1/admin/grants/zzzzzzzzzzzzzzzzzzzz', {
      token: secops,
      body: { reason: 'x' },
    });
    expect(missing.status).toBe(404);
    const malformed = await stack.call('DELETE', '/v1/admin/grants/..%2F..', { token: secops, body: { reason: 'x' } });
    expect(malformed.status).toBe(404);
  });

  it('stop an operator a lock names (subject, no connection): no admin call, not even lifting that lock', async () => {
    const rogue = await operator(stack, 'person:rogue-op');
    const placed = await stack.call('POST', '/v1/admin/locks', {
      token: await operator(stack),
      body: { subject: 'person:rogue-op', reason: 'credential leaked' },
    });
    expect(placed.status, JSON.stringify(placed.body)).toBe(201);
    const lockId = placed.body.lock.id as string;
    const lift = await stack.call('DELETE', `/v1/admin/locks/${lockId}`, { token: rogue, body: { reason: 'mine' } });
    expect(lift.status).toBe(403);
    expect(lift.body.error).toMatchObject({ code: 'locked', lock: { id: lockId } });
    expect((await stack.call('GET', '/v1/admin/grants', { token: rogue })).body.error.code).toBe('locked');
    const still = await stack.call('GET', '/v1/admin/locks', { token: await auditor(stack) });
    expect(still.body.locks.map((lock: { id: string }) => lock.id)).toContain(lockId);
    const lifted = await stack.call('DELETE', `/v1/admin/locks/${lockId}`, {
      token: await operator(stack),
      body: { reason: 'rotated' },
    });
    expect(lifted.status).toBe(200);
    expect((await stack.call('GET', '/v1/admin/grants', { token: rogue })).status).toBe(200);
  });
});
