import { generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  APPROVAL_LINK_AUDIENCE,
  APPROVAL_LINK_TYPE,
  codeMatches,
  confirmCode,
  signApprovalLink,
  verifyApprovalLink,
} from '../../shared/approvals/link.ts';
import { isAirlockError } from '../../shared/errors.ts';
import {
  generateSigningKeyPair,
  loadSigningKeys,
  loadVerificationKeys,
  signGrantToken,
  verifyGrantToken,
} from '../../shared/identity/grant-token.ts';

const issuer = 'https://airlock.example.com';
const at = new Date('2030-01-01T00:00:00Z');
const now = () => at;
const inAnHour = new Date(at.getTime() + 3600_000);

async function keysPair() {
  const { privateJwk, publicJwk } = await generateSigningKeyPair('k1');
  return {
    signing: await loadSigningKeys({ keys: [privateJwk] }),
    verifying: await loadVerificationKeys({ keys: [publicJwk] }),
  };
}

async function expectCode(promise: Promise<unknown>, code: 'invalid_request' | 'gone' | 'unauthenticated') {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(isAirlockError(error, code), String(error)).toBe(true);
}

describe('approval links', () => {
  it('round-trips: approval ref, approver (lower-cased), jti, expiry', async () => {
    const { signing, verifying } = await keysPair();
    const { token, jti } = await signApprovalLink(
      signing,
      { approval: 'grant-abc.1', approver: 'DBA@example.com', expiresAt: inAnHour, issuer },
      now,
    );
    const claims = await verifyApprovalLink(verifying, token, { issuer, now });
    expect(claims).toEqual({ approval: 'grant-abc.1', approver: 'dba@example.com', jti, expiresAt: inAnHour });
  });

  it('is gone (410) once expired, but only when the signature held', async () => {
    const { signing, verifying } = await keysPair();
    const { token } = await signApprovalLink(
      signing,
      { approval: 'grant-abc.1', approver: 'a@example.com', expiresAt: inAnHour, issuer },
      now,
    );
    await expectCode(
      verifyApprovalLink(verifying, token, { issuer, now: () => new Date(inAnHour.getTime() + 1000) }),
      'gone',
    );
    const other = await keysPair();
    await expectCode(
      verifyApprovalLink(other.verifying, token, { issuer, now: () => new Date(inAnHour.getTime() + 1000) }),
      'invalid_request',
    );
  });

  it('refuses a wrong issuer, another key, a tampered payload, alg none, an embedded key, a grant token', async () => {
    const { signing, verifying } = await keysPair();
    const { token } = await signApprovalLink(
      signing,
      { approval: 'grant-abc.1', approver: 'a@example.com', expiresAt: inAnHour, issuer },
      now,
    );
    await expectCode(
      verifyApprovalLink(verifying, token, { issuer: 'https://evil.example.com', now }),
      'invalid_request',
    );
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const swapped = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), approval: 'grant-other.1' }),
    ).toString('base64url');
    await expectCode(
      verifyApprovalLink(verifying, `${header}.${swapped}.${signature}`, { issuer, now }),
      'invalid_request',
    );
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: APPROVAL_LINK_TYPE })).toString('base64url')}.${payload}.`;
    await expectCode(verifyApprovalLink(verifying, none, { issuer, now }), 'invalid_request');
    const embedded = `${Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'k1', typ: APPROVAL_LINK_TYPE, jwk: { kty: 'EC' } })).toString('base64url')}.${payload}.${signature}`;
    await expectCode(verifyApprovalLink(verifying, embedded, { issuer, now }), 'invalid_request');
    const grant = await signGrantToken(
      signing,
      { subject: 'agent:x', grantId: 'g1', expiresAt: inAnHour, issuer },
      now,
    );
    await expectCode(verifyApprovalLink(verifying, grant, { issuer, now }), 'invalid_request');
    await expectCode(verifyApprovalLink(verifying, '', { issuer, now }), 'invalid_request');
    await expectCode(verifyApprovalLink(verifying, 'x'.repeat(20_000), { issuer, now }), 'invalid_request');
  });

  it('refuses a token with the right key but the wrong typ or audience, and a link is never a grant token', async () => {
    const { signing, verifying } = await keysPair();
    const base = () =>
      new SignJWT({ approval: 'grant-abc.1' })
        .setIssuer(issuer)
        .setSubject('a@example.com')
        .setIssuedAt(now())
        .setExpirationTime(inAnHour)
        .setJti('j');
    const wrongTyp = await base()
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' })
      .setAudience(APPROVAL_LINK_AUDIENCE)
      .sign(signing.current.privateKey);
    const wrongAud = await base()
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: APPROVAL_LINK_TYPE })
      .setAudience('airlock-query')
      .sign(signing.current.privateKey);
    for (const token of [wrongTyp, wrongAud])
      await expectCode(verifyApprovalLink(verifying, token, { issuer, now }), 'invalid_request');
    const { token } = await signApprovalLink(
      signing,
      { approval: 'grant-abc.1', approver: 'a@example.com', expiresAt: inAnHour, issuer },
      now,
    );
    await expectCode(verifyGrantToken(verifying, token, { issuer, now }), 'unauthenticated');
    // A foreign ES256 key cannot mint links either.
    const { privateKey } = await generateKeyPair('ES256');
    const foreign = await base()
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: APPROVAL_LINK_TYPE })
      .setAudience(APPROVAL_LINK_AUDIENCE)
      .sign(privateKey);
    await expectCode(verifyApprovalLink(verifying, foreign, { issuer, now }), 'invalid_request');
  });
});

describe('confirmation codes', () => {
  it('are six unambiguous characters, stable per link, different across links and keys', () => {
    const code = confirmCode('k'.repeat(32), 'jti-1');
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{6}$/);
    expect(confirmCode('k'.repeat(32), 'jti-1')).toBe(code);
    expect(confirmCode('k'.repeat(32), 'jti-2')).not.toBe(code);
    expect(confirmCode('j'.repeat(32), 'jti-1')).not.toBe(code);
  });

  it('match what a person types: case, spaces and dashes forgiven, O and I/L read as 0 and 1; nothing else', () => {
    expect(codeMatches('AB0C1D', 'ab0c1d')).toBe(true);
    expect(codeMatches('AB0C1D', ' ab0-c1d ')).toBe(true);
    expect(codeMatches('AB0C1D', 'ABOCID')).toBe(true);
    expect(codeMatches('AB0C1D', 'ABOCLD')).toBe(true);
    for (const typed of ['', 'AB0C1', 'AB0C1DD', 'AB0C1E', 'AB0C1D\u0000'])
      expect(codeMatches('AB0C1D', typed)).toBe(false);
  });
});
