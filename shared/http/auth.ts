// Authentication middleware: identity tokens for /v1/grants and /mcp, nothing else accepted there.
// The verified principal goes on the context; a handler never sees an unverified token.

import type { MiddlewareHandler } from 'hono';
import { AirlockError } from '../errors.ts';
import type { IdentityVerifier, Principal } from '../identity/index.ts';

export type IdentityEnv = { Variables: { principal: Principal } };

/** The bearer token of the request, or a 401. */
export function bearerToken(header: string | undefined): string {
  const match = /^Bearer[ ]+([A-Za-z0-9._~+/=-]+)\s*$/.exec(header ?? '');
  if (!match) throw new AirlockError('unauthenticated', 'missing or malformed bearer token');
  return match[1]!;
}

export function identityAuth(verifier: IdentityVerifier): MiddlewareHandler<IdentityEnv> {
  return async function identity(c, next) {
    const principal = await verifier.verify(bearerToken(c.req.header('authorization')));
    c.set('principal', principal);
    await next();
  };
}
