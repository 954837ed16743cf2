// The local-mode dev identity issuer: signs ES256 identity tokens for any subject a developer asks for.
// Must never run outside local mode (shared/http mounts it only there) nor publish its private key.

import { randomUUID } from 'node:crypto';
import { type JWK, SignJWT } from 'jose';
import { AirlockError } from '../errors.ts';
import { checkPrivateJwks, importPrivateKey, publicJwkOf, SIGNING_ALG } from './keys.ts';

export const DEV_TOKEN_AUDIENCE = 'airlock';
export const DEV_TOKEN_DEFAULT_TTL_SECONDS = 600;
export const DEV_TOKEN_MAX_TTL_SECONDS = 86_400;

export interface DevTokenRequest {
  sub: string;
  groups?: string[];
  email?: string;
  /** Default 600, at most 86400. */
  ttlSeconds?: number;
  /** Default `airlock`; an OIDC ID token names the client it was issued to. */
  audience?: string;
  /** An OIDC ID token carries the nonce the client sent with its authorization request. */
  nonce?: string;
}

export interface DevIssuer {
  /** Public keys only, for `/dev/jwks.json`. */
  jwks(): { keys: JWK[] };
  issue(input: DevTokenRequest): Promise<string>;
}

function invalid(message: string): AirlockError {
  return new AirlockError('invalid_request', message);
}

export function createDevIssuer(options: {
  issuer: string;
  privateJwks: { keys: JWK[] };
  now?: () => Date;
}): DevIssuer {
  const keys = checkPrivateJwks(options.privateJwks);
  const signingJwk = keys[0] as JWK;
  const kid = signingJwk.kid as string;
  const publicKeys = keys.map(publicJwkOf);
  const now = options.now ?? (() => new Date());
  let privateKey: Promise<CryptoKey> | undefined;

  async function issue(input: DevTokenRequest): Promise<string> {
    const { sub, groups = [], email, ttlSeconds = DEV_TOKEN_DEFAULT_TTL_SECONDS, nonce } = input;
    if (typeof sub !== 'string' || sub.length === 0) throw invalid('sub must be a non-empty string');
    if (!Array.isArray(groups) || !groups.every((group) => typeof group === 'string' && group.length > 0))
      throw invalid('groups must be non-empty strings');
    if (email !== undefined && typeof email !== 'string') throw invalid('email must be a string');
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > DEV_TOKEN_MAX_TTL_SECONDS) {
      throw invalid(`ttlSeconds must be a whole number from 1 to ${DEV_TOKEN_MAX_TTL_SECONDS}`);
    }
    privateKey ??= importPrivateKey(signingJwk);
    const issuedAt = Math.floor(now().getTime() / 1000);
    return new SignJWT({
      groups: [...groups],
      ...(email === undefined ? {} : { email }),
      ...(nonce === undefined ? {} : { nonce }),
    })
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'JWT' })
      .setIssuer(options.issuer)
      .setSubject(sub)
      .setAudience(input.audience ?? DEV_TOKEN_AUDIENCE)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + ttlSeconds)
      .setJti(randomUUID())
      .sign(await privateKey);
  }

  return { jwks: () => ({ keys: publicKeys.map((jwk) => ({ ...jwk })) }), issue };
}
