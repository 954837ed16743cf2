// Identity token verification against real local JWKS and OIDC discovery endpoints; mostly refusals.
// Must never mock fetch or share a verifier's JWKS cache between cases that count fetches.

import {
  type CryptoKey,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createIdentityVerifier,
  GRANT_TOKEN_TYPE,
  generateSigningKeyPair,
  loadSigningKeys,
  signGrantToken,
} from '../../shared/identity/index.ts';
import type { Issuer } from '../../shared/policy/schema.ts';
import {
  expectRefusal,
  hmacToken,
  type KeyServer,
  rs256Token,
  sleep,
  startKeyServer,
  unsignedToken,
  withPayload,
} from './fixtures.ts';

const NOW = new Date('2030-01-01T00:00:00Z');
const now = () => NOW;
const T = Math.floor(NOW.getTime() / 1000);

let server: KeyServer;
let issuerA: Issuer;
let issuerB: Issuer;
let keyA: { privateKey: CryptoKey; publicJwk: JWK; publicPem: string; privatePem: string };
let keyB: { privateKey: CryptoKey; publicJwk: JWK };
let attacker: { privateKey: CryptoKey; publicJwk: JWK };

async function pair(alg: 'RS256' | 'ES256', kid: string) {
  const generated = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(generated.publicKey)), kid, alg, use: 'sig' };
  return { ...generated, publicJwk };
}

function claimsA(overrides: JWTPayload = {}): JWTPayload {
  return {
    iss: issuerA.issuer,
    aud: 'airlock',
    sub: 'agent:demo',
    groups: ['finance', 'ops'],
    email: 'demo@example.com',
    iat: T,
    exp: T + 600,
    ...overrides,
  };
}

function signA(
  claims: JWTPayload = claimsA(),
  header: Record<string, unknown> = {},
  key: CryptoKey = keyA.privateKey,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'a1', typ: 'JWT', ...header }).sign(key);
}

function verifier(extra: Partial<Parameters<typeof createIdentityVerifier>[0]> = {}) {
  return createIdentityVerifier({ issuers: [issuerA, issuerB], now, ...extra });
}

beforeAll(async () => {
  server = await startKeyServer();
  const a = await pair('RS256', 'a1');
  keyA = {
    privateKey: a.privateKey,
    publicJwk: a.publicJwk,
    publicPem: await exportSPKI(a.publicKey),
    privatePem: await exportPKCS8(a.privateKey),
  };
  const b = await pair('ES256', 'b1');
  keyB = { privateKey: b.privateKey, publicJwk: b.publicJwk };
  const evil = await pair('RS256', 'a1');
  attacker = { privateKey: evil.privateKey, publicJwk: evil.publicJwk };

  issuerA = {
    issuer: `${server.base}/a`,
    audience: 'airlock',
    jwksUri: `${server.base}/a/jwks.json`,
    groupsClaim: 'groups',
    emailClaim: 'email',
    maxTokenAge: 86_400,
  };
  issuerB = {
    issuer: `${server.base}/b`,
    audience: ['other', 'airlock'],
    groupsClaim: 'roles',
    emailClaim: 'mail',
    maxTokenAge: 86_400,
  };
  server.route('/a/jwks.json', { keys: [keyA.publicJwk] });
  server.route('/b/.well-known/openid-configuration', { issuer: issuerB.issuer, jwks_uri: `${server.base}/b/keys` });
  server.route('/b/keys', { keys: [keyB.publicJwk] });
  server.route('/evil/jwks.json', { keys: [attacker.publicJwk] });
});

afterAll(() => server.close());

