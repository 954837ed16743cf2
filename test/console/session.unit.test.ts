import { describe, expect, it } from 'vitest';
import { consoleRoutes } from '../../shared/console/index.ts';
import { createSessionSealer } from '../../shared/console/session.ts';
import { createApp, requestGuardOptions } from '../../shared/http/index.ts';
import { createDevIssuer, generateSigningKeyPair } from '../../shared/identity/index.ts';
import type { OperatorPlane } from '../../shared/operators/index.ts';
import { parsePolicyText } from '../../shared/policy/index.ts';
import { testClock } from '../support/airlock.ts';

const SECRET = 'k'.repeat(48);

describe('session cookies', () => {
  it('open only as sealed: altered, expired, another key, or a login cookie passed as a session are all no session', async () => {
    const clock = testClock();
    const sealer = createSessionSealer({ secret: SECRET, now: clock.now });
    const claims = { idt: 'header.payload.signature', csrf: 'c'.repeat(43) };
    const cookie = await sealer.seal(claims, new Date(clock.now().getTime() + 60_000));
    expect(await sealer.open(cookie)).toEqual(claims);
    // The payload is encrypted: the ID token is not readable in the cookie.
    expect(Buffer.from(cookie.split('.')[3]!, 'base64url').toString()).not.toContain('header.payload');
    const parts = cookie.split('.');
    parts[3] = `${parts[3]!.slice(0, -2)}${parts[3]!.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(await sealer.open(parts.join('.'))).toBeNull();
    expect(await createSessionSealer({ secret: 'o'.repeat(48), now: clock.now }).open(cookie)).toBeNull();
    const login = await sealer.sealLogin({
      state: 's'.repeat(43),
      nonce: 'n'.repeat(43),
      verifier: 'v'.repeat(64),
      next: '/console',
    });
    expect(await sealer.open(login)).toBeNull();
    clock.advance(61);
    expect(await sealer.open(cookie)).toBeNull();
  });
});

describe('on https', () => {
  it('the console sets __Host- cookies with Secure, HttpOnly and SameSite, the session Strict', async () => {
    // An https deployment cannot run here: its issuer is the dev issuer's code, reached through this fetch.
    const issuerUrl = 'https://idp.example.com';
    const { privateJwk } = await generateSigningKeyPair();
    const issuer = createDevIssuer({ issuer: issuerUrl, privateJwks: { keys: [privateJwk] } });
    let nonce = '';
    const fetchIdp: typeof fetch = async (input) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url === `${issuerUrl}/jwks.json`) return Response.json(issuer.jwks());
      return new Response('not found', { status: 404 });
    };
    const policy = parsePolicyText(
      [
        'version: 1',
        'publicUrl: https://airlock.example.com',
        'identity:',
        `  issuers: [{ issuer: "${issuerUrl}", audience: airlock, jwksUri: "${issuerUrl}/jwks.json" }]`,
        `console: { issuer: "${issuerUrl}", clientId: airlock-console }`,
        'operators: { groups: [security] }',
        'connections: { shop: { adminSecret: a/b, profiles: { read: { readOnly: true } } } }',
      ].join('\n'),
    );
    const routes = consoleRoutes({
      policy,
      // Sign-in never reaches the plane: it is not called in this test.
      plane: {} as OperatorPlane,
      sessionSecret: SECRET,
      fetch: fetchIdp,
      oidc: {
        async authorizationUrl(request) {
          nonce = request.nonce;
          return `${issuerUrl}/authorize?state=${request.state}`;
        },
        exchange: () => issuer.issue({ sub: 'human:sec', groups: ['security'], audience: 'airlock-console', nonce }),
      },
    });
    const app = createApp(
      { maxBodyBytes: 65_536, publicUrl: policy.publicUrl, guard: requestGuardOptions(policy) },
      routes,
    );

    const login = await app.request('https://airlock.example.com/console/login');
    expect(login.status).toBe(302);
    const loginCookie = login.headers.getSetCookie()[0]!;
    expect(loginCookie).toMatch(/^__Host-airlock-console-login=/);
    expect(loginCookie).toMatch(/; Path=\/(;|$)/);
    expect(loginCookie).toMatch(/; Secure/);
    expect(loginCookie).toMatch(/; HttpOnly/);
    expect(loginCookie).toMatch(/; SameSite=Lax/);
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;

    const callback = await app.request(`https://airlock.example.com/console/callback?code=abc&state=${state}`, {
      headers: { cookie: loginCookie.split(';')[0]! },
    });
    expect(callback.status).toBe(200);
    const session = callback.headers.getSetCookie().find((line) => line.startsWith('__Host-airlock-console='));
    expect(session).toBeDefined();
    expect(session).toMatch(/; Secure/);
    expect(session).toMatch(/; HttpOnly/);
    expect(session).toMatch(/; SameSite=Strict/);
    expect(session).toMatch(/; Path=\/(;|$)/);
  });
});
