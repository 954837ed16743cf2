// Verifies identity bearer tokens (OIDC or any JWT issuer) against the policy's configured issuers.
// Must never trust a key the token names or carries, accept a symmetric or unsigned alg, or fail open.

import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JWSAlgorithm,
  type JWTHeaderParameters,
  type JWTPayload,
  type JWTVerifyOptions,
  jwtVerify,
  type RemoteJWKSet,
} from 'jose';
import { AirlockError, unavailable } from '../errors.ts';
import type { Issuer } from '../policy/index.ts';
import { GRANT_TOKEN_TYPE } from './grant-token.ts';
import { carriesKey, MAX_TOKEN_LENGTH, normalizeTyp } from './keys.ts';
import type { Principal } from './principal.ts';

export interface IdentityVerifier {
  verify(token: string): Promise<Principal>;
}

export interface IdentityVerifierOptions {
  issuers: Issuer[];
  now?: () => Date;
  /** Skew allowed on `exp` and `nbf`; default 30. */
  clockToleranceSeconds?: number;
  fetch?: typeof fetch;
  /** Least time between two JWKS fetches triggered by an unknown `kid`; jose's default is 30 s. */
  jwksCooldownMs?: number;
}

/** Asymmetric algorithms only: `none` and HS* can never appear here. */
export const DEFAULT_IDENTITY_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;
const ALLOWED = new Set<string>(DEFAULT_IDENTITY_ALGORITHMS);
const FETCH_TIMEOUT_MS = 5000;

function unauthenticated(message: string): AirlockError {
  return new AirlockError('unauthenticated', message);
}

/** Marks a key-source failure (network, HTTP status, malformed document) so it maps to `unavailable`. */
class KeySourceFailure extends Error {}

function isKeyLookupRefusal(error: unknown): boolean {
  return (
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JWKSMultipleMatchingKeys ||
    error instanceof errors.JOSENotSupported
  );
}

function identityError(error: unknown): AirlockError {
  if (error instanceof AirlockError) return error;
  if (error instanceof KeySourceFailure) return unavailable("the identity issuer's key set", error.cause);
  if (error instanceof errors.JWTExpired) return unauthenticated('the identity token has expired');
  if (error instanceof errors.JWKSNoMatchingKey) return unauthenticated('the identity token signing key is not known');
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return unauthenticated('the identity token signature is invalid');
  if (error instanceof errors.JOSEAlgNotAllowed) return unauthenticated('the identity token algorithm is not accepted');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return unauthenticated('the identity token lacks a required claim');
    if (error.claim === 'aud') return unauthenticated('the identity token audience is not accepted');
    if (error.claim === 'nbf') return unauthenticated('the identity token is not yet valid');
    return unauthenticated('the identity token claims are invalid');
  }
  return unauthenticated('the identity token is invalid');
}

function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

/** A URL as jose types it; the cast only bridges hosts whose globals declare URL twice (SST's type check). */
const asUrl = (href: string): URL => new URL(href) as URL;

