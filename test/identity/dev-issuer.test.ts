// The dev identity issuer: the tokens it mints, its input limits, and that the identity verifier accepts them.
// Must never mock fetch: the verifier reads the dev JWKS from a real local server.

import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDevIssuer,
  createIdentityVerifier,
  type DevIssuer,
  generateSigningKeyPair,
} from '../../shared/identity/index.ts';
import { decodeSegment, expectRefusal, type KeyServer, startKeyServer } from './fixtures.ts';

const NOW = new Date('2030-01-01T00:00:00Z');
const now = () => NOW;
const T = Math.floor(NOW.getTime() / 1000);

let server: KeyServer;
let issuer: string;
let dev: DevIssuer;
let privateJwk: JWK;

beforeAll(async () => {
  server = await startKeyServer();
  issuer = `${server.base}/dev`;
  ({ privateJwk } = await generateSigningKeyPair('dev-1'));
  const retiring = await generateSigningKeyPair('dev-0');
  dev = createDevIssuer({ issuer, privateJwks: { keys: [privateJwk, retiring.privateJwk] }, now });
  server.route('/dev/jwks.json', dev.jwks());
});

afterAll(() => server.close());

describe('dev issuer', () => {
  it('publishes public keys only', () => {
    const { keys } = dev.jwks();
    expect(keys.map((jwk) => jwk.kid)).toEqual(['dev-1', 'dev-0']);
    for (const jwk of keys) expect(jwk).not.toHaveProperty('d');
    keys[0]!.kid = 'mutated';
    expect(dev.jwks().keys[0]!.kid).toBe('dev-1');
  });

  it('mints ES256 JWTs for aud airlock with the default 600 s ttl', async () => {
    const token = await dev.issue({ sub: 'agent:demo', groups: ['finance'], email: 'demo@example.com' });
    expect(decodeSegment(token, 0)).toEqual({ alg: 'ES256', kid: 'dev-1', typ: 'JWT' });
    expect(decodeSegment(token, 1)).toMatchObject({
      iss: issuer,
      aud: 'airlock',
      sub: 'agent:demo',
      groups: ['finance'],
      email: 'demo@example.com',
      iat: T,
      exp: T + 600,
    });
  });

  it('is accepted by the identity verifier like any configured issuer', async () => {
    const verifier = createIdentityVerifier({
      issuers: [
        {
          issuer,
          audience: 'airlock',
          jwksUri: `${server.base}/dev/jwks.json`,
          groupsClaim: 'groups',
          emailClaim: 'email',
          maxTokenAge: 86_400,
        },
      ],
      now,
    });
    const principal = await verifier.verify(
      await dev.issue({ sub: 'agent:demo', groups: ['finance'], ttlSeconds: 60 }),
    );
    expect(principal).toMatchObject({ subject: 'agent:demo', issuer, groups: ['finance'], email: null });
    const expired = await dev.issue({ sub: 'agent:demo', ttlSeconds: 1 });
    await expectRefusal(
      createIdentityVerifier({
        issuers: [
          {
            issuer,
            audience: 'airlock',
            jwksUri: `${server.base}/dev/jwks.json`,
            groupsClaim: 'groups',
            emailClaim: 'email',
            maxTokenAge: 86_400,
          },
        ],
        now: () => new Date(NOW.getTime() + 60_000),
      }).verify(expired),
      'unauthenticated',
      expired,
    );
  });

  it('honours ttlSeconds up to 86400 and refuses more, zero or fractions', async () => {
    expect(decodeSegment(await dev.issue({ sub: 'a', ttlSeconds: 86_400 }), 1).exp).toBe(T + 86_400);
    for (const ttlSeconds of [86_401, 0, -5, 1.5, Number.NaN])
      await expectRefusal(dev.issue({ sub: 'a', ttlSeconds }), 'invalid_request');
  });

  it('refuses an empty sub or malformed groups', async () => {
    await expectRefusal(dev.issue({ sub: '' }), 'invalid_request');
    await expectRefusal(dev.issue({ sub: 'a', groups: [''] }), 'invalid_request');
  });

  it('refuses a public-only key set', () => {
    expect(() => createDevIssuer({ issuer, privateJwks: { keys: [{ ...privateJwk, d: undefined }] } })).toThrow(
      /private key/,
    );
  });
});
