import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';

let stack: TestAirlock;
beforeAll(async () => {
  stack = await startTestAirlock();
});
afterAll(() => stack.close());

describe('the app surface', () => {
  it('answers /healthz', async () => {
    expect(await stack.call('GET', '/healthz')).toMatchObject({ status: 200, body: { ok: true } });
  });

  it('publishes the grant-token public keys, never a private part', async () => {
    const { status, body } = await stack.call('GET', '/.well-known/jwks.json');
    expect(status).toBe(200);
    expect(body.keys.length).toBeGreaterThanOrEqual(1);
    for (const key of body.keys) {
      expect(key.kid).toBeTruthy();
      expect(key.d).toBeUndefined();
    }
  });

  it('serves an OpenAPI 3.1 document generated from the route schemas', async () => {
    const { status, body } = await stack.call('GET', '/openapi.json');
    expect(status).toBe(200);
    expect(body.openapi).toBe('3.1.0');
    const resolve = (schema: { $ref?: string }) =>
      schema.$ref ? body.components.schemas[schema.$ref.replace('#/components/schemas/', '')] : schema;
    const grantBody = resolve(body.paths['/v1/grants'].post.requestBody.content['application/json'].schema);
    expect(grantBody.required).toEqual(expect.arrayContaining(['connection', 'access', 'ttl', 'reason']));
    expect(body.paths['/v1/query'].post.security).toEqual([{ grantToken: [] }]);
    const decision = resolve(
      body.paths['/v1/approvals/{token}'].post.requestBody.content['application/x-www-form-urlencoded'].schema,
    );
    expect(Object.keys(decision.properties)).toEqual(expect.arrayContaining(['decision', 'confirm']));
    expect(body.paths['/v1/approvals/{token}'].get.parameters[0].name).toBe('token');
    expect(body.paths['/mcp'].post.security).toEqual([{ identityToken: [] }]);
  });

  it('answers unknown routes with the JSON error shape', async () => {
    const { status, body, headers } = await stack.call('GET', '/nope');
    expect(status).toBe(404);
    expect(headers.get('content-type')).toMatch(/application\/json/);
    expect(body).toEqual({
      error: { code: 'not_found', message: expect.any(String), requestId: headers.get('x-request-id') },
    });
  });

  it('refuses a body over the limit with 413 before reading it', async () => {
    const token = await stack.token('agent:big');
    const { status, body } = await stack.call('POST', '/v1/grants', {
      token,
      body: { connection: 'shop', access: 'read', ttl: 60, reason: 'x'.repeat(300 * 1024) },
    });
    expect(status).toBe(413);
    expect(body.error.code).toBe('too_large');
  });

  it.each([
    ['not JSON', 'application/json', '{nope'],
    ['the wrong content type', 'text/plain', '{"connection":"shop","access":"read","ttl":60,"reason":"x"}'],
  ])('refuses a body that is %s with 400 invalid_request', async (_name, type, raw) => {
    const token = await stack.token('agent:shape');
    const { status, body } = await stack.call('POST', '/v1/grants', {
      token,
      body: raw,
      headers: { 'content-type': type },
    });
    expect(status).toBe(400);
    expect(body.error.code).toBe('invalid_request');
  });

  it('issues dev tokens that verify against /dev/jwks.json, and refuses bad dev-token bodies', async () => {
    const { body } = await stack.call('POST', '/dev/token', {
      body: { sub: 'agent:x', groups: ['a'], email: 'x@example.com' },
    });
    const [header, payload] = body.token
      .split('.')
      .slice(0, 2)
      .map((part: string) => JSON.parse(Buffer.from(part, 'base64url').toString()));
    const jwks = (await stack.call('GET', '/dev/jwks.json')).body;
    expect(jwks.keys.map((k: { kid: string }) => k.kid)).toContain(header.kid);
    expect(payload).toMatchObject({ sub: 'agent:x', iss: `${stack.baseUrl}/dev`, aud: 'airlock', groups: ['a'] });
    expect((await stack.call('POST', '/dev/token', { body: { groups: [] } })).status).toBe(400);
  });
});
