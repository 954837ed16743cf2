// Approving as a signed-in person: GET /v1/admin/approvals lists what waits (an approver sees what they may
// decide), POST /v1/admin/approvals/{id} decides with the email link's rules — never the requester, n-of-m
// distinct approvers, one deny ends it, not after the deadline — on the approver's verified email only.

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { adminClient, catalogChange } from '../support/infra.ts';
import { auditor, edit, OPERATOR_POLICY, operator, person, requestWrite, roleExists } from './support.ts';

/** A second identity provider that sends `email_verified`, as most OIDC providers do. */
async function startOidcIssuer() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256' };
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url === '/jwks' ? { keys: [jwk] } : {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sign = (sub: string, claims: Record<string, unknown>) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
      .setIssuer(url)
      .setSubject(sub)
      .setAudience('airlock')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
  return { url, sign, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const idp = await startOidcIssuer();
const policyText = edit(
  edit(
    OPERATOR_POLICY,
    'auditors:',
    `    - issuer: ${idp.url}\n      audience: airlock\n      jwksUri: ${idp.url}/jwks\n      emailClaim: mail\nauditors:`,
  ),
  'rules:\n',
  `rules:
  - name: auto-write
    when: { subject: "agent:auto-*" }
    connection: shop
    access: write
    maxTtl: 10m
`,
);

let stack: TestAirlock;
const schemas: string[] = [];
beforeAll(async () => {
  stack = await startTestAirlock({ policyText });
});
afterAll(async () => {
  await stack.airlock.sweep();
  await stack.close();
  await idp.close();
  const admin = await adminClient();
  try {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.end();
  }
});

const approver = (stack: TestAirlock, email: string, sub = `person:${email.split('@')[0]}`) =>
  person(stack, sub, [], email);

function decideAs(token: string, id: string, decision: 'approve' | 'deny', reason = 'looked at it') {
  return stack.call('POST', `/v1/admin/approvals/${id}`, { token, body: { decision, reason } });
}

async function pendingFor(token: string) {
  const response = await stack.call('GET', '/v1/admin/approvals', { token });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.approvals as Array<{
    id: string;
    kind: string;
    grantId: string;
    canDecide: boolean;
    statement: null | { normalizedSql: string; sql?: string };
  }>;
}

describe('deciding a grant request signed in', () => {
  it('an approver lists it and approves it through the API: the grant opens, by them, with their reason', async () => {
    const { id, identity } = await requestWrite(stack, 'agent:wants-write');
    const oncall = await approver(stack, 'oncall@example.com');
    const listed = (await pendingFor(oncall)).find((approval) => approval.grantId === id);
    expect(listed).toMatchObject({ id: `grant-${id}.1`, kind: 'grant', canDecide: true });

    const decided = await decideAs(oncall, `grant-${id}.1`, 'approve', 'ticket OPS-7 checked');
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    expect(decided.body.approval).toMatchObject({ id: `grant-${id}.1`, status: 'approved', approvals: 1 });
    expect(decided.body.grant).toMatchObject({ id, status: 'active' });
    expect(await roleExists(stack, id)).toBe(true);

    const mine = await stack.call('GET', `/v1/grants/${id}`, { token: identity });
    expect(mine.body.grant.status).toBe('active');
    expect(typeof mine.body.token).toBe('string');
    expect(mine.body.grant.decisions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ by: 'oncall@example.com', decision: 'approved', reason: 'ticket OPS-7 checked' }),
      ]),
    );
    const events = (await stack.call('GET', `/v1/grants/${id}/audit`, { token: identity })).body.events;
    expect(events.find((event: { type: string }) => event.type === 'grant.approved')).toMatchObject({
      by: 'oncall@example.com',
      reason: 'ticket OPS-7 checked',
    });
    expect((await pendingFor(oncall)).some((approval) => approval.grantId === id)).toBe(false);
  });

  it('accepts the grant id or the request id for the current request', async () => {
    const first = await requestWrite(stack, 'agent:by-grant-id');
    const second = await requestWrite(stack, 'agent:by-request-id');
    const dba = await approver(stack, 'dba@example.com');
    expect((await decideAs(dba, first.id, 'approve')).body.approval.status).toBe('approved');
    expect((await decideAs(dba, `grant-${second.id}`, 'deny')).body.approval.status).toBe('denied');
  });

  it('a second approval of a decided 1-of-2 request is refused as already decided', async () => {
    const { id } = await requestWrite(stack, 'agent:one-of-two');
    expect((await decideAs(await approver(stack, 'oncall@example.com'), id, 'approve')).status).toBe(200);
    const late = await decideAs(await approver(stack, 'dba@example.com'), id, 'approve');
    expect(late.status).toBe(409);
    expect(late.body.error).toMatchObject({ code: 'conflict', message: 'this request is already approved' });
  });

  it('one deny ends it: the grant is denied and nobody can approve it after', async () => {
    const { id, identity } = await requestWrite(stack, 'agent:denied');
    const denied = await decideAs(await approver(stack, 'dba@example.com'), id, 'deny', 'not during the freeze');
    expect(denied.status).toBe(200);
    expect(denied.body.approval.status).toBe('denied');
    const grant = (await stack.call('GET', `/v1/grants/${id}`, { token: identity })).body.grant;
    expect(grant.status).toBe('denied');
    expect(grant.decisions.at(-1)).toMatchObject({ by: 'dba@example.com', reason: 'not during the freeze' });
    const after = await decideAs(await approver(stack, 'oncall@example.com'), id, 'approve');
    expect(after.body.error).toMatchObject({ code: 'conflict', message: 'this request is already denied' });
    expect(await roleExists(stack, id)).toBe(false);
  });

  it('never the requester, even when listed as an approver — by email, by +tag, or by subject', async () => {
    const byEmail = await requestWrite(stack, 'agent:self-approver', 'dba@example.com');
    const own = await decideAs(byEmail.identity, byEmail.id, 'approve');
    expect(own.status).toBe(403);
    expect(own.body.error).toMatchObject({
      code: 'forbidden',
      message: 'you asked for this; someone else has to approve it',
    });
    expect((await pendingFor(byEmail.identity)).some((approval) => approval.grantId === byEmail.id)).toBe(false);

    const tagged = await requestWrite(stack, 'agent:tagged', 'Oncall+Agent@example.com');
    const sameMailbox = await decideAs(await approver(stack, 'oncall@example.com'), tagged.id, 'approve');
    expect(sameMailbox.body.error.code).toBe('forbidden');

    const bySubject = await requestWrite(stack, 'agent:two-hats');
    const sameSubject = await decideAs(
      await approver(stack, 'dba@example.com', 'agent:two-hats'),
      bySubject.id,
      'approve',
    );
    expect(sameSubject.body.error.code).toBe('forbidden');

    const pending = (await stack.call('GET', '/v1/admin/grants?status=pending', { token: await auditor(stack) })).body;
    for (const { id } of [byEmail, tagged, bySubject]) {
      expect(pending.grants.map((grant: { id: string }) => grant.id)).toContain(id);
      expect(await roleExists(stack, id)).toBe(false);
    }
  });

  it('only on an email the issuer verified, and only for a request that lists it', async () => {
    const { id } = await requestWrite(stack, 'agent:verify-me');
    const unverified = await idp.sign('person:mallory', { mail: 'oncall@example.com', email_verified: false });
    expect((await decideAs(unverified, id, 'approve')).body.error.code).toBe('forbidden');
    expect((await stack.call('GET', '/v1/admin/approvals', { token: unverified })).body.error.code).toBe('forbidden');
    const stringly = await idp.sign('person:mallory', { mail: 'oncall@example.com', email_verified: 'false' });
    expect((await decideAs(stringly, id, 'approve')).body.error.code).toBe('forbidden');
    const wrongClaim = await idp.sign('person:mallory', { email: 'oncall@example.com', email_verified: true });
    expect((await decideAs(wrongClaim, id, 'approve')).body.error.code).toBe('forbidden');
    const stranger = await approver(stack, 'someone@example.com');
    expect((await decideAs(stranger, id, 'approve')).body.error.code).toBe('forbidden');
    const secops = await operator(stack);
    expect((await decideAs(secops, id, 'approve')).body.error.code).toBe('forbidden');

    const verified = await idp.sign('person:oncall-idp', { mail: 'OnCall@Example.com', email_verified: true });
    const decided = await decideAs(verified, id, 'approve');
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    expect(decided.body.approval.decisions[0].by).toBe('oncall@example.com');
  });

  it('not after the deadline; unknown ids are 404; a reason and a decision are required', async () => {
    const { id } = await requestWrite(stack, 'agent:too-late');
    const oncall = await approver(stack, 'oncall@example.com');
    for (const body of [{ decision: 'approve' }, { decision: 'maybe', reason: 'x' }, { reason: 'x' }, {}]) {
      const response = await stack.call('POST', `/v1/admin/approvals/${id}`, { token: oncall, body });
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
    for (const unknown of ['grant-zzzzzzzzzzzzzzzzzzzz.1', 'zzzzzzzzzzzzzzzzzzzz', 'nonsense', 'stmt-00.1']) {
      expect((await decideAs(oncall, unknown, 'approve')).status, unknown).toBe(404);
    }
    expect((await decideAs(oncall, `grant-${id}.2`, 'approve')).body.error.code).toBe('gone');
    stack.clock.advance(3601);
    const late = await decideAs(oncall, id, 'approve');
    expect(late.status).toBe(410);
    expect(late.body.error).toMatchObject({ code: 'gone', message: 'this request has expired' });
    expect((await pendingFor(oncall)).some((approval) => approval.grantId === id)).toBe(false);
  });
});

