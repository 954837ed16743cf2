// Approval links: ES256 JWTs with their own `typ` and audience, bound to one request, one approver and
// the request's deadline, plus the short code the page shows. Must never verify as a grant or identity token.

import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify, SignJWT } from 'jose';
import { AirlockError } from '../errors.ts';
import type { GrantTokenVerifierKeys, SigningKeys } from '../identity/index.ts';
import { carriesKey, MAX_TOKEN_LENGTH, SIGNING_ALG } from '../identity/index.ts';

export const APPROVAL_LINK_TYPE = 'airlock-approval+jwt';
export const APPROVAL_LINK_AUDIENCE = 'airlock-approval';
/** The claim carrying the approval reference (`<id>.<generation>`). */
export const APPROVAL_CLAIM = 'approval';

export interface ApprovalLinkClaims {
  approval: string;
  approver: string;
  jti: string;
  expiresAt: Date;
}

export async function signApprovalLink(
  keys: SigningKeys,
  claims: { approval: string; approver: string; expiresAt: Date; issuer: string },
  now: () => Date,
): Promise<{ token: string; jti: string }> {
  const issuedAt = Math.floor(now().getTime() / 1000);
  const expiresAt = Math.floor(claims.expiresAt.getTime() / 1000);
  if (expiresAt <= issuedAt) throw new AirlockError('internal', 'an approval link must expire in the future');
  const jti = randomUUID();
  const token = await new SignJWT({ [APPROVAL_CLAIM]: claims.approval })
    .setProtectedHeader({ alg: SIGNING_ALG, kid: keys.current.kid, typ: APPROVAL_LINK_TYPE })
    .setIssuer(claims.issuer)
    .setSubject(claims.approver)
    .setAudience(APPROVAL_LINK_AUDIENCE)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .setJti(jti)
    .sign(keys.current.privateKey);
  return { token, jti };
}

const invalid = (message: string) => new AirlockError('invalid_request', message);

/** `gone` only for a link whose signature and claims held and whose time is up; anything else is `invalid_request`. */
export async function verifyApprovalLink(
  keys: GrantTokenVerifierKeys,
  token: string,
  options: { issuer: string; now: () => Date },
): Promise<ApprovalLinkClaims> {
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw invalid('the approval link is malformed');
  try {
    if (carriesKey(decodeProtectedHeader(token))) throw invalid('the approval link is invalid');
    const { payload } = await jwtVerify(
      token,
      (header) => {
        const key = typeof header.kid === 'string' ? keys.byKid.get(header.kid) : undefined;
        if (!key) throw invalid('the approval link is invalid');
        return key;
      },
      {
        algorithms: [SIGNING_ALG],
        typ: APPROVAL_LINK_TYPE,
        audience: APPROVAL_LINK_AUDIENCE,
        issuer: options.issuer,
        currentDate: options.now(),
        requiredClaims: ['exp', 'iat', 'sub', 'iss', 'jti', APPROVAL_CLAIM],
      },
    );
    const approval = payload[APPROVAL_CLAIM];
    if (
      typeof approval !== 'string' ||
      typeof payload.sub !== 'string' ||
      typeof payload.jti !== 'string' ||
      typeof payload.exp !== 'number'
    ) {
      throw invalid('the approval link is invalid');
    }
    return { approval, approver: payload.sub.toLowerCase(), jti: payload.jti, expiresAt: new Date(payload.exp * 1000) };
  } catch (error) {
    if (error instanceof AirlockError) throw error;
    if (error instanceof errors.JWTExpired && error.claim === 'exp')
      throw new AirlockError('gone', 'this approval link has expired');
    throw invalid('the approval link is invalid');
  }
}

/** Crockford's base32: no I, L, O or U, so a typed code survives being read aloud or misread. */
const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CODE_LENGTH = 6;

/** The short code a human types on the page: HMAC of the link's jti under a server-side key. */
export function confirmCode(key: string, jti: string): string {
  const digest = createHmac('sha256', key).update(`airlock approval confirm code\n${jti}`).digest();
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i++) code += CODE_ALPHABET[digest[i]! & 31];
  return code;
}

export function codeMatches(expected: string, typed: string): boolean {
  const normalized = typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  const a = Buffer.from(expected);
  const b = Buffer.from(normalized);
  return a.length === b.length && timingSafeEqual(a, b);
}