describe('accepts', () => {
  it('a valid token from issuer A (jwksUri)', async () => {
    const principal = await verifier().verify(await signA());
    expect(principal).toMatchObject({
      subject: 'agent:demo',
      issuer: issuerA.issuer,
      groups: ['finance', 'ops'],
      email: 'demo@example.com',
    });
    expect(principal.claims).toMatchObject({ sub: 'agent:demo', aud: 'airlock' });
  });

  it('a valid token from issuer B via OIDC discovery, fetching discovery once', async () => {
    const before = server.hits('/b/.well-known/openid-configuration');
    const v = verifier();
    const token = await new SignJWT({
      iss: issuerB.issuer,
      aud: 'airlock',
      sub: 'user:b',
      roles: 'readers writers',
      mail: 'b@example.com',
      iat: T,
      exp: T + 60,
    })
      .setProtectedHeader({ alg: 'ES256', kid: 'b1' })
      .sign(keyB.privateKey);
    const principal = await v.verify(token);
    await v.verify(token);
    expect(principal).toMatchObject({
      subject: 'user:b',
      issuer: issuerB.issuer,
      groups: ['readers', 'writers'],
      email: 'b@example.com',
    });
    expect(server.hits('/b/.well-known/openid-configuration') - before).toBe(1);
  });

  it('groups as an array and as a space-separated string; missing groups and email', async () => {
    const v = verifier();
    expect((await v.verify(await signA(claimsA({ groups: ['x', 'y'] })))).groups).toEqual(['x', 'y']);
    expect((await v.verify(await signA(claimsA({ groups: '  x   y ' })))).groups).toEqual(['x', 'y']);
    const bare = await v.verify(await signA(claimsA({ groups: undefined, email: undefined })));
    expect(bare.groups).toEqual([]);
    expect(bare.email).toBeNull();
  });

  it('a token expired within the clock tolerance, and nbf within it', async () => {
    const v = verifier();
    await expect(v.verify(await signA(claimsA({ exp: T - 10 })))).resolves.toBeDefined();
    await expect(v.verify(await signA(claimsA({ nbf: T + 10 })))).resolves.toBeDefined();
  });
});

