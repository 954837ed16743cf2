// Grant tokens: sign, verify, rotate, and every way a token can be refused; only a genuine one expires.
// Must never assert timings: the speed of verifyGrantToken is measured outside the suite.

import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createDevIssuer,
  GRANT_TOKEN_AUDIENCE,
  GRANT_TOKEN_TYPE,
  type GrantTokenVerifierKeys,
  generateSigningKeyPair,
  loadSigningKeys,
  loadVerificationKeys,
  type SigningKeys,
  signGrantToken,
  verifyGrantToken,
} from '../../shared/identity/index.ts';
import { decodeSegment, expectRefusal, hmacToken, unsignedToken, withPayload } from './fixtures.ts';

const ISSUER = 'https://airlock.example.com';
const NOW = new Date('2030-01-01T00:00:00Z');
const now = () => NOW;
const at = (seconds: number) => () => new Date(NOW.getTime() + seconds * 1000);
const T = Math.floor(NOW.getTime() / 1000);
const WINDOW_END = new Date(NOW.getTime() + 30 * 60_000);

let key1: { privateJwk: JWK; publicJwk: JWK };
let key2: { privateJwk: JWK; publicJwk: JWK };
let signing: SigningKeys;
let verifying: GrantTokenVerifierKeys;
let key1Private: CryptoKey;
let attackerKey: CryptoKey;

const claims = { subject: 'agent:demo', grantId: 'grant-123', expiresAt: WINDOW_END, issuer: ISSUER };

function grantPayload(overrides: JWTPayload = {}): JWTPayload {
  return {
    iss: ISSUER,
    sub: 'agent:demo',
    aud: GRANT_TOKEN_AUDIENCE,
    grant_id: 'grant-123',
    iat: T,
    exp: T + 1800,
    jti: 'j-1',
    ...overrides,
  };
}

function handSigned(
  payload: JWTPayload,
  header: Record<string, unknown> = {},
  key: CryptoKey = key1Private,
): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: GRANT_TOKEN_TYPE, ...header })
    .sign(key);
}

beforeAll(async () => {
  key1 = await generateSigningKeyPair('k1');
  key2 = await generateSigningKeyPair('k2');
  signing = await loadSigningKeys({ keys: [key1.privateJwk] });
  verifying = await loadVerificationKeys(signing.publicJwks);
  key1Private = (await importJWK(key1.privateJwk, 'ES256')) as CryptoKey;
  attackerKey = (await generateKeyPair('ES256')).privateKey;
});

describe('signing and verifying', () => {
  it('round-trips subject, grant id and window end', async () => {
    const token = await signGrantToken(signing, claims, now);
    await expect(verifyGrantToken(verifying, token, { now, issuer: ISSUER })).resolves.toEqual({
      subject: 'agent:demo',
      grantId: 'grant-123',
      expiresAt: WINDOW_END,
    });
  });

  it('has the documented header and claims', async () => {
    const token = await signGrantToken(signing, claims, now);
    expect(decodeSegment(token, 0)).toEqual({ alg: 'ES256', kid: 'k1', typ: GRANT_TOKEN_TYPE });
    const payload = decodeSegment(token, 1);
    expect(payload).toMatchObject({
      iss: ISSUER,
      sub: 'agent:demo',
      aud: GRANT_TOKEN_AUDIENCE,
      grant_id: 'grant-123',
      iat: T,
      exp: T + 1800,
    });
    expect(payload.jti).toEqual(expect.any(String));
    expect(decodeSegment(await signGrantToken(signing, claims, now), 1).jti).not.toBe(payload.jti);
  });

  it('accepts up to 5 s of clock skew past exp, and no more', async () => {
    const token = await signGrantToken(signing, claims, now);
    await expect(verifyGrantToken(verifying, token, { now: at(1804) })).resolves.toMatchObject({
      grantId: 'grant-123',
    });
    await expectRefusal(verifyGrantToken(verifying, token, { now: at(1805) }), 'grant_expired', token);
  });

  it('refuses to sign a token that is already expired or lacks a subject', async () => {
    await expectRefusal(signGrantToken(signing, { ...claims, expiresAt: NOW }, now), 'internal');
    await expectRefusal(signGrantToken(signing, { ...claims, subject: '' }, now), 'internal');
  });
});