/** Reads `jwks_uri` from the issuer's OIDC discovery document, which must name the same issuer. */
async function discoverJwksUri(issuer: string, fetchImpl: typeof fetch): Promise<URL> {
  try {
    const response = await fetchImpl(discoveryUrl(issuer), {
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (response.status !== 200) throw new Error(`discovery answered HTTP ${response.status}`);
    const document: unknown = await response.json();
    if (typeof document !== 'object' || document === null) throw new Error('discovery document is not an object');
    const { issuer: named, jwks_uri: jwksUri } = document as Record<string, unknown>;
    if (named !== issuer) throw new Error('discovery document names another issuer');
    if (typeof jwksUri !== 'string') throw new Error('discovery document has no jwks_uri');
    const url = asUrl(jwksUri);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('jwks_uri is not an HTTP(S) URL');
    return url;
  } catch (cause) {
    throw new KeySourceFailure('OIDC discovery failed', { cause });
  }
}

function stringList(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return value.split(/\s+/).filter((group) => group.length > 0);
  if (Array.isArray(value) && value.every((group): group is string => typeof group === 'string')) return [...value];
  return undefined;
}

function toPrincipal(payload: JWTPayload, issuer: Issuer): Principal {
  if (typeof payload.sub !== 'string' || payload.sub.length === 0)
    throw unauthenticated('the identity token lacks a subject');
  // A token minted for ten years is refused even while it is young: exp - iat bounds how long a leak is good.
  if (
    typeof payload.iat !== 'number' ||
    typeof payload.exp !== 'number' ||
    payload.exp - payload.iat > issuer.maxTokenAge
  )
    throw unauthenticated(`the identity token lives longer than this issuer allows (${issuer.maxTokenAge} s)`);
  const groups = stringList(payload[issuer.groupsClaim]);
  if (!groups) throw unauthenticated('the identity token groups claim is malformed');
  const email = payload[issuer.emailClaim];
  if (email !== undefined && email !== null && typeof email !== 'string')
    throw unauthenticated('the identity token email claim is malformed');
  return { subject: payload.sub, issuer: issuer.issuer, groups, email: email ?? null, claims: { ...payload } };
}

export function createIdentityVerifier(options: IdentityVerifierOptions): IdentityVerifier {
  const now = options.now ?? (() => new Date());
  const clockTolerance = options.clockToleranceSeconds ?? 30;
  const fetchImpl = options.fetch ?? fetch;
  const issuers = new Map<string, Issuer>();
  for (const issuer of options.issuers) {
    if (issuers.has(issuer.issuer))
      throw new AirlockError('invalid_config', `issuer "${issuer.issuer}" is configured twice`);
    const algorithms = issuer.algorithms ?? [];
    if (!algorithms.every((alg) => ALLOWED.has(alg)))
      throw new AirlockError('invalid_config', `issuer "${issuer.issuer}" allows a non-asymmetric algorithm`);
    issuers.set(issuer.issuer, issuer);
  }
  /** One key set per issuer, created once; a failed discovery is forgotten so the next call retries. */
  const keySets = new Map<string, Promise<RemoteJWKSet>>();

  function keySetFor(issuer: Issuer): Promise<RemoteJWKSet> {
    let keySet = keySets.get(issuer.issuer);
    if (!keySet) {
      const jwksUrl = issuer.jwksUri
        ? Promise.resolve(asUrl(issuer.jwksUri))
        : discoverJwksUri(issuer.issuer, fetchImpl);
      keySet = jwksUrl.then((url) =>
        createRemoteJWKSet(url, {
          timeoutDuration: FETCH_TIMEOUT_MS,
          ...(options.jwksCooldownMs === undefined ? {} : { cooldownDuration: options.jwksCooldownMs }),
          [customFetch]: fetchImpl,
        }),
      );
      keySet.catch(() => keySets.delete(issuer.issuer));
      keySets.set(issuer.issuer, keySet);
    }
    return keySet;
  }

  async function resolveKey(issuer: Issuer, header: JWTHeaderParameters): Promise<CryptoKey> {
    const keySet = await keySetFor(issuer);
    try {
      return await keySet(header);
    } catch (error) {
      if (isKeyLookupRefusal(error)) throw error;
      throw new KeySourceFailure('JWKS fetch failed', { cause: error });
    }
  }

  async function verifyWith(issuer: Issuer, token: string, header: JWTHeaderParameters): Promise<JWTPayload> {
    const verifyOptions: JWTVerifyOptions = {
      algorithms: (issuer.algorithms ?? [...DEFAULT_IDENTITY_ALGORITHMS]) as JWSAlgorithm[],
      issuer: issuer.issuer,
      audience: issuer.audience,
      clockTolerance,
      currentDate: now(),
      requiredClaims: ['exp', 'iat', 'sub'],
      // A token's lifetime, not only its expiry: jose refuses one issued more than this long ago.
      maxTokenAge: issuer.maxTokenAge,
    };
    let key: CryptoKey | undefined;
    try {
      key = await resolveKey(issuer, header);
    } catch (error) {
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
      // No `kid` and several candidate keys: jose's documented pattern is to try each one.
      for await (const candidate of error) {
        try {
          return (await jwtVerify(token, candidate, verifyOptions)).payload;
        } catch (attempt) {
          if (!(attempt instanceof errors.JWSSignatureVerificationFailed)) throw attempt;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
    return (await jwtVerify(token, key, verifyOptions)).payload;
  }

  async function verify(token: string): Promise<Principal> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH)
      throw unauthenticated('the identity token is malformed');
    try {
      const header = decodeProtectedHeader(token);
      // Only used to pick the issuer; nothing below trusts it until jwtVerify has checked the signature.
      const unverified = decodeJwt(token);
      const issuer = typeof unverified.iss === 'string' ? issuers.get(unverified.iss) : undefined;
      if (!issuer) throw unauthenticated('the identity token issuer is not configured');
      if (carriesKey(header)) throw unauthenticated('the identity token header may not carry a key');
      if (typeof header.typ === 'string' && normalizeTyp(header.typ) === normalizeTyp(GRANT_TOKEN_TYPE)) {
        throw unauthenticated('a grant token is not an identity token');
      }
      const algorithms: readonly string[] = issuer.algorithms ?? DEFAULT_IDENTITY_ALGORITHMS;
      if (typeof header.alg !== 'string' || !algorithms.includes(header.alg))
        throw unauthenticated('the identity token algorithm is not accepted');
      const payload = await verifyWith(issuer, token, header as JWTHeaderParameters);
      return toPrincipal(payload, issuer);
    } catch (error) {
      throw identityError(error);
    }
  }

  return { verify };
}
