// DNS rebinding (issue 12, item 8): the assembled app behind the request guard exactly as createApp mounts it
// (the composition root passes `guard`): a foreign Host is refused with 421 everywhere, /dev/* answers only
// loopback peers, and /mcp refuses a browser Origin the policy does not name (403); non-browser calls pass.

import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { type ServerType, serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../shared/http/app.ts';
import { requestGuardOptions } from '../../shared/http/guard.ts';
import { openGrant } from '../query/fixtures.ts';
import { DEMO_POLICY_TEXT, startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { expectErrorShape, rawRequest } from './support.ts';

const CONSOLE_ORIGIN = 'https://console.example.com';
const policyText = DEMO_POLICY_TEXT.replace('auditors:', `http: { mcpOrigins: [${CONSOLE_ORIGIN}] }\nauditors:`);

let stack: TestAirlock;
let guarded: ServerType;
let port: number;
/** The Host a browser on this machine sends for the stack's own URL. */
let ownHost: string;

beforeAll(async () => {
  stack = await startTestAirlock({ policyText });
  ownHost = new URL(stack.baseUrl).host;
  const app = createApp(
    {
      maxBodyBytes: stack.policy.limits.maxBodyBytes,
      publicUrl: stack.policy.publicUrl,
      guard: requestGuardOptions(stack.policy, { baseUrl: stack.baseUrl }),
    },
    (root) => root.route('/', stack.airlock.app),
  );
  // On every interface, so a peer that is not loopback can be tried too.
  guarded = await new Promise<ServerType>((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '0.0.0.0' }, () => resolve(server));
  });
  port = (guarded.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => guarded?.close(() => resolve()));
  await stack?.close();
});

function send(method: string, path: string, headers: Record<string, string>, body?: unknown, address = '127.0.0.1') {
  const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return rawRequest(
    `http://${address}:${port}`,
    method,
    path,
    { ...(bytes ? { 'content-type': 'application/json' } : {}), ...headers },
    bytes,
  );
}

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'probe', version: '1' } },
};

describe('Host', () => {
  it('answers for its own URL and the loopback names at its port', async () => {
    const port = new URL(stack.baseUrl).port;
    for (const host of [ownHost, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      expect((await send('GET', '/healthz', { host })).status, host).toBe(200);
    }
  });

  it('refuses a rebound name with 421 in the error shape, on every route, before anything runs', async () => {
    const grant = await openGrant(stack);
    const host = `attacker.example:${new URL(stack.baseUrl).port}`;
    const attempts = [
      send('GET', '/healthz', { host }),
      send('POST', '/dev/token', { host }, { sub: 'agent:rebound' }),
      send('GET', '/dev/outbox', { host }),
      send('POST', '/v1/query', { host, authorization: `Bearer ${grant.token}` }, { sql: 'SELECT 1' }),
      send('GET', '/v1/grants', { host, authorization: `Bearer ${grant.identity}` }),
      send('GET', '/healthz', { host: 'localhost:1' }),
      send('GET', '/healthz', { host: '127.0.0.1' }),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(421);
      expect(expectErrorShape(421, response.text, 'rebound host').code).toBe('misdirected');
    }
    // Nothing ran: the grant's trail has no statement.
    const trail = await stack.call('GET', `/v1/grants/${grant.id}/audit`, { token: grant.identity });
    expect(trail.body.events.map((event: { type: string }) => event.type)).toEqual([
      'grant.requested',
      'grant.activated',
    ]);
  });

  it('lists https public names with and without the default port', () => {
    const options = requestGuardOptions({
      publicUrl: 'https://Airlock.Example.com/base',
      http: { allowedHosts: ['api.internal:8443'], mcpOrigins: [] },
    });
    expect(options).toEqual({
      hosts: ['airlock.example.com', 'airlock.example.com:443', 'api.internal:8443'],
      mcpOrigins: [],
      devLoopbackOnly: false,
    });
  });
});

describe('/dev/* only on loopback', () => {
  const external = Object.values(networkInterfaces())
    .flat()
    .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;

  it('serves the dev issuer to a loopback peer', async () => {
    expect((await send('POST', '/dev/token', { host: ownHost }, { sub: 'agent:local' })).status).toBe(200);
  });

  // Needs a second interface to connect from; a machine with only loopback cannot show it.
  it.runIf(external !== undefined)(
    'refuses it (403) to a peer on another interface, which still gets the API',
    async () => {
      const token = await send('POST', '/dev/token', { host: ownHost }, { sub: 'agent:remote' }, external);
      expect(token.status).toBe(403);
      expect(expectErrorShape(403, token.text, 'remote dev').code).toBe('forbidden');
      expect((await send('GET', '/dev/outbox', { host: ownHost }, undefined, external)).status).toBe(403);
      expect((await send('GET', '/healthz', { host: ownHost }, undefined, external)).status).toBe(200);
    },
  );
});

describe('Origin on /mcp', () => {
  const mcp = async (headers: Record<string, string>) =>
    send(
      'POST',
      '/mcp',
      {
        host: ownHost,
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${await stack.token('agent:origin')}`,
        ...headers,
      },
      initialize,
    );

  it('serves a client that sends no Origin (not a browser), and an origin the policy names', async () => {
    expect((await mcp({})).status).toBe(200);
    expect((await mcp({ origin: CONSOLE_ORIGIN })).status).toBe(200);
  });

  it('refuses a foreign browser Origin with 403 in the error shape', async () => {
    for (const origin of [
      'https://attacker.example',
      'null',
      `http://${ownHost}`,
      `${CONSOLE_ORIGIN}.attacker.example`,
    ]) {
      const response = await mcp({ origin });
      expect(response.status, origin).toBe(403);
      expect(expectErrorShape(403, response.text, origin).code).toBe('forbidden');
    }
  });
});
