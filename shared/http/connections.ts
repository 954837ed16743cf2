// GET /v1/connections: the connections and accesses the caller could request, by identity token.
// Says only what `decide` would say to this caller; never lists a connection the policy would deny it.

import { Hono } from 'hono';
import type { IdentityVerifier } from '../identity/verify.ts';
import { requestableConnections } from '../policy/connections.ts';
import type { Policy } from '../policy/schema.ts';
import type { Routes } from './app.ts';
import { type IdentityEnv, identityAuth } from './auth.ts';

export interface ConnectionRoutesOptions {
  policy: Policy;
  identity: IdentityVerifier;
}

export function connectionRoutes(options: ConnectionRoutesOptions): Routes {
  return (app) => {
    const v1 = new Hono<IdentityEnv>();
    v1.use(identityAuth(options.identity));
    v1.get('/', (c) => c.json({ connections: requestableConnections(options.policy, c.get('principal')) }));
    app.route('/v1/connections', v1);
  };
}
