// The console's cookies: a sign-in in progress (state, nonce, PKCE verifier) and a session (the verified ID token
// and its CSRF token), each encrypted and authenticated with a key of its own. Must never let a cookie outlive its bound.

import { hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { EncryptJWT, errors, jwtDecrypt } from 'jose';
import { z } from 'zod';

/** A session never outlives this, whatever the ID token's own expiry says. */
export const SESSION_MAX_SECONDS = 8 * 3600;
/** A sign-in must come back from the issuer within this. */
export const LOGIN_MAX_SECONDS = 600;

const SessionClaims = z.object({ idt: z.string().min(1), csrf: z.string().min(32) });
export type SessionClaims = z.infer<typeof SessionClaims>;

const LoginClaims = z.object({
  state: z.string().min(32),
  nonce: z.string().min(32),
  verifier: z.string().min(43),
  /** Where to go once signed in: a console path only. */
  next: z.string().regex(/^\/console(\/[A-Za-z0-9._~\-/]*)?$/),
});
export type LoginClaims = z.infer<typeof LoginClaims>;

export interface CookieNames {
  session: string;
  login: string;
}

/** `__Host-` cookies on https: only this origin, path `/`, `Secure`; plain names over http (local stack). */
export function cookieNames(secure: boolean): CookieNames {
  return secure
    ? { session: '__Host-airlock-console', login: '__Host-airlock-console-login' }
    : { session: 'airlock-console', login: 'airlock-console-login' };
}

export const randomToken = (bytes = 32) => randomBytes(bytes).toString('base64url');

export function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export interface SessionSealer {
  seal(claims: SessionClaims, expiresAt: Date): Promise<string>;
  /** The claims, or null for a cookie that is forged, altered, expired or of another purpose. */
  open(cookie: string): Promise<SessionClaims | null>;
  sealLogin(claims: LoginClaims): Promise<string>;
  openLogin(cookie: string): Promise<LoginClaims | null>;
}

/** Keys are derived from one secret with HKDF, one per purpose, so a login cookie can never pass as a session. */
export function createSessionSealer(options: { secret: string; now: () => Date }): SessionSealer {
  const key = (purpose: string) =>
    new Uint8Array(hkdfSync('sha256', options.secret, 'airlock-console', `airlock console ${purpose} v1`, 32));
  const sessionKey = key('session');
  const loginKey = key('login');

  async function seal(payload: Record<string, unknown>, secret: Uint8Array, expiresAt: Date): Promise<string> {
    return new EncryptJWT(payload)
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setIssuedAt(Math.floor(options.now().getTime() / 1000))
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .encrypt(secret);
  }

  async function open<T>(cookie: string, secret: Uint8Array, schema: z.ZodType<T>): Promise<T | null> {
    if (cookie.length > 8192) return null;
    try {
      const { payload } = await jwtDecrypt(cookie, secret, {
        currentDate: options.now(),
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      const parsed = schema.safeParse(payload);
      return parsed.success ? parsed.data : null;
    } catch (error) {
      if (error instanceof errors.JOSEError) return null;
      throw error;
    }
  }

  return {
    seal: (claims, expiresAt) => seal(claims, sessionKey, expiresAt),
    open: (cookie) => open(cookie, sessionKey, SessionClaims),
    sealLogin: (claims) => seal(claims, loginKey, new Date(options.now().getTime() + LOGIN_MAX_SECONDS * 1000)),
    openLogin: (cookie) => open(cookie, loginKey, LoginClaims),
  };
}
