import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevIssuer } from '../../shared/identity/dev-issuer.ts';
import { generateSigningKeyPair } from '../../shared/identity/grant-token.ts';
import { type ConnectionsApp, startConnectionsApp } from '../support/connections-app.ts';

// GET /v1/connections over real HTTP, with identity tokens from the local dev issuer checked by the
// real verifier (JWKS fetched over a socket).

let app: ConnectionsApp;
beforeAll(async () => {
  app = await startConnectionsApp();
});
afterAll(() => app.close());

async function get(token?: string) {
  const response = await fetch(`${app.baseUrl}/v1/connections`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: response.status, body: (await response.json()) as any };
}

describe('GET /v1/connections', () => {
  it("lists the caller's connections and accesses, as the policy decides for that caller", async () => {
    const finance = await get(await app.token('agent:demo', ['finance']));
    expect(finance).toEqual({
      status: 200,
      body: {
        connections: [
          {
            name: 'shop',
            accesses: [
              { access: 'read', outcome: 'granted', maxTtlSeconds: 1800, rule: 'agents-read' },
              { access: 'write', outcome: 'approval', maxTtlSeconds: 900, rule: 'agents-write' },
            ],
          },
        ],
      },
    });
    const plain = await get(await app.token('agent:demo'));
    expect(plain.body.connections[0].accesses.map((access: { access: string }) => access.access)).toEqual(['read']);
  });

  it('is an empty list for a caller no rule matches', async () => {
    expect(await get(await app.token('human:bob', ['finance']))).toEqual({ status: 200, body: { connections: [] } });
  });

  it.each([
    ['no token', undefined],
    ['a token that is not a JWT', 'not-a-jwt'],
  ])('refuses %s with 401 unauthenticated', async (_what, token) => {
    const { status, body } = await get(token);
    expect(status).toBe(401);
    expect(body.error.code).toBe('unauthenticated');
  });

  it("refuses a token in the issuer's name signed by another key", async () => {
    const { privateJwk } = await generateSigningKeyPair();
    const forger = createDevIssuer({ issuer: `${app.baseUrl}/dev`, privateJwks: { keys: [privateJwk] } });
    const { status, body } = await get(await forger.issue({ sub: 'agent:demo', groups: ['finance'] }));
    expect(status).toBe(401);
    expect(body.error.code).toBe('unauthenticated');
  });
});
