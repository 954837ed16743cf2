// ES256 key handling shared by grant tokens and the dev issuer: validate, split public from private.
// Must never publish, log or echo private key material (`d`).

import { importJWK, type JWK } from 'jose';
import { AirlockError } from '../errors.ts';

export const SIGNING_ALG = 'ES256';

/** Parameters a published verification key keeps; everything else (notably `d`) is dropped. */
const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'kid'] as const;

function invalidKey(message: string): AirlockError {
  return new AirlockError('invalid_config', message);
}

function isP256(jwk: JWK): boolean {
  return jwk.kty === 'EC' && jwk.crv === 'P-256' && typeof jwk.x === 'string' && typeof jwk.y === 'string';
}

function kidOf(jwk: JWK, index: number): string {
  if (typeof jwk.kid !== 'string' || jwk.kid.length === 0) throw invalidKey(`key ${index} has no kid`);
  return jwk.kid;
}

/** Checks a private ES256 key set (non-empty, P-256, private, unique kids) without importing it. */
export function checkPrivateJwks(jwks: { keys: JWK[] }): JWK[] {
  const keys = Array.isArray(jwks?.keys) ? jwks.keys : [];
  if (keys.length === 0) throw invalidKey('the signing key set is empty');
  const kids = new Set<string>();
  keys.forEach((jwk, index) => {
    const kid = kidOf(jwk, index);
    if (!isP256(jwk) || typeof jwk.d !== 'string')
      throw invalidKey(`signing key "${kid}" is not an ES256 (P-256) private key`);
    if (jwk.alg !== undefined && jwk.alg !== SIGNING_ALG) throw invalidKey(`signing key "${kid}" is not for ES256`);
    if (kids.has(kid)) throw invalidKey(`duplicate kid "${kid}" in the signing key set`);
    kids.add(kid);
  });
  return keys;
}

/** Checks a public ES256 key set: a private key here would be a leak, so it is refused. */
export function checkPublicJwks(jwks: { keys: JWK[] }): JWK[] {
  const keys = Array.isArray(jwks?.keys) ? jwks.keys : [];
  if (keys.length === 0) throw invalidKey('the verification key set is empty');
  const kids = new Set<string>();
  keys.forEach((jwk, index) => {
    const kid = kidOf(jwk, index);
    if (jwk.d !== undefined) throw invalidKey(`verification key "${kid}" contains private material`);
    if (!isP256(jwk)) throw invalidKey(`verification key "${kid}" is not an ES256 (P-256) public key`);
    if (jwk.alg !== undefined && jwk.alg !== SIGNING_ALG)
      throw invalidKey(`verification key "${kid}" is not for ES256`);
    if (jwk.use !== undefined && jwk.use !== 'sig') throw invalidKey(`verification key "${kid}" is not a signing key`);
    if (kids.has(kid)) throw invalidKey(`duplicate kid "${kid}" in the verification key set`);
    kids.add(kid);
  });
  return keys;
}

/** The publishable half of an ES256 key, with `alg` and `use` pinned. */
export function publicJwkOf(jwk: JWK): JWK {
  const publicJwk: JWK = {};
  for (const member of PUBLIC_MEMBERS) {
    const value = jwk[member];
    if (typeof value === 'string') publicJwk[member] = value;
  }
  publicJwk.alg = SIGNING_ALG;
  publicJwk.use = 'sig';
  return publicJwk;
}

export async function importPrivateKey(jwk: JWK): Promise<CryptoKey> {
  const { kty, crv, x, y, d } = jwk;
  const key = await importJWK({ kty, crv, x, y, d }, SIGNING_ALG, { extractable: false }).catch(() => {
    throw invalidKey(`signing key "${String(jwk.kid)}" cannot be imported`);
  });
  if (!(key instanceof CryptoKey) || key.type !== 'private')
    throw invalidKey(`signing key "${String(jwk.kid)}" is not a private key`);
  return key;
}

export async function importPublicKey(jwk: JWK): Promise<CryptoKey> {
  const key = await importJWK(publicJwkOf(jwk), SIGNING_ALG).catch(() => {
    throw invalidKey(`verification key "${String(jwk.kid)}" cannot be imported`);
  });
  if (!(key instanceof CryptoKey) || key.type !== 'public')
    throw invalidKey(`verification key "${String(jwk.kid)}" is not a public key`);
  return key;
}

/** Headers that would let a token choose its own key; a verifier must never honour them. */
export const KEY_CARRYING_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;

export function carriesKey(header: object): boolean {
  return KEY_CARRYING_HEADERS.some((name) => Object.hasOwn(header, name));
}

/** `typ` compared as RFC 7515 §4.1.9 (and jose) do: case-insensitive, `application/` optional. */
export function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.includes('/') ? lower : `application/${lower}`;
}

/** Longest token accepted before any parsing; real ones are a few KiB at most. */
export const MAX_TOKEN_LENGTH = 16 * 1024;