describe('refuses', () => {
  it('a token that lives longer than the issuer allows: ten years out without iat, or exp - iat over maxTokenAge', async () => {
    const v = verifier();
    const TEN_YEARS = 10 * 365 * 86_400;
    const cases = [
      claimsA({ iat: undefined, exp: T + TEN_YEARS }),
      claimsA({ iat: T, exp: T + TEN_YEARS }),
      claimsA({ iat: T - 60, exp: T + 86_400 }),
      claimsA({ iat: undefined }),
    ];
    for (const claims of cases) {
      const token = await signA(claims);
      await expectRefusal(v.verify(token), 'unauthenticated', token);
    }
    // At exactly the limit it is fine; a stricter issuer refuses the same token.
    const day = await signA(claimsA({ iat: T, exp: T + 86_400 }));
    await expect(v.verify(day)).resolves.toMatchObject({ subject: 'agent:demo' });
    const strict = createIdentityVerifier({ issuers: [{ ...issuerA, maxTokenAge: 3600 }], now });
    await expectRefusal(strict.verify(day), 'unauthenticated', day);
    await expect(strict.verify(await signA())).resolves.toMatchObject({ subject: 'agent:demo' });
  });

  it('an issuer that is not configured, or only nearly equal', async () => {
    const v = verifier();
    for (const iss of [`${server.base}/c`, `${issuerA.issuer}/`, issuerA.issuer.toUpperCase(), undefined]) {
      const token = await signA(claimsA({ iss }));
      await expectRefusal(v.verify(token), 'unauthenticated', token);
    }
  });

  it('a token whose iss names B but is signed by A', async () => {
    const token = await signA(claimsA({ iss: issuerB.issuer, roles: [] }));
    await expectRefusal(verifier().verify(token), 'unauthenticated', token);
  });

  it('a wrong or missing audience', async () => {
    const v = verifier();
    for (const aud of ['airlock-query', ['api', 'other'], undefined]) {
      const token = await signA(claimsA({ aud }));
      await expectRefusal(v.verify(token), 'unauthenticated', token);
    }
  });

  it('an expired token, and one without exp', async () => {
    const v = verifier();
    const expired = await signA(claimsA({ exp: T - 31 }));
    await expectRefusal(v.verify(expired), 'unauthenticated', expired);
    const endless = await signA(claimsA({ exp: undefined }));
    await expectRefusal(v.verify(endless), 'unauthenticated', endless);
  });

  it('an expired token with a zero clock tolerance', async () => {
    const token = await signA(claimsA({ exp: T - 1 }));
    await expectRefusal(verifier({ clockToleranceSeconds: 0 }).verify(token), 'unauthenticated', token);
  });

  it('a token not yet valid (nbf)', async () => {
    const token = await signA(claimsA({ nbf: T + 31 }));
    await expectRefusal(verifier().verify(token), 'unauthenticated', token);
  });

  it('alg none, hand-crafted', async () => {
    const v = verifier();
    for (const alg of ['none', 'None', 'NONE']) {
      const token = unsignedToken({ alg, typ: 'JWT' }, claimsA());
      await expectRefusal(v.verify(token), 'unauthenticated', token);
      const withKid = unsignedToken({ alg, kid: 'a1' }, claimsA());
      await expectRefusal(v.verify(withKid), 'unauthenticated', withKid);
    }
  });

  it("HS256 keyed with the issuer's public key bytes (alg confusion)", async () => {
    const v = verifier();
    const secrets = [keyA.publicPem, JSON.stringify(keyA.publicJwk), Buffer.from(keyA.publicJwk.n ?? '', 'base64url')];
    for (const secret of secrets) {
      const token = hmacToken({ alg: 'HS256', kid: 'a1', typ: 'JWT' }, claimsA(), secret);
      await expectRefusal(v.verify(token), 'unauthenticated', token);
    }
  });

  it("an algorithm outside the issuer's allow-list", async () => {
    const strict = createIdentityVerifier({ issuers: [{ ...issuerA, algorithms: ['ES256'] }], now });
    const token = await signA();
    await expectRefusal(strict.verify(token), 'unauthenticated', token);
  });

  it('a missing or empty sub', async () => {
    const v = verifier();
    for (const sub of [undefined, '']) {
      const token = await signA(claimsA({ sub }));
      await expectRefusal(v.verify(token), 'unauthenticated', token);
    }
  });

  it('a tampered payload', async () => {
    const token = await signA();
    const tampered = withPayload(token, claimsA({ sub: 'admin', groups: ['security'] }));
    await expectRefusal(verifier().verify(tampered), 'unauthenticated', tampered);
  });

  it('a signature by another key claiming the issuer kid', async () => {
    const token = await signA(claimsA(), {}, attacker.privateKey);
    await expectRefusal(verifier().verify(token), 'unauthenticated', token);
  });

  it('an embedded jwk header, even when it names the real key', async () => {
    const v = verifier();
    const forged = await signA(
      claimsA(),
      { jwk: { kty: attacker.publicJwk.kty, n: attacker.publicJwk.n, e: attacker.publicJwk.e } },
      attacker.privateKey,
    );
    await expectRefusal(v.verify(forged), 'unauthenticated', forged);
    const genuine = rs256Token(
      { alg: 'RS256', kid: 'a1', jwk: { kty: 'RSA', n: keyA.publicJwk.n, e: keyA.publicJwk.e } },
      claimsA(),
      keyA.privatePem,
    );
    await expectRefusal(v.verify(genuine), 'unauthenticated', genuine);
  });

  it('a jku header, without fetching it', async () => {
    const before = server.hits('/evil/jwks.json');
    const token = await signA(claimsA(), { jku: `${server.base}/evil/jwks.json` }, attacker.privateKey);
    await expectRefusal(verifier().verify(token), 'unauthenticated', token);
    expect(server.hits('/evil/jwks.json')).toBe(before);
  });

  it('x5u and x5c headers', async () => {
    const v = verifier();
    for (const header of [{ x5u: `${server.base}/evil/cert.pem` }, { x5c: ['MIIB'] }]) {
      const token = rs256Token({ alg: 'RS256', kid: 'a1', ...header }, claimsA(), keyA.privatePem);
      await expectRefusal(v.verify(token), 'unauthenticated', token);
    }
  });

  it('a grant token used as an identity token', async () => {
    const v = verifier();
    const { privateJwk } = await generateSigningKeyPair('g1');
    const grantKeys = await loadSigningKeys({ keys: [privateJwk] });
    const grant = await signGrantToken(
      grantKeys,
      { subject: 'agent:demo', grantId: 'g-1', expiresAt: new Date(NOW.getTime() + 60_000), issuer: issuerA.issuer },
      now,
    );
    await expectRefusal(v.verify(grant), 'unauthenticated', grant);
    // Even if signed by the issuer's own key: the grant typ alone is refused, in any spelling.
    for (const typ of [GRANT_TOKEN_TYPE, `application/${GRANT_TOKEN_TYPE}`, GRANT_TOKEN_TYPE.toUpperCase()]) {
      const token = await signA(claimsA(), { typ });
      await expectRefusal(v.verify(token), 'unauthenticated', token);
    }
  });

  it('a malformed groups or email claim', async () => {
    const v = verifier();
    for (const overrides of [{ groups: ['ok', 7] }, { groups: { admin: true } }, { email: ['a@b'] }]) {
      const token = await signA(claimsA(overrides));
      await expectRefusal(v.verify(token), 'unauthenticated', token);
    }
  });

  it('garbage, empty and oversized tokens', async () => {
    const v = verifier();
    for (const token of ['', 'abc', 'a.b.c', '..', `${'x'.repeat(20_000)}.y.z`])
      await expectRefusal(v.verify(token), 'unauthenticated');
  });
});