describe('expiry', () => {
  it('an expired, genuine grant token is grant_expired', async () => {
    const token = await signGrantToken(signing, claims, now);
    await expectRefusal(verifyGrantToken(verifying, token, { now: at(3600) }), 'grant_expired', token);
  });

  it('an expired token that is otherwise invalid is unauthenticated, never grant_expired', async () => {
    const genuine = await signGrantToken(signing, claims, now);
    const late = { now: at(3600) };
    const cases = [
      withPayload(genuine, grantPayload({ grant_id: 'grant-999' })),
      await handSigned(grantPayload(), {}, attackerKey),
      await handSigned(grantPayload(), { kid: 'k9' }),
      await handSigned(grantPayload(), { typ: 'JWT' }),
      await handSigned(grantPayload({ aud: 'airlock' })),
      await handSigned(grantPayload({ iss: 'https://evil.example.com' })),
      unsignedToken({ alg: 'none', kid: 'k1', typ: GRANT_TOKEN_TYPE }, grantPayload()),
    ];
    for (const token of cases)
      await expectRefusal(verifyGrantToken(verifying, token, { ...late, issuer: ISSUER }), 'unauthenticated', token);
  });
});

describe('refuses', () => {
  it('a tampered payload', async () => {
    const token = await signGrantToken(signing, claims, now);
    const tampered = withPayload(token, grantPayload({ sub: 'agent:admin' }));
    await expectRefusal(verifyGrantToken(verifying, tampered, { now }), 'unauthenticated', tampered);
  });

  it('a forged kid: another key claiming k1', async () => {
    const token = await handSigned(grantPayload(), { kid: 'k1' }, attackerKey);
    await expectRefusal(verifyGrantToken(verifying, token, { now }), 'unauthenticated', token);
  });

  it('an unknown or missing kid', async () => {
    for (const header of [{ kid: 'k9' }, { kid: undefined }, { kid: 7 }]) {
      const token = await handSigned(grantPayload(), header);
      await expectRefusal(verifyGrantToken(verifying, token, { now }), 'unauthenticated', token);
    }
  });

  it('a jwk or jku header, even next to a valid kid and signature', async () => {
    const embedded = await handSigned(grantPayload(), {
      jwk: { kty: 'EC', crv: 'P-256', x: key1.publicJwk.x, y: key1.publicJwk.y },
    });
    await expectRefusal(verifyGrantToken(verifying, embedded, { now }), 'unauthenticated', embedded);
    const remote = await handSigned(grantPayload(), { jku: 'https://evil.example.com/jwks.json' });
    await expectRefusal(verifyGrantToken(verifying, remote, { now }), 'unauthenticated', remote);
  });

  it('another typ: an identity token (typ JWT) signed by the grant key', async () => {
    for (const typ of ['JWT', 'at+jwt', undefined]) {
      const token = await handSigned(grantPayload(), { typ });
      await expectRefusal(verifyGrantToken(verifying, token, { now }), 'unauthenticated', token);
    }
  });

  it('a dev-issuer identity token used as a grant token', async () => {
    const dev = createDevIssuer({ issuer: `${ISSUER}/dev`, privateJwks: { keys: [key1.privateJwk] }, now });
    const token = await dev.issue({ sub: 'agent:demo' });
    await expectRefusal(verifyGrantToken(verifying, token, { now }), 'unauthenticated', token);
  });

  it('a wrong or missing audience, a wrong issuer, missing claims', async () => {
    const cases = [
      grantPayload({ aud: 'airlock' }),
      grantPayload({ aud: undefined }),
      grantPayload({ iss: 'https://evil.example.com' }),
      grantPayload({ grant_id: undefined }),
      grantPayload({ grant_id: 42 }),
      grantPayload({ sub: undefined }),
      grantPayload({ exp: undefined }),
      grantPayload({ jti: undefined }),
    ];
    for (const payload of cases) {
      const token = await handSigned(payload);
      await expectRefusal(verifyGrantToken(verifying, token, { now, issuer: ISSUER }), 'unauthenticated', token);
    }
  });

  it('any algorithm but ES256: none, HS256 keyed with the public key, ES384', async () => {
    const header = { kid: 'k1', typ: GRANT_TOKEN_TYPE };
    const tokens = [
      unsignedToken({ alg: 'none', ...header }, grantPayload()),
      hmacToken({ alg: 'HS256', ...header }, grantPayload(), JSON.stringify(key1.publicJwk)),
      await new SignJWT(grantPayload())
        .setProtectedHeader({ alg: 'ES384', ...header })
        .sign((await generateKeyPair('ES384')).privateKey),
    ];
    for (const token of tokens)
      await expectRefusal(verifyGrantToken(verifying, token, { now }), 'unauthenticated', token);
  });

  it('garbage and oversized tokens', async () => {
    for (const token of ['', 'x', 'a.b.c', `${'a'.repeat(20_000)}.b.c`])
      await expectRefusal(verifyGrantToken(verifying, token, { now }), 'unauthenticated');
  });
});

