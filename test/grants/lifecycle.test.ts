import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../shared/ids.ts';
import { closeClient, connectClient } from '../../shared/postgres/driver.ts';
import { derivePassword } from '../../shared/postgres/password.ts';
import { QueryKeysSecret, readSecret, SECRET_NAMES } from '../../shared/secrets/index.ts';
import { DEMO_POLICY_TEXT, startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { adminClient, adminTarget, catalogChange, secrets, wire } from '../support/infra.ts';
import { expectSessionEnded } from '../support/stack.ts';

// A second identity provider, configured only in the policy file: its own key, JWKS over real HTTP.
async function startSecondIssuer() {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'ci-1', alg: 'RS256' };
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url === '/jwks' ? { keys: [jwk] } : {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'ci-1' })
      .setIssuer(url)
      .setAudience('airlock')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
  return { url, sign, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const second = await startSecondIssuer();
const policyText = DEMO_POLICY_TEXT.replace(
  'auditors:',
  `    - issuer: ${second.url}\n      audience: airlock\n      jwksUri: ${second.url}/jwks\nauditors:`,
).replace(
  'rules:\n',
  `rules:
  - name: ci-write-by-id
    when: { claims: { repository_id: "4242" } }
    connection: shop
    access: write
    maxTtl: 10m
`,
);

let stack: TestAirlock;
let roleKey: string;

beforeAll(async () => {
  stack = await startTestAirlock({ policyText });
  roleKey = (await readSecret(secrets(), SECRET_NAMES.queryKeys, QueryKeysSecret)).roleKey;
});
afterAll(async () => {
  await stack.airlock.sweep();
  await stack.close();
  await second.close();
});

async function roleRow(role: string) {
  const admin = await adminClient();
  try {
    const result = await admin.query(`SELECT rolname, rolvaliduntil, rolcanlogin FROM pg_roles WHERE rolname = $1`, [
      role,
    ]);
    return result.rows[0] as { rolname: string; rolvaliduntil: Date; rolcanlogin: boolean } | undefined;
  } finally {
    await admin.end();
  }
}

async function connectAs(grantId: string) {
  return connectClient(
    { ...(await adminTarget()), user: stack.roleOf(grantId), password: derivePassword(roleKey, grantId) },
    wire(),
  );
}

async function requestRead(token: string, ttl: number | string = 600) {
  return stack.call('POST', '/v1/grants', {
    token,
    body: { connection: 'shop', access: 'read', ttl, reason: 'investigate order totals' },
  });
}

describe('POST /v1/grants', () => {
  it('grants read access automatically: a temporary role valid until the window end, read-only', async () => {
    const token = await stack.token('agent:demo');
    const response = await requestRead(token, '10m');
    expect(response.status).toBe(201);
    const { grant } = response.body;
    expect(grant).toMatchObject({
      status: 'active',
      subject: 'agent:demo',
      connection: 'shop',
      access: 'read',
      rule: 'agents-read',
      ttlSeconds: 600,
    });
    expect(typeof response.body.token).toBe('string');
    const row = await roleRow(stack.roleOf(grant.id));
    expect(row?.rolcanlogin).toBe(true);
    expect(row?.rolvaliduntil.toISOString()).toBe(grant.expiresAt);
    expect(Date.parse(grant.expiresAt) - Date.parse(grant.activatedAt)).toBeLessThanOrEqual(600_000);

    const session = await connectAs(grant.id);
    try {
      const count = await session.query('SELECT count(*)::int AS n FROM customers');
      expect(count.rows[0].n).toBe(1000);
      await expect(
        session.query(`INSERT INTO orders (customer_id, total, status) VALUES (1, 1, 'x')`),
      ).rejects.toMatchObject({ code: '25006' });
    } finally {
      await session.end();
    }
  });

  it('clamps a TTL above the rule maxTtl and says what it got', async () => {
    const response = await requestRead(await stack.token('agent:clamp'), '2h');
    expect(response.status).toBe(201);
    expect(response.body.grant.ttlSeconds).toBe(1800);
  });

  it('denies when no rule matches, and creates no role', async () => {
    const admin = await adminClient();
    // This stack's roles only: other test files mint and drop their own on the same Postgres meanwhile.
    const ours = `SELECT count(*)::int AS n FROM pg_roles WHERE starts_with(rolname, $1)`;
    const before = (await admin.query(ours, [stack.rolePrefix])).rows[0].n;
    const response = await requestRead(await stack.token('user:alice'));
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: 'policy_denied' });
    const after = (await admin.query(ours, [stack.rolePrefix])).rows[0].n;
    await admin.end();
    expect(after).toBe(before);
  });

  it.each([
    ['a missing reason', { connection: 'shop', access: 'read', ttl: 60 }],
    ['an empty reason', { connection: 'shop', access: 'read', ttl: 60, reason: '  ' }],
    ['a bad ttl', { connection: 'shop', access: 'read', ttl: 'forever', reason: 'x' }],
    ['a negative ttl', { connection: 'shop', access: 'read', ttl: -5, reason: 'x' }],
    ['an unknown field', { connection: 'shop', access: 'read', ttl: 60, reason: 'x', role: 'postgres' }],
    ['not an object', ['shop']],
  ])('refuses %s with 400 invalid_request', async (_name, body) => {
    const response = await stack.call('POST', '/v1/grants', { token: await stack.token('agent:demo'), body });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_request');
  });

  it('accepts a token from a second issuer configured only in the policy, matching by claim value', async () => {
    const token = await second.sign({ sub: 'repo:acme/app', repository_id: 4242 });
    const response = await stack.call('POST', '/v1/grants', {
      token,
      body: { connection: 'shop', access: 'write', ttl: 60, reason: 'migration check' },
    });
    expect(response.status).toBe(201);
    expect(response.body.grant.rule).toBe('ci-write-by-id');
    const other = await second.sign({ sub: 'repo:acme/app', repository_id: 4243 });
    const denied = await stack.call('POST', '/v1/grants', {
      token: other,
      body: { connection: 'shop', access: 'write', ttl: 60, reason: 'migration check' },
    });
    expect(denied.status).toBe(403);
  });

  it('refuses a grant token used as an identity token, and no token at all', async () => {
    const granted = await requestRead(await stack.token('agent:demo'));
    const asIdentity = await requestRead(granted.body.token);
    expect(asIdentity.status).toBe(401);
    expect(asIdentity.body.error.code).toBe('unauthenticated');
    const none = await stack.call('GET', '/v1/grants');
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('unauthenticated');
  });
});

