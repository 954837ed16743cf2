// Forged, replayed and retired tokens against the real HTTP API: identity tokens at /v1/grants, grant
// tokens at /v1/query. Every one is refused with the error shape, and nothing is run or audited.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Airlock, assembleAirlock } from '../../shared/airlock/index.ts';
import { GRANT_TOKEN_TYPE, generateSigningKeyPair } from '../../shared/identity/index.ts';
import { createFileSecretSource, SECRET_NAMES } from '../../shared/secrets/index.ts';
import {
  b64url,
  decodeSegment,
  hmacToken,
  type KeyServer,
  startKeyServer,
  unsignedToken,
} from '../identity/fixtures.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dynamo, infra, wire } from '../support/infra.ts';
import { expectErrorShape, type OpenGrant, openGrant, query, statementEvents } from './support.ts';

let stack: TestAirlock;
let keys: KeyServer;
let secretsJson: Record<string, { keys: JWK[] }>;
/** The dev issuer's key: what signs genuine identity tokens of this stack. */
let devKey: { kid: string; privateKey: CryptoKey; publicJwk: JWK; publicPem: string };
/** Airlock's own grant-token key. */
let grantKey: { kid: string; privateKey: CryptoKey; publicJwk: JWK; publicPem: string };
let attacker: { privateKey: CryptoKey; publicJwk: JWK };
let grant: OpenGrant;
const T = () => Math.floor(Date.now() / 1000);

async function loadKey(set: { keys: JWK[] }) {
  const jwk = set.keys[0]!;
  const { d: _private, ...publicJwk } = jwk;
  const publicKey = (await importJWK(publicJwk, 'ES256')) as CryptoKey;
  return {
    kid: jwk.kid!,
    privateKey: (await importJWK(jwk, 'ES256')) as CryptoKey,
    publicJwk,
    publicPem: await exportSPKI(publicKey),
  };
}

beforeAll(async () => {
  stack = await startTestAirlock();
  keys = await startKeyServer();
  secretsJson = JSON.parse(await readFile(infra().secretsPath, 'utf8'));
  devKey = await loadKey(secretsJson[SECRET_NAMES.devIssuer]!);
  grantKey = await loadKey(secretsJson[SECRET_NAMES.signingKeys]!);
  const evil = await generateKeyPair('ES256', { extractable: true });
  attacker = {
    privateKey: evil.privateKey,
    publicJwk: { ...(await exportJWK(evil.publicKey)), kid: 'attacker', alg: 'ES256' },
  };
  keys.route('/jwks.json', { keys: [attacker.publicJwk] });
  grant = await openGrant(stack);
  expect((await query(stack, grant.token, { sql: 'SELECT 1' })).status).toBe(200);
});
afterAll(async () => {
  await stack?.close();
  await keys?.close();
});

/** 401 unauthenticated (or `code`), the error shape, and no echo of the token in the message. */
function expectRefused(
  response: { status: number; body: unknown },
  token: string,
  code = 'unauthenticated',
  status = 401,
) {
  const text = typeof response.body === 'string' ? response.body : JSON.stringify(response.body);
  const error = expectErrorShape(response.status, text);
  expect({ status: response.status, code: error.code }).toEqual({ status, code });
  for (const segment of token.split('.').filter((part) => part.length > 8))
    expect(error.message).not.toContain(segment);
}