describe('JWKS fetching', () => {
  it('an unknown kid refetches the JWKS once, then the cooldown stops another fetch', async () => {
    const path = '/rot/jwks.json';
    const rotating: Issuer = { ...issuerA, issuer: `${server.base}/rot`, jwksUri: `${server.base}${path}` };
    server.route(path, { keys: [keyA.publicJwk] });
    const v = createIdentityVerifier({ issuers: [rotating], now, jwksCooldownMs: 300 });
    const claims = claimsA({ iss: rotating.issuer });

    await v.verify(await signA(claims));
    expect(server.hits(path)).toBe(1);
    await sleep(350);

    const unknown = await signA(claims, { kid: 'nope' });
    await expectRefusal(v.verify(unknown), 'unauthenticated', unknown);
    expect(server.hits(path)).toBe(2);
    await expectRefusal(v.verify(unknown), 'unauthenticated', unknown);
    expect(server.hits(path)).toBe(2);

    // The issuer rotates in a new key: after the cooldown the new kid is fetched and accepted.
    const next = await pair('RS256', 'a2');
    server.route(path, { keys: [keyA.publicJwk, next.publicJwk] });
    await sleep(350);
    await expect(v.verify(await signA(claims, { kid: 'a2' }, next.privateKey))).resolves.toMatchObject({
      subject: 'agent:demo',
    });
    expect(server.hits(path)).toBe(3);
  });

  it('fails closed with unavailable when the JWKS endpoint errors or cannot be reached', async () => {
    server.route('/down/jwks.json', { error: 'boom' }, 500);
    const down: Issuer = { ...issuerA, issuer: `${server.base}/down`, jwksUri: `${server.base}/down/jwks.json` };
    const gone: Issuer = {
      ...issuerA,
      issuer: 'http://127.0.0.1:1/gone',
      jwksUri: 'http://127.0.0.1:1/gone/jwks.json',
    };
    const v = createIdentityVerifier({ issuers: [down, gone], now });
    for (const issuer of [down, gone]) {
      const token = await signA(claimsA({ iss: issuer.issuer }));
      await expectRefusal(v.verify(token), 'unavailable', token);
    }
  });

  it('fails closed on a malformed JWKS or a JWKS holding a private key', async () => {
    const { privateJwk } = await generateSigningKeyPair('p1');
    server.route('/bad/jwks.json', { keys: 'nope' });
    server.route('/priv/jwks.json', { keys: [privateJwk] });
    const bad: Issuer = { ...issuerA, issuer: `${server.base}/bad`, jwksUri: `${server.base}/bad/jwks.json` };
    const priv: Issuer = { ...issuerA, issuer: `${server.base}/priv`, jwksUri: `${server.base}/priv/jwks.json` };
    const v = createIdentityVerifier({ issuers: [bad, priv], now });
    await expectRefusal(v.verify(await signA(claimsA({ iss: bad.issuer }))), 'unavailable');
    const leaked = (await importJWK(privateJwk, 'ES256')) as CryptoKey;
    const token = await new SignJWT(claimsA({ iss: priv.issuer }))
      .setProtectedHeader({ alg: 'ES256', kid: 'p1' })
      .sign(leaked);
    await expectRefusal(v.verify(token), 'unavailable', token);
  });

  it('refuses a discovery document naming another issuer, and retries discovery after a failure', async () => {
    const path = '/d/.well-known/openid-configuration';
    const discovered: Issuer = {
      issuer: `${server.base}/d`,
      audience: 'airlock',
      groupsClaim: 'groups',
      emailClaim: 'email',
      maxTokenAge: 86_400,
    };
    server.route(path, { issuer: `${server.base}/elsewhere`, jwks_uri: `${server.base}/a/jwks.json` });
    const v = createIdentityVerifier({ issuers: [discovered], now });
    const token = await signA(claimsA({ iss: discovered.issuer }));
    await expectRefusal(v.verify(token), 'unavailable', token);
    server.route(path, { issuer: discovered.issuer, jwks_uri: `${server.base}/a/jwks.json` });
    await expect(v.verify(token)).resolves.toMatchObject({ issuer: discovered.issuer });
    expect(server.hits(path)).toBe(2);
  });
});

describe('configuration', () => {
  it('refuses an issuer configured twice', () => {
    expect(() => createIdentityVerifier({ issuers: [issuerA, issuerA] })).toThrow(/configured twice/);
  });
});