describe('reading and revoking grants', () => {
  it('lists only the caller’s grants, newest first, and hides other subjects’ grants as 404', async () => {
    const mine = await stack.token('agent:lister');
    const first = (await requestRead(mine)).body.grant.id;
    const secondId = (await requestRead(mine)).body.grant.id;
    const list = await stack.call('GET', '/v1/grants', { token: mine });
    expect(list.status).toBe(200);
    expect(list.body.grants.map((g: { id: string }) => g.id)).toEqual([secondId, first]);

    const one = await stack.call('GET', `/v1/grants/${first}`, { token: mine });
    expect(one.status).toBe(200);
    expect(typeof one.body.token).toBe('string');

    const stranger = await stack.token('agent:stranger');
    for (const [method, path] of [
      ['GET', `/v1/grants/${first}`],
      ['DELETE', `/v1/grants/${first}`],
      ['GET', `/v1/grants/${first}/audit`],
    ] as const) {
      const response = await stack.call(method, path, { token: stranger });
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('not_found');
    }
    expect((await stack.call('GET', '/v1/grants', { token: stranger })).body.grants).toEqual([]);
  });

  it('DELETE ends the window now: role gone, open session terminated; a second DELETE is harmless', async () => {
    const token = await stack.token('agent:revoker');
    const { grant } = (await requestRead(token)).body;
    const session = await connectAs(grant.id);
    expect((await session.query('SELECT 1 AS one')).rows[0].one).toBe(1);

    const revoked = await stack.call('DELETE', `/v1/grants/${grant.id}`, { token });
    expect(revoked.status).toBe(200);
    expect(revoked.body.grant.status).toBe('revoked');
    expect(await roleRow(stack.roleOf(grant.id))).toBeUndefined();
    await expectSessionEnded(session);
    await closeClient(session);

    const again = await stack.call('DELETE', `/v1/grants/${grant.id}`, { token });
    expect(again.status).toBe(200);
    expect(again.body.grant.status).toBe('revoked');
    const read = await stack.call('GET', `/v1/grants/${grant.id}`, { token });
    expect(read.body.token).toBeUndefined();
  });

  it('writes an audit event for every transition', async () => {
    const token = await stack.token('agent:audited');
    const { grant } = (await requestRead(token)).body;
    await stack.call('DELETE', `/v1/grants/${grant.id}`, { token });
    const audit = await stack.call('GET', `/v1/grants/${grant.id}/audit`, { token });
    expect(audit.status).toBe(200);
    expect(audit.body.events.map((e: { type: string }) => e.type)).toEqual([
      'grant.requested',
      'grant.activated',
      'grant.revoked',
    ]);
    expect(audit.body.verified).toBe(true);
    const auditor = await stack.token('person:sec', ['security']);
    expect((await stack.call('GET', `/v1/grants/${grant.id}/audit`, { token: auditor })).status).toBe(200);
  });
});