describe('identity tokens at /v1/grants', () => {
  const identityClaims = (overrides: JWTPayload = {}): JWTPayload => ({
    iss: `${stack.baseUrl}/dev`,
    aud: 'airlock',
    sub: 'agent:demo',
    groups: ['finance'],
    iat: T(),
    exp: T() + 600,
    jti: 'sec-1',
    ...overrides,
  });
  const signed = (claims: JWTPayload, header: Record<string, unknown> = {}, key: CryptoKey = devKey.privateKey) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: devKey.kid, typ: 'JWT', ...header }).sign(key);

  it('a genuine token of this stack is accepted (the control case)', async () => {
    const response = await stack.call('GET', '/v1/grants', { token: await signed(identityClaims()) });
    expect(response.status).toBe(200);
  });

  const cases: Array<[string, () => Promise<string>]> = [
    [
      'a valid token of the configured issuer, for another audience',
      () => signed(identityClaims({ aud: 'billing-service' })),
    ],
    [
      'a valid token whose audience list lacks airlock',
      () => signed(identityClaims({ aud: ['airlock-query', 'other'] })),
    ],
    ['a forged kid: another key claiming the issuer kid', () => signed(identityClaims(), {}, attacker.privateKey)],
    [
      'an embedded jwk header carrying the attacker key',
      () => signed(identityClaims(), { jwk: attacker.publicJwk }, attacker.privateKey),
    ],
    ['an embedded jwk header naming the real key', () => signed(identityClaims(), { jwk: devKey.publicJwk })],
    [
      'a jku header pointing at the attacker JWKS',
      () => signed(identityClaims(), { kid: 'attacker', jku: `${keys.base}/jwks.json` }, attacker.privateKey),
    ],
    ['alg none', async () => unsignedToken({ alg: 'none', kid: devKey.kid, typ: 'JWT' }, identityClaims())],
    [
      'HS256 keyed with the public key (PEM)',
      async () => hmacToken({ alg: 'HS256', kid: devKey.kid, typ: 'JWT' }, identityClaims(), devKey.publicPem),
    ],
    [
      'HS256 keyed with the public key (JWK JSON)',
      async () =>
        hmacToken({ alg: 'HS256', kid: devKey.kid, typ: 'JWT' }, identityClaims(), JSON.stringify(devKey.publicJwk)),
    ],
    ['expired', () => signed(identityClaims({ iat: T() - 1200, exp: T() - 600 }))],
    [
      'genuinely signed, good for ten years, without iat',
      () => signed(identityClaims({ iat: undefined, exp: T() + 10 * 365 * 86_400 })),
    ],
    [
      'genuinely signed, issued now for ten years (over the issuer’s 24 h maxTokenAge)',
      () => signed(identityClaims({ exp: T() + 10 * 365 * 86_400 })),
    ],
    ['a wrong issuer, signed with the real key', () => signed(identityClaims({ iss: 'http://127.0.0.1:1/dev' }))],
    ['truncated: signature cut short', async () => (await signed(identityClaims())).slice(0, -10)],
    ['truncated: no signature', async () => `${(await signed(identityClaims())).split('.').slice(0, 2).join('.')}.`],
    ['truncated: header only', async () => (await signed(identityClaims())).split('.')[0]!],
  ];

  it.each(cases)('%s → 401, nothing granted', async (_case, make) => {
    const token = await make();
    const response = await stack.call('POST', '/v1/grants', {
      token,
      body: { connection: 'shop', access: 'read', ttl: 60, reason: 'forged' },
    });
    expectRefused(response, token);
    expectRefused(await stack.call('GET', '/v1/grants', { token }), token);
  });

  it('never fetches a jku', () => {
    expect(keys.hits('/jwks.json')).toBe(0);
  });
});

