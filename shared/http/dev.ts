// Local-mode routes: the dev identity issuer and the outbox of emails. Never mounted in AWS.
// Tokens are only minted for the local stack's own issuer, which the policy must name to trust.

import { z } from 'zod';
import type { DevIssuer } from '../identity/index.ts';
import { type Routes, readJson } from './app.ts';
import { parseBody } from './validate.ts';

const DevTokenBody = z.strictObject({
  sub: z.string().min(1).max(256),
  groups: z.array(z.string().min(1).max(128)).max(64).optional(),
  email: z.email().optional(),
  ttlSeconds: z.number().int().min(1).max(86_400).optional(),
});

export function devRoutes(options: { issuer: DevIssuer }): Routes {
  return (app) => {
    app.post('/dev/token', async (c) => {
      const body = parseBody(DevTokenBody, await readJson(c.req.raw));
      return c.json({ token: await options.issuer.issue(body) });
    });
    app.get('/dev/jwks.json', (c) => c.json(options.issuer.jwks()));
  };
}