describe('the sweeper', () => {
  it('expires a grant at its window end (time moved, not slept): role dropped even when it owns a table, sessions cut', async () => {
    const token = await second.sign({ sub: 'repo:acme/owner', repository_id: '4242' });
    const response = await stack.call('POST', '/v1/grants', {
      token,
      body: { connection: 'shop', access: 'write', ttl: 120, reason: 'owning test' },
    });
    expect(response.status).toBe(201);
    const { grant } = response.body;
    const admin = await adminClient();
    await catalogChange(() => admin.query(`GRANT CREATE ON SCHEMA public TO "${stack.roleOf(grant.id)}"`));
    await admin.end();
    const session = await connectAs(grant.id);
    // An unqualified CREATE goes to the first schema on the role's search_path, the masking schema: name the schema.
    await session.query(`CREATE TABLE public."scratch_${grant.id}" (id int)`);

    await stack.airlock.sweep();
    expect(await roleRow(stack.roleOf(grant.id))).toBeDefined();

    stack.clock.advance(121);
    const report = await stack.airlock.sweep();
    expect(report.expired).toBeGreaterThanOrEqual(1);
    expect(await roleRow(stack.roleOf(grant.id))).toBeUndefined();
    await expectSessionEnded(session);
    await closeClient(session);
    const after = await stack.call('GET', `/v1/grants/${grant.id}`, { token });
    expect(after.body.grant.status).toBe('expired');
    expect(after.body.token).toBeUndefined();
    stack.clock.advance(-121);
  });

  it('reaps a role of its own naming that no grant accounts for, and leaves other roles alone', async () => {
    const orphan = stack.roleOf(newId()); // as if the process died between minting and storing
    const foreign = `airlock_someoneelse_${newId()}`;
    const admin = await adminClient();
    await admin.query(`CREATE ROLE "${orphan}" LOGIN; CREATE ROLE "${foreign}" LOGIN`);
    const report = await stack.airlock.sweep();
    expect(report.orphansReaped).toBeGreaterThanOrEqual(1);
    expect(await roleRow(orphan)).toBeUndefined();
    expect(await roleRow(foreign)).toBeDefined();
    await admin.query(`DROP ROLE "${foreign}"`);
    await closeClient(admin);
  });

  it('runs safely twice at once', async () => {
    const token = await stack.token('agent:twice');
    const { grant } = (await requestRead(token, 60)).body;
    stack.clock.advance(61);
    const [a, b] = await Promise.all([stack.airlock.sweep(), stack.airlock.sweep()]);
    stack.clock.advance(-61);
    expect(a.errors + b.errors, JSON.stringify([...a.failures, ...b.failures])).toBe(0);
    const events = (await stack.call('GET', `/v1/grants/${grant.id}/audit`, { token })).body.events;
    expect(events.filter((e: { type: string }) => e.type === 'grant.expired')).toHaveLength(1);
    expect(await roleRow(stack.roleOf(grant.id))).toBeUndefined();
  });
});