describe('grant tokens at /v1/query', () => {
  const grantClaims = (overrides: JWTPayload = {}): JWTPayload => ({ ...decodeSegment(grant.token, 1), ...overrides });
  const signed = (claims: JWTPayload, header: Record<string, unknown> = {}, key: CryptoKey = grantKey.privateKey) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: grantKey.kid, typ: GRANT_TOKEN_TYPE, ...header })
      .sign(key);

  it('a token re-signed with the real key and the real claims is accepted (the control case)', async () => {
    expect((await query(stack, await signed(grantClaims()), { sql: 'SELECT 1' })).status).toBe(200);
  });

  const cases: Array<[string, () => Promise<string>, string?]> = [
    ['a valid identity token (audience airlock, not airlock-query)', () => stack.token(String(grantClaims().sub))],
    ['the real key and claims, for another audience', () => signed(grantClaims({ aud: 'airlock' }))],
    ['the real key and claims, typ JWT (an identity-token shape)', () => signed(grantClaims(), { typ: 'JWT' })],
    ['a forged kid: another key claiming the grant kid', () => signed(grantClaims(), {}, attacker.privateKey)],
    [
      'an embedded jwk header carrying the attacker key',
      () => signed(grantClaims(), { jwk: attacker.publicJwk }, attacker.privateKey),
    ],
    ['an embedded jwk header naming the real key', () => signed(grantClaims(), { jwk: grantKey.publicJwk })],
    [
      'a jku header pointing at the attacker JWKS',
      () => signed(grantClaims(), { kid: 'attacker', jku: `${keys.base}/jwks.json` }, attacker.privateKey),
    ],
    ['alg none', async () => unsignedToken({ alg: 'none', kid: grantKey.kid, typ: GRANT_TOKEN_TYPE }, grantClaims())],
    [
      'HS256 keyed with the public key (PEM)',
      async () =>
        hmacToken({ alg: 'HS256', kid: grantKey.kid, typ: GRANT_TOKEN_TYPE }, grantClaims(), grantKey.publicPem),
    ],
    [
      'HS256 keyed with the public key (JWK JSON)',
      async () =>
        hmacToken(
          { alg: 'HS256', kid: grantKey.kid, typ: GRANT_TOKEN_TYPE },
          grantClaims(),
          JSON.stringify(grantKey.publicJwk),
        ),
    ],
    ['expired, genuinely signed', () => signed(grantClaims({ iat: T() - 1200, exp: T() - 600 })), 'grant_expired'],
    ['expired, forged', () => signed(grantClaims({ iat: T() - 1200, exp: T() - 600 }), {}, attacker.privateKey)],
    ['a wrong issuer, signed with the real key', () => signed(grantClaims({ iss: 'http://127.0.0.1:1' }))],
    [
      'another grant id, signed with the real key but not matching any grant',
      () => signed(grantClaims({ grant_id: 'no-such-grant' })),
    ],
    ['the real grant id under another subject', () => signed(grantClaims({ sub: 'agent:someone-else' }))],
    ['truncated: signature cut short', async () => grant.token.slice(0, -10)],
    ['truncated: no signature', async () => `${grant.token.split('.').slice(0, 2).join('.')}.`],
    ['truncated: header only', async () => grant.token.split('.')[0]!],
    [
      'the payload swapped under a genuine signature',
      async () => {
        const [header, , signature] = grant.token.split('.');
        return `${header}.${b64url(grantClaims({ exp: T() + 86_400 }))}.${signature}`;
      },
    ],
  ];

  it.each(cases)('%s → 401, nothing run', async (_case, make, code) => {
    const token = await make();
    expectRefused(await query(stack, token, { sql: 'SELECT 1' }), token, code);
  });

  it('left no trace of a forged token: the two control queries, and the genuine expired token as a late attempt', async () => {
    const events = await statementEvents(stack, grant);
    expect(
      events.map((event) => [event.decision, (event.error as { code?: string } | undefined)?.code ?? null]),
    ).toEqual([
      ['executed', null],
      ['executed', null],
      ['blocked', 'grant_expired'],
    ]);
    expect(keys.hits('/jwks.json')).toBe(0);
  });

  it('after revocation the genuine token is 403 grant_revoked, with the error shape', async () => {
    const revocable = await openGrant(stack);
    expect((await query(stack, revocable.token, { sql: 'SELECT 1' })).status).toBe(200);
    expect((await stack.call('DELETE', `/v1/grants/${revocable.id}`, { token: revocable.identity })).status).toBe(200);
    expectRefused(await query(stack, revocable.token, { sql: 'SELECT 1' }), revocable.token, 'grant_revoked', 403);
    const events = await statementEvents(stack, revocable);
    expect(
      events.map((event) => [event.decision, (event.error as { code?: string } | undefined)?.code ?? null]),
    ).toEqual([
      ['executed', null],
      ['blocked', 'grant_revoked'],
    ]);
  });
});

describe('a key rotated out of the grant JWKS', () => {
  /** The query half of Airlock on its own secrets file (mode 0600), same tables and policy as `stack`. */
  async function queryHalf(signingKeys: JWK[], grantJwks: JWK[]) {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-rotation-'));
    const path = join(dir, 'secrets.json');
    const secrets = {
      ...secretsJson,
      [SECRET_NAMES.signingKeys]: { keys: signingKeys },
      [SECRET_NAMES.grantJwks]: { keys: grantJwks },
    };
    await writeFile(path, JSON.stringify(secrets), { mode: 0o600 });
    const airlock: Airlock = await assembleAirlock({
      policy: stack.policy,
      secrets: createFileSecretSource(path),
      dynamo: dynamo(),
      tables: stack.tables,
      wire: wire(),
      parts: { api: false, query: true },
      now: stack.clock.now,
    });
    const server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: airlock.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      send: async (token: string) => {
        const response = await fetch(`${baseUrl}/v1/query`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ sql: 'SELECT 1' }),
        });
        return { status: response.status, body: (await response.json()) as unknown };
      },
      close: async () => {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await airlock.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }

  it('verifies while the retiring key is still published, and is 401 once it is gone', async () => {
    const next = await generateSigningKeyPair('sec-next');
    const current = secretsJson[SECRET_NAMES.signingKeys]!.keys;
    const published = secretsJson[SECRET_NAMES.grantJwks]!.keys;
    const rotating = await queryHalf([next.privateJwk, ...current], [next.publicJwk, ...published]);
    try {
      expect((await rotating.send(grant.token)).status).toBe(200);
    } finally {
      await rotating.close();
    }
    const rotated = await queryHalf([next.privateJwk], [next.publicJwk]);
    try {
      const response = await rotated.send(grant.token);
      expectRefused(response, grant.token);
      expect((response.body as { error: { message: string } }).error.message).toMatch(/key is not known/);
    } finally {
      await rotated.close();
    }
  });
});
