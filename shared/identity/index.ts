// The identity module's public surface: identity tokens in, grant tokens out and back, the dev issuer.
// Must never export private key material: only public keys, verification and signing through loaded keys.

export type { DevAuthorizeParams, DevAuthorizer } from './dev-authorize.ts';
export { createDevAuthorizer, DevPerson, pkceChallenge } from './dev-authorize.ts';
export type { DevIssuer, DevTokenRequest } from './dev-issuer.ts';
export {
  createDevIssuer,
  DEV_TOKEN_AUDIENCE,
  DEV_TOKEN_DEFAULT_TTL_SECONDS,
  DEV_TOKEN_MAX_TTL_SECONDS,
} from './dev-issuer.ts';
export type { GrantTokenVerifierKeys, SigningKeys, VerifiedGrantToken } from './grant-token.ts';
export {
  GRANT_ID_CLAIM,
  GRANT_TOKEN_AUDIENCE,
  GRANT_TOKEN_TYPE,
  generateSigningKeyPair,
  loadSigningKeys,
  loadVerificationKeys,
  signGrantToken,
  verifyGrantToken,
} from './grant-token.ts';
export { carriesKey, MAX_TOKEN_LENGTH, publicJwkOf, SIGNING_ALG } from './keys.ts';
export type { Principal } from './principal.ts';
export type { IdentityVerifier, IdentityVerifierOptions } from './verify.ts';
export { createIdentityVerifier, DEFAULT_IDENTITY_ALGORITHMS } from './verify.ts';
