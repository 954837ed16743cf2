// The door of the query path: a grant token in, the live grant it names out, or the refusal that explains why not.
// Revocation and expiry take effect on the very next request: the grant record is read every time.

import type { AuditLog } from '../audit/index.ts';
import { AirlockError, GrantTokenExpired } from '../errors.ts';
import { type GrantRecord, type GrantStore, isLive } from '../grants/index.ts';
import { type GrantTokenVerifierKeys, verifyGrantToken } from '../identity/index.ts';
import type { SessionPool } from '../postgres/index.ts';
import { statementEvent } from './events.ts';
import type { Phase } from './profile.ts';

/** Verified grant tokens remembered per warm process (each until its own `exp`). */
const VERIFIED_TOKENS = 10_000;

export interface AuthenticateOptions {
  verifierKeys: GrantTokenVerifierKeys;
  /** Airlock's issuer (publicUrl): grant tokens must carry it. */
  issuer: string;
  store: Pick<GrantStore, 'get'>;
  audit: AuditLog;
  sessions: Pick<SessionPool, 'close'>;
  now: () => Date;
  /** Times the token check (`auth`) and the grant read (`grant`). */
  phase: Phase;
}

/** Why a grant may not run statements now, or undefined when it may. */
export function refusalOf(grant: GrantRecord, now: Date): AirlockError | undefined {
  if (grant.status === 'revoked') return new AirlockError('grant_revoked', 'the grant was revoked');
  if (grant.status === 'pending') {
    return new AirlockError('conflict', `grant ${grant.id} is still pending: a human has not approved it yet`);
  }
  if (grant.status === 'denied') return new AirlockError('forbidden', `grant ${grant.id} was denied`);
  if (!isLive(grant, now)) return new AirlockError('grant_expired', 'the grant window has ended');
  return undefined;
}

export interface Authenticator {
  /** The live grant behind a grant token; a refused attempt on a genuine grant is recorded on it. */
  authenticate(token: string): Promise<GrantRecord>;
  /** The same check for a grant already read by its owner (MCP): refused exactly as a token would be. */
  admit(grant: GrantRecord): Promise<GrantRecord>;
  /**
   * Reads the grant again and says whether it ended meanwhile (a lost session, a refused login): `when` says
   * where the statement was, e.g. "before the statement could run".
   */
  endedSince(grant: GrantRecord, when: string): Promise<AirlockError | undefined>;
}

export function createAuthenticator(options: AuthenticateOptions): Authenticator {
  const { store, now } = options;
  // A token's signature and claims do not change: once verified, it is good until its `exp` (then it is
  // verified again, and refused). Whether its grant is still live is read from the store on every request.
  const verified = new Map<string, { subject: string; grantId: string; expiresAtMs: number }>();

  async function verify(token: string) {
    const hit = verified.get(token);
    if (hit && hit.expiresAtMs > now().getTime()) return hit;
    const claims = await verifyGrantToken(options.verifierKeys, token, { now, issuer: options.issuer });
    if (verified.size >= VERIFIED_TOKENS) verified.clear();
    const entry = { subject: claims.subject, grantId: claims.grantId, expiresAtMs: claims.expiresAt.getTime() };
    verified.set(token, entry);
    return entry;
  }

  /** A statement sent after the window: nothing runs; the attempt is recorded (best effort — refusing needs no record). */
  async function recordAttempt(grant: GrantRecord, error: AirlockError): Promise<void> {
    await statementEvent(options.audit, grant, undefined, {
      decision: 'blocked',
      error: { code: error.code, message: error.message },
    }).catch(() => {});
  }

  async function admit(grant: GrantRecord): Promise<GrantRecord> {
    const refusal = refusalOf(grant, now());
    if (!refusal) return grant;
    if (grant.status === 'active' || grant.status === 'revoked' || grant.status === 'expired') {
      await options.sessions.close(grant.id);
      await recordAttempt(grant, refusal);
    }
    throw refusal;
  }

  return {
    async authenticate(token) {
      let claims: { subject: string; grantId: string };
      try {
        claims = await options.phase('auth', () => verify(token));
      } catch (error) {
        // A genuine token whose window has passed: the attempt goes on that grant's record.
        if (error instanceof GrantTokenExpired) {
          const grant = await store.get(error.grantId).catch(() => null);
          if (grant && grant.subject === error.subject) await recordAttempt(grant, error);
        }
        throw error;
      }
      const grant = await options.phase('grant', () => store.get(claims.grantId));
      if (!grant || grant.subject !== claims.subject) {
        throw new AirlockError('unauthenticated', 'the grant token does not match a grant');
      }
      return admit(grant);
    },

    admit,

    async endedSince(grant, when) {
      const fresh = await store.get(grant.id).catch(() => null);
      if (fresh?.status === 'revoked') return new AirlockError('grant_revoked', `the grant was revoked ${when}`);
      if (fresh && !isLive(fresh, now())) return new AirlockError('grant_expired', `the grant window ended ${when}`);
      return undefined;
    },
  };
}
