// The local dev issuer's OIDC authorization-code flow with PKCE: a code for whoever the developer names, and
// an ID token for that code. Must never run outside local mode, redirect off the stack's origin, or redeem a code twice.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { AirlockError } from '../errors.ts';
import type { DevIssuer } from './dev-issuer.ts';

/** How long a code may wait before it is redeemed. */
const CODE_TTL_MS = 60_000;
/** ID tokens of the dev flow live an hour: the console's session ends with them. */
const ID_TOKEN_TTL_SECONDS = 3600;
/** Codes not yet redeemed, at most; a flood of authorizations cannot grow memory without bound. */
const MAX_PENDING_CODES = 1000;

const Base64url = z.string().regex(/^[A-Za-z0-9_-]+$/);

/** The query of GET /dev/authorize, and the hidden fields its form posts back. */
export const DevAuthorizeParams = z.object({
  response_type: z.literal('code'),
  client_id: z.string().min(1).max(256),
  redirect_uri: z.url({ protocol: /^https?$/ }).max(2048),
  state: z.string().min(8).max(512),
  nonce: z.string().min(8).max(512).optional(),
  code_challenge: Base64url.min(43).max(128),
  code_challenge_method: z.literal('S256'),
  scope: z.string().max(1024).optional(),
});
export type DevAuthorizeParams = z.infer<typeof DevAuthorizeParams>;

/** Whom the developer signs in as. */
export const DevPerson = z.object({
  sub: z.string().trim().min(1).max(256),
  groups: z
    .string()
    .max(2048)
    .default('')
    .transform((value) => value.split(/[\s,]+/).filter((group) => group.length > 0)),
  email: z.union([z.literal(''), z.email()]).default(''),
});
export type DevPerson = z.infer<typeof DevPerson>;

/** The form body of POST /dev/oauth/token. */
export const DevTokenExchange = z.object({
  grant_type: z.literal('authorization_code'),
  code: z.string().min(1).max(256),
  redirect_uri: z.string().min(1).max(2048),
  client_id: z.string().min(1).max(256),
  code_verifier: Base64url.min(43).max(128),
});
export type DevTokenExchange = z.infer<typeof DevTokenExchange>;

interface PendingCode {
  params: DevAuthorizeParams;
  person: DevPerson;
  expiresAt: number;
}

export interface DevAuthorizer {
  /** The parameters, checked; a redirect_uri off the stack's origin is refused before anything is shown. */
  check(query: unknown): DevAuthorizeParams;
  /** Where the browser goes next: the client's redirect_uri with a fresh single-use code and the state. */
  authorize(params: DevAuthorizeParams, person: DevPerson): string;
  /** The ID token for a code, once, to the client and verifier it was issued for. */
  exchange(
    body: unknown,
  ): Promise<{ id_token: string; access_token: string; token_type: 'Bearer'; expires_in: number }>;
}

export const pkceChallenge = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function createDevAuthorizer(options: { issuer: DevIssuer; baseUrl: string; now?: () => Date }): DevAuthorizer {
  const now = options.now ?? (() => new Date());
  const origin = new URL(options.baseUrl).origin;
  const codes = new Map<string, PendingCode>();
  const invalid = (message: string) => new AirlockError('invalid_request', message);

  const forget = () => {
    const at = now().getTime();
    for (const [code, pending] of codes) if (pending.expiresAt <= at) codes.delete(code);
  };

  return {
    check(query) {
      const parsed = DevAuthorizeParams.safeParse(query);
      if (!parsed.success) throw invalid('the authorization request is not a valid code flow with PKCE (S256)');
      if (new URL(parsed.data.redirect_uri).origin !== origin)
        throw invalid('redirect_uri must be on this stack’s origin');
      return parsed.data;
    },

    authorize(params, person) {
      forget();
      if (codes.size >= MAX_PENDING_CODES) throw new AirlockError('rate_limited', 'too many sign-ins in progress');
      const code = randomBytes(32).toString('base64url');
      codes.set(code, { params, person, expiresAt: now().getTime() + CODE_TTL_MS });
      const target = new URL(params.redirect_uri);
      target.searchParams.set('code', code);
      target.searchParams.set('state', params.state);
      return target.toString();
    },

    async exchange(body) {
      const parsed = DevTokenExchange.safeParse(body);
      if (!parsed.success) throw invalid('the token request is not an authorization_code exchange with a verifier');
      const request = parsed.data;
      const pending = codes.get(request.code);
      codes.delete(request.code);
      if (!pending || pending.expiresAt <= now().getTime()) throw invalid('the code is unknown, used or expired');
      const { params, person } = pending;
      if (
        params.client_id !== request.client_id ||
        params.redirect_uri !== request.redirect_uri ||
        !sameText(pkceChallenge(request.code_verifier), params.code_challenge)
      )
        throw invalid('the code was issued to another client, redirect_uri or verifier');
      const identity = {
        sub: person.sub,
        groups: person.groups,
        ...(person.email ? { email: person.email } : {}),
        ttlSeconds: ID_TOKEN_TTL_SECONDS,
      };
      return {
        id_token: await options.issuer.issue({
          ...identity,
          audience: params.client_id,
          ...(params.nonce ? { nonce: params.nonce } : {}),
        }),
        access_token: await options.issuer.issue(identity),
        token_type: 'Bearer',
        expires_in: ID_TOKEN_TTL_SECONDS,
      };
    },
  };
}
