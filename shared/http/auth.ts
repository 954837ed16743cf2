// Authentication middleware: identity tokens for /v1/grants, /v1/admin and /mcp; grant tokens for /v1/query.
// The verified principal (or live grant) goes on the context; a handler never sees an unverified token.

import type { MiddlewareHandler } from 'hono';
import { AirlockError } from '../errors.ts';
import type { IdentityVerifier } from '../identity/index.ts';
import type { AppEnv } from './app.ts';

/** The bearer token of the request, or a 401. */
export function bearerToken(header: string | undefined): string {
  const match = /^Bearer[ ]+([A-Za-z0-9._~+/=-]+)\s*$/.exec(header ?? '');
  if (!match) throw new AirlockError('unauthenticated', 'missing or malformed bearer token');
  return match[1]!;
}

export function identityAuth(verifier: IdentityVerifier): MiddlewareHandler<AppEnv> {
  return async function identity(c, next) {
    const principal = await verifier.verify(bearerToken(c.req.header('authorization')));
    c.set('principal', principal);
    await next();
  };
}
