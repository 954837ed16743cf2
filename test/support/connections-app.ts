// A real HTTP app serving GET /v1/connections beside the local dev issuer, on a free port, with no
// store or database: what the connections route needs, and fast to start.

import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { localizePolicy } from '../../local/stack.ts';
import { createApp } from '../../shared/http/app.ts';
import { connectionRoutes } from '../../shared/http/connections.ts';
import { devRoutes } from '../../shared/http/dev.ts';
import { requestGuardOptions } from '../../shared/http/guard.ts';
import { createDevIssuer } from '../../shared/identity/dev-issuer.ts';
import { generateSigningKeyPair } from '../../shared/identity/grant-token.ts';
import { createIdentityVerifier } from '../../shared/identity/verify.ts';
import { parsePolicyText } from '../../shared/policy/load.ts';
import { DEMO_POLICY_TEXT } from './airlock.ts';

export interface ConnectionsApp {
  baseUrl: string;
  token(sub: string, groups?: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function startConnectionsApp(policyText = DEMO_POLICY_TEXT): Promise<ConnectionsApp> {
  let fetchApp: (request: Request) => Response | Promise<Response> = () => new Response(null, { status: 503 });
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: (request) => fetchApp(request), port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const policy = localizePolicy(parsePolicyText(policyText, 'test policy'), baseUrl);
  const { privateJwk } = await generateSigningKeyPair();
  const issuer = createDevIssuer({ issuer: `${baseUrl}/dev`, privateJwks: { keys: [privateJwk] } });
  const identity = createIdentityVerifier({ issuers: policy.identity.issuers });
  const app = createApp(
    { maxBodyBytes: policy.limits.maxBodyBytes, publicUrl: policy.publicUrl, guard: requestGuardOptions(policy) },
    devRoutes({ issuer }),
    connectionRoutes({ policy, identity }),
  );
  fetchApp = app.fetch;
  return {
    baseUrl,
    token: (sub, groups = []) => issuer.issue({ sub, groups }),
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
