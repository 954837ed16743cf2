// Airlock's own grant tokens: ES256 JWTs good only at /v1/query and only until the window ends.
// Must never accept a key the token names or carries itself, nor report an unsigned token as expired.

import type { KeyObject } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import {
  calculateJwkThumbprint,
  decodeProtectedHeader,
  errors,
  exportJWK,
  generateKeyPair,
  type JWK,
  jwtVerify,
  SignJWT,
} from 'jose';
import { AirlockError, GrantTokenExpired } from '../errors.ts';
import {
  carriesKey,
  checkPrivateJwks,
  checkPublicJwks,
  importPrivateKey,
  importPublicKey,
  MAX_TOKEN_LENGTH,
  publicJwkOf,
  SIGNING_ALG,
} from './keys.ts';

export const GRANT_TOKEN_TYPE = 'airlock-grant+jwt';
export const GRANT_TOKEN_AUDIENCE = 'airlock-query';
/** The claim carrying the grant id. */
export const GRANT_ID_CLAIM = 'grant_id';
/** Clock skew allowed past `exp`; the window end is a hard limit, so only a few seconds. */
const GRANT_TOKEN_CLOCK_TOLERANCE_SECONDS = 5;

export interface SigningKeys {
  current: { kid: string; privateKey: CryptoKey | KeyObject; alg: 'ES256' };
  publicJwks: { keys: JWK[] };
}

export interface GrantTokenVerifierKeys {
  readonly byKid: ReadonlyMap<string, CryptoKey>;
}

export interface VerifiedGrantToken {
  subject: string;
  grantId: string;
  expiresAt: Date;
}

/** The first key signs; every key's public half is published, so a retiring key still verifies. */
export async function loadSigningKeys(privateJwks: { keys: JWK[] }): Promise<SigningKeys> {
  const keys = checkPrivateJwks(privateJwks);
  const first = keys[0] as JWK;
  const privateKey = await importPrivateKey(first);
  return {
    current: { kid: first.kid as string, privateKey, alg: SIGNING_ALG },
    publicJwks: { keys: keys.map(publicJwkOf) },
  };
}

export async function loadVerificationKeys(publicJwks: { keys: JWK[] }): Promise<GrantTokenVerifierKeys> {
  const keys = checkPublicJwks(publicJwks);
  const entries = await Promise.all(keys.map(async (jwk) => [jwk.kid as string, await importPublicKey(jwk)] as const));
  return { byKid: new Map(entries) };
}

export async function signGrantToken(
  keys: SigningKeys,
  claims: { subject: string; grantId: string; expiresAt: Date; issuer: string },
  now: () => Date = () => new Date(),
): Promise<string> {
  const issuedAt = Math.floor(now().getTime() / 1000);
  const expiresAt = Math.floor(claims.expiresAt.getTime() / 1000);
  if (!claims.subject || !claims.grantId || !claims.issuer)
    throw new AirlockError('internal', 'a grant token needs a subject, a grant id and an issuer');
  if (!Number.isFinite(expiresAt) || expiresAt <= issuedAt)
    throw new AirlockError('internal', 'a grant token must expire in the future');
  return new SignJWT({ [GRANT_ID_CLAIM]: claims.grantId })
    .setProtectedHeader({ alg: SIGNING_ALG, kid: keys.current.kid, typ: GRANT_TOKEN_TYPE })
    .setIssuer(claims.issuer)
    .setSubject(claims.subject)
    .setAudience(GRANT_TOKEN_AUDIENCE)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .setJti(randomUUID())
    .sign(keys.current.privateKey);
}

function unauthenticated(message: string): AirlockError {
  return new AirlockError('unauthenticated', message);
}

/** `grant_expired` only when jose got as far as `exp`, i.e. after the signature, typ, aud and iss held. */
function grantTokenError(error: unknown): AirlockError {
  if (error instanceof AirlockError) return error;
  if (error instanceof errors.JWTExpired && error.claim === 'exp') {
    // jose checks `exp` only after the signature and every other claim held, so the payload is genuine:
    // the query side records the late attempt on that grant (the cause is never rendered).
    const grantId = error.payload[GRANT_ID_CLAIM];
    const subject = error.payload.sub;
    if (typeof grantId === 'string' && typeof subject === 'string') return new GrantTokenExpired({ grantId, subject });
    return new AirlockError('grant_expired', 'the grant token has expired');
  }
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return unauthenticated('the grant token signature is invalid');
  if (error instanceof errors.JOSEAlgNotAllowed) return unauthenticated('the grant token algorithm is not accepted');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'typ') return unauthenticated('the token is not a grant token');
    if (error.claim === 'aud') return unauthenticated('the grant token audience is not accepted');
    if (error.claim === 'iss') return unauthenticated('the grant token issuer is not accepted');
    return unauthenticated('the grant token claims are invalid');
  }
  return unauthenticated('the grant token is invalid');
}

export async function verifyGrantToken(
  keys: GrantTokenVerifierKeys,
  token: string,
  options: { now?: () => Date; issuer?: string } = {},
): Promise<VerifiedGrantToken> {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH)
    throw unauthenticated('the grant token is malformed');
  try {
    if (carriesKey(decodeProtectedHeader(token))) throw unauthenticated('the grant token header may not carry a key');
    const { payload } = await jwtVerify(
      token,
      (header) => {
        const key = typeof header.kid === 'string' ? keys.byKid.get(header.kid) : undefined;
        if (!key) throw unauthenticated('the grant token signing key is not known');
        return key;
      },
      {
        algorithms: [SIGNING_ALG],
        typ: GRANT_TOKEN_TYPE,
        audience: GRANT_TOKEN_AUDIENCE,
        ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
        clockTolerance: GRANT_TOKEN_CLOCK_TOLERANCE_SECONDS,
        currentDate: (options.now ?? (() => new Date()))(),
        requiredClaims: ['exp', 'iat', 'sub', 'iss', 'jti', GRANT_ID_CLAIM],
      },
    );
    const grantId = payload[GRANT_ID_CLAIM];
    if (
      typeof payload.sub !== 'string' ||
      payload.sub.length === 0 ||
      typeof grantId !== 'string' ||
      grantId.length === 0 ||
      typeof payload.exp !== 'number'
    ) {
      throw unauthenticated('the grant token claims are invalid');
    }
    return { subject: payload.sub, grantId, expiresAt: new Date(payload.exp * 1000) };
  } catch (error) {
    throw grantTokenError(error);
  }
}

/** A fresh ES256 pair; `kid` defaults to the RFC 7638 thumbprint of the public key. */
export async function generateSigningKeyPair(kid?: string): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const pair = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const privateJwk = await exportJWK(pair.privateKey);
  const publicJwk = await exportJWK(pair.publicKey);
  const keyId = kid ?? (await calculateJwkThumbprint(publicJwk));
  const labels = { kid: keyId, alg: SIGNING_ALG, use: 'sig' };
  return { privateJwk: { ...privateJwk, ...labels }, publicJwk: { ...publicJwk, ...labels } };
}