describe('rotation', () => {
  it('while both keys are published, tokens from the new and the retiring key verify', async () => {
    const rotated = await loadSigningKeys({ keys: [key2.privateJwk, key1.privateJwk] });
    expect(rotated.current.kid).toBe('k2');
    expect(rotated.publicJwks.keys.map((jwk) => jwk.kid)).toEqual(['k2', 'k1']);
    const both = await loadVerificationKeys(rotated.publicJwks);
    const fromKey2 = await signGrantToken(rotated, claims, now);
    const fromKey1 = await signGrantToken(signing, claims, now);
    expect(decodeSegment(fromKey2, 0).kid).toBe('k2');
    await expect(verifyGrantToken(both, fromKey2, { now })).resolves.toMatchObject({ grantId: 'grant-123' });
    await expect(verifyGrantToken(both, fromKey1, { now })).resolves.toMatchObject({ grantId: 'grant-123' });
  });

  it('once a key is rotated out, its tokens are refused', async () => {
    const retired = await signGrantToken(signing, claims, now);
    const onlyKey2 = await loadVerificationKeys({ keys: [key2.publicJwk] });
    await expectRefusal(verifyGrantToken(onlyKey2, retired, { now }), 'unauthenticated', retired);
  });
});

describe('keys', () => {
  it('publishes public halves only, with alg and use pinned', async () => {
    const rotated = await loadSigningKeys({ keys: [key2.privateJwk, key1.privateJwk] });
    for (const jwk of rotated.publicJwks.keys) {
      expect(jwk).not.toHaveProperty('d');
      expect(Object.keys(jwk).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(jwk).toMatchObject({ alg: 'ES256', use: 'sig', kty: 'EC', crv: 'P-256' });
    }
  });

  it('generateSigningKeyPair sets kid, alg and use; kid defaults to the thumbprint', async () => {
    expect(key1.privateJwk).toMatchObject({
      kty: 'EC',
      crv: 'P-256',
      kid: 'k1',
      alg: 'ES256',
      use: 'sig',
      d: expect.any(String),
    });
    expect(key1.publicJwk).not.toHaveProperty('d');
    const anonymous = await generateSigningKeyPair();
    expect(anonymous.publicJwk.kid).toBe(await calculateJwkThumbprint(anonymous.publicJwk));
    expect(anonymous.privateJwk.kid).toBe(anonymous.publicJwk.kid);
  });

  it('refuses private material in a verification set, duplicate kids, missing kids and empty sets', async () => {
    await expectRefusal(loadVerificationKeys({ keys: [key1.privateJwk] }), 'invalid_config');
    await expectRefusal(
      loadVerificationKeys({ keys: [key1.publicJwk, { ...key2.publicJwk, kid: 'k1' }] }),
      'invalid_config',
    );
    await expectRefusal(loadVerificationKeys({ keys: [{ ...key1.publicJwk, kid: undefined }] }), 'invalid_config');
    await expectRefusal(loadVerificationKeys({ keys: [] }), 'invalid_config');
    await expectRefusal(loadSigningKeys({ keys: [] }), 'invalid_config');
    await expectRefusal(loadSigningKeys({ keys: [key1.publicJwk] }), 'invalid_config');
    await expectRefusal(loadSigningKeys({ keys: [key1.privateJwk, key1.privateJwk] }), 'invalid_config');
  });

  it('refuses keys that are not P-256', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    await expectRefusal(
      loadSigningKeys({ keys: [{ ...(await exportJWK(rsa.privateKey)), kid: 'r1' }] }),
      'invalid_config',
    );
    await expectRefusal(
      loadVerificationKeys({ keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'r1' }] }),
      'invalid_config',
    );
  });
});