describe('deciding a held statement signed in', () => {
  it('the approver sees the statement (raw text only they may read) and approves it; re-sent, it runs once', async () => {
    const identity = await person(stack, 'agent:auto-writer');
    const granted = await stack.call('POST', '/v1/grants', {
      token: identity,
      body: { connection: 'shop', access: 'write', ttl: 600, reason: 'retire test orders' },
    });
    expect(granted.status).toBe(201);
    const grantId = granted.body.grant.id as string;
    // The shared demo database must survive: the statement changes a scratch copy of `orders`.
    const schema = `opap_${randomBytes(4).toString('hex')}`;
    schemas.push(schema);
    const admin = await adminClient();
    try {
      await admin.query(`CREATE SCHEMA "${schema}"`);
      await admin.query(`CREATE TABLE "${schema}".orders (id int, status text)`);
      await admin.query(`INSERT INTO "${schema}".orders SELECT g, 'open' FROM generate_series(1, 3) AS g`);
      await catalogChange(() => admin.query(`GRANT USAGE ON SCHEMA "${schema}" TO "${stack.roleOf(grantId)}"`));
      await catalogChange(() =>
        admin.query(`GRANT SELECT, UPDATE ON "${schema}".orders TO "${stack.roleOf(grantId)}"`),
      );
    } finally {
      await admin.end();
    }
    const send = () =>
      stack.call('POST', '/v1/query', {
        token: granted.body.token,
        body: { sql: `UPDATE "${schema}".orders SET status = 'retired-7731'` },
      });
    const held = await send();
    expect(held.status).toBe(202);
    const ref = held.body.approval.id as string;

    const oncall = await approver(stack, 'oncall@example.com');
    const listed = (await pendingFor(oncall)).find((approval) => approval.id === ref);
    expect(listed).toMatchObject({ kind: 'statement', canDecide: true });
    expect(listed!.statement!.sql).toContain('retired-7731');
    const seenByAuditor = (await pendingFor(await auditor(stack))).find((approval) => approval.id === ref);
    expect(seenByAuditor?.canDecide).toBe(false);
    expect(seenByAuditor?.statement?.sql).toBeUndefined();
    expect(JSON.stringify(seenByAuditor)).not.toContain('retired-7731');

    const decided = await decideAs(oncall, ref, 'approve', 'one-off clean-up');
    expect(decided.status).toBe(200);
    expect(decided.body.approval.status).toBe('approved');
    const ran = await send();
    expect(ran.status, JSON.stringify(ran.body)).toBe(200);
    expect(ran.body.rowCount).toBe(3);
    expect((await send()).status).toBe(202);
  });
});
