// Quotas per subject (issuer + subject): how many live or pending grants it holds, and how many database
// sessions they may open together. Must never let two racing requests pass a limit, nor refuse on stale counts.

import { createHash } from 'node:crypto';
import { rateLimited } from '../errors.ts';
import type { Principal } from '../identity/index.ts';
import type { GrantRecord } from './model.ts';
import type { QuotaEntry, QuotaState, QuotaStore } from './quota-store.ts';

/** A reservation whose grant is not stored this long after it was made belongs to a request that died. */
const ABANDONED_AFTER_MS = 120_000;
/** Racing requests of one subject re-read the item this many times before giving up (429). */
const ATTEMPTS = 5;
const RETENTION_SECONDS = 30 * 86400;

export interface QuotaLimits {
  grantsPerSubject: number;
  sessionsPerSubject: number;
}

export interface SubjectQuotasOptions {
  store: QuotaStore;
  /** Reads grants, to tell which reservations are stale. */
  grants: (ids: string[]) => Promise<Map<string, GrantRecord>>;
  limits: QuotaLimits;
  now: () => Date;
}

export interface SubjectQuotas {
  /**
   * Counts a new grant against its subject and returns the sessions it may open: its profile's connection
   * limit, less what keeps one session free for every grant the subject may still ask for. 429 when full.
   */
  reserve(
    subject: Pick<Principal, 'issuer' | 'subject'>,
    grant: { id: string; ttlSeconds: number },
    wantSessions: number,
  ): Promise<number>;
  /** Gives a grant's place back (idempotent). */
  release(grant: Pick<GrantRecord, 'issuer' | 'subject' | 'id' | 'sessionLimit'>): Promise<void>;
}

/** The quota item's key: a digest, so neither the item's id nor an index reveals who the subject is. */
export function subjectQuotaKey(subject: Pick<Principal, 'issuer' | 'subject'>): string {
  return `quota#${createHash('sha256').update(`${subject.issuer}\n${subject.subject}`).digest('hex').slice(0, 40)}`;
}

export function createSubjectQuotas(options: SubjectQuotasOptions): SubjectQuotas {
  const { store, limits, now } = options;
  // With fewer sessions than grants, every grant gets one session and the sessions bound the grants.
  const maxGrants = Math.min(limits.grantsPerSubject, limits.sessionsPerSubject);
  const spare = limits.sessionsPerSubject - maxGrants;

  /**
   * Drops reservations whose grant has ended, whose window has passed, or that were never stored; returns the rest
   * with when each frees up. Only grants old enough to have ended are read: a flood of refusals reads nothing.
   */
  async function repair(key: string, state: QuotaState): Promise<Array<{ entry: QuotaEntry; freesAt: number }>> {
    const at = now().getTime();
    const due = state.entries.filter((entry) => Date.parse(entry.earliestEnd) <= at);
    const grants = due.length > 0 ? await options.grants(due.map((entry) => entry.grantId)) : new Map();
    const kept: Array<{ entry: QuotaEntry; freesAt: number }> = [];
    for (const entry of state.entries) {
      const freesAt = due.includes(entry)
        ? freeingTime(entry, grants.get(entry.grantId))
        : Date.parse(entry.earliestEnd);
      if (freesAt > at) kept.push({ entry, freesAt });
      else await store.remove(key, entry);
    }
    return kept;
  }

  return {
    async reserve(subject, grant, wantSessions) {
      const key = subjectQuotaKey(subject);
      const quota = maxGrants === limits.grantsPerSubject ? 'grantsPerSubject' : 'sessionsPerSubject';
      // First as if the subject held nothing beyond what its bounds allow: one write when there is room.
      let sessions = Math.max(1, Math.min(wantSessions, 1 + spare));
      for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
        const reservedAt = now();
        const entry = {
          grantId: grant.id,
          sessions,
          reservedAt: reservedAt.toISOString(),
          earliestEnd: new Date(reservedAt.getTime() + grant.ttlSeconds * 1000).toISOString(),
        };
        const ttl = Math.floor(reservedAt.getTime() / 1000) + RETENTION_SECONDS;
        if (await store.add(key, entry, { maxGrants, maxExtra: spare - (sessions - 1) }, ttl)) return sessions;
        const state = await store.read(key);
        const held = state.entries.find((existing) => existing.grantId === grant.id);
        if (held) return held.sessions;
        if (state.grants >= maxGrants) {
          // Full: first drop what a crash or a late sweep left, and count again if that freed anything.
          const kept = await repair(key, state);
          if (kept.length < state.entries.length) continue;
          const soonest = Math.min(...kept.map((hold) => hold.freesAt));
          throw rateLimited(
            `${subject.subject} already holds ${state.grants} live or pending grants (limits.${quota}); end one, or ask again when one ends`,
            { quota, limit: maxGrants, retryAfterSeconds: (soonest - now().getTime()) / 1000 },
          );
        }
        sessions = Math.max(1, Math.min(wantSessions, 1 + spare - state.extra));
      }
      throw rateLimited(`too many grant requests of ${subject.subject} at once; ask again`, {
        quota,
        limit: maxGrants,
        retryAfterSeconds: 1,
      });
    },

    async release(grant) {
      // A grant stored before quotas has no entry: nothing to give back.
      if (grant.sessionLimit === undefined) return;
      await store.remove(subjectQuotaKey(grant), { grantId: grant.id, sessions: grant.sessionLimit });
    },
  };
}

/** When a reservation stops counting: its grant's end, its pending deadline, or the abandon time of a grant never stored. */
function freeingTime(entry: QuotaEntry, grant: GrantRecord | undefined): number {
  if (!grant) return Date.parse(entry.reservedAt) + ABANDONED_AFTER_MS;
  if (grant.status === 'active') return grant.expiresAt ? Date.parse(grant.expiresAt) : 0;
  if (grant.status === 'pending') return grant.dueAt ? Date.parse(grant.dueAt) : 0;
  return 0;
}
