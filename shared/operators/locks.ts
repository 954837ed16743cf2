// The kill switch: placing a lock ends every live grant it covers before answering, and every grant request
// (and every activation) it covers is refused while it holds. Must never answer before those grants are ended.

import type { AuditLog } from '../audit/index.ts';
import { AirlockError } from '../errors.ts';
import type { GrantRecord, GrantService, GrantStore, LockChecker, LockScope } from '../grants/index.ts';
import { newId } from '../ids.ts';
import type { Policy } from '../policy/index.ts';
import { grantIdOfRole, type RoleNaming } from '../postgres/index.ts';
import { covers, isActive, type Lock } from './lock.ts';
import { LOCK_CHAIN_PREFIX, type LockStore } from './lock-store.ts';
import type { LockRequest } from './schemas.ts';

/** How long an ended lock stays readable before DynamoDB's TTL may delete it. */
const RETENTION_SECONDS = 30 * 86400;
/** Grants ended at once; each revocation holds one of a connection's few admin sessions. */
const WIDTH = 8;
/** Re-reads of one grant whose status moved under the lock (pending → active) before giving up. */
const MAX_ATTEMPTS = 4;

/** Who acts: the operator's verified subject and issuer. */
export interface Operator {
  subject: string;
  issuer: string;
}

export interface LockOutcome {
  lock: Lock;
  revoked: string[];
  denied: string[];
}

/** The audit chain of one lock's events. */
export const lockChain = (id: string) => `${LOCK_CHAIN_PREFIX}${id}`;

export function lockedError(lock: Lock): AirlockError {
  const what = [
    lock.subject !== undefined ? `subject ${lock.subject}` : undefined,
    lock.connection !== undefined ? `connection ${lock.connection}` : undefined,
  ]
    .filter((part) => part !== undefined)
    .join(' on ');
  return new AirlockError('locked', `an operator has locked ${what}: no grant can be requested while the lock holds`, {
    lock: { id: lock.id, reason: lock.reason },
  });
}

/** Read on every grant request: one strongly consistent Query, no cache, so a new lock holds at once. */
export function createLockChecker(options: { store: LockStore; now?: () => Date }): LockChecker {
  const now = options.now ?? (() => new Date());
  return {
    async assertUnlocked(scope: LockScope) {
      const at = now();
      const lock = (await options.store.listUnlifted()).find((lock) => isActive(lock, at) && covers(lock, scope));
      if (lock) throw lockedError(lock);
    },
  };
}

export interface LockServiceOptions {
  policy: Pick<Policy, 'connections'>;
  store: LockStore;
  grantStore: Pick<GrantStore, 'get' | 'getMany' | 'search'>;
  grants: Pick<GrantService, 'endAs'>;
  /** A connection's roles of this deployment (the role admin); the source of truth for open windows. */
  roles: (connection: string) => Promise<{ listRoles(): Promise<Array<{ role: string }>> }>;
  /** How this deployment names roles: the grant id is read back from a role name with it. */
  naming: RoleNaming;
  audit: AuditLog;
  now?: () => Date;
}

export type LockService = ReturnType<typeof createLockService>;

export function createLockService(options: LockServiceOptions) {
  const { store, audit } = options;
  const now = options.now ?? (() => new Date());
  const iso = (date: Date) => date.toISOString();
  const retainedUntil = (at: string) => Math.floor(Date.parse(at) / 1000) + RETENTION_SECONDS;

  /**
   * Every grant that may be live under the lock. The status index finds pending and active ones; the
   * roles in each database find, strongly consistently, every window that is open or about to open even
   * when the index lags (see docs/operators.md, "A lock and a request in flight"). A grant's subject and
   * connection never change, so only a role the index does not know at all costs a read of its grant.
   * Connections whose roles could not be listed are returned too: the lock must say it is not complete.
   */
  async function candidates(lock: Lock): Promise<{ ids: string[]; unlisted: string[] }> {
    const known = new Map<string, GrantRecord>();
    for (const status of ['pending', 'active'] as const) {
      let after: Awaited<ReturnType<typeof options.grantStore.search>>['next'];
      do {
        const page = await options.grantStore.search({ status, ...(after ? { after } : {}), limit: 500 });
        for (const grant of page.grants) known.set(grant.id, grant);
        after = page.next;
      } while (after);
    }
    const ids = new Set([...known.values()].filter((grant) => covers(lock, grant)).map((grant) => grant.id));
    const connections = lock.connection !== undefined ? [lock.connection] : Object.keys(options.policy.connections);
    const unlisted: string[] = [];
    const roles = await Promise.all(
      connections.map(async (connection) => {
        try {
          return (await (await options.roles(connection)).listRoles()).map((info) => info.role);
        } catch {
          unlisted.push(connection);
          return [];
        }
      }),
    );
    const unknown = roles
      .flat()
      .map((role) => grantIdOfRole(role, options.naming))
      .filter((id): id is string => id !== null && !known.has(id));
    for (const [id, grant] of await options.grantStore.getMany(unknown)) if (coveredLive(lock, grant)) ids.add(id);
    return { ids: [...ids], unlisted };
  }

  /** Ends one grant under the lock, following its status if it moves meanwhile. */
  async function end(lock: Lock, id: string, outcome: { revoked: string[]; denied: string[] }): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const grant = await options.grantStore.get(id);
      if (!grant || !coveredLive(lock, grant)) return;
      const to = grant.status === 'pending' ? 'denied' : 'revoked';
      const ended = await options.grants.endAs(id, to, {
        by: lock.by,
        reason: lock.reason,
        details: { lockId: lock.id, byIssuer: lock.byIssuer },
      });
      if (ended) {
        outcome[to].push(id);
        return;
      }
    }
    throw new AirlockError('unavailable', `grant ${id} kept changing while the lock ended it`);
  }

  return {
    async create(operator: Operator, request: LockRequest): Promise<LockOutcome> {
      if (request.connection !== undefined && !Object.hasOwn(options.policy.connections, request.connection))
        throw new AirlockError('invalid_request', `unknown connection "${request.connection}"`);
      const createdAt = iso(now());
      const expiresAt =
        request.ttl !== undefined ? iso(new Date(Date.parse(createdAt) + request.ttl * 1000)) : undefined;
      const lock: Lock = {
        id: newId(),
        ...(request.subject !== undefined ? { subject: request.subject } : {}),
        ...(request.issuer !== undefined ? { issuer: request.issuer } : {}),
        ...(request.connection !== undefined ? { connection: request.connection } : {}),
        reason: request.reason,
        by: operator.subject,
        byIssuer: operator.issuer,
        createdAt,
        ...(expiresAt !== undefined ? { expiresAt, ttl: retainedUntil(expiresAt) } : {}),
      };
      // The record first (the chain anchors its head on it); no lock holds without its event.
      await store.create(lock);
      await audit
        .append({
          grantId: lockChain(lock.id),
          type: 'lock.created',
          subject: operator.subject,
          details: {
            lockId: lock.id,
            by: operator.subject,
            byIssuer: operator.issuer,
            reason: lock.reason,
            lock: {
              subject: lock.subject,
              issuer: lock.issuer,
              connection: lock.connection,
              expiresAt: lock.expiresAt,
            },
          },
        })
        .catch(async (error: unknown) => {
          // Unrecorded, it must not hold; if even the lift fails, it holds (the safe side) and the error says so.
          const liftReason = 'its audit event could not be written';
          await store
            .lift(lock.id, {
              liftedAt: createdAt,
              liftedBy: operator.subject,
              liftReason,
              ttl: retainedUntil(createdAt),
            })
            .catch(() => null);
          throw error;
        });
      const outcome = { revoked: [] as string[], denied: [] as string[] };
      const failed: string[] = [];
      const { ids, unlisted } = await candidates(lock);
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(WIDTH, ids.length) }, async () => {
          while (next < ids.length) {
            const id = ids[next++]!;
            await end(lock, id, outcome).catch(() => failed.push(id));
          }
        }),
      );
      if (failed.length > 0 || unlisted.length > 0)
        throw new AirlockError(
          'unavailable',
          `lock ${lock.id} holds, but not every grant it covers could be ended: ${failed.length} failed, ` +
            `roles unreadable on ${unlisted.length ? unlisted.join(', ') : 'no connection'}; list them and revoke each`,
          {
            lock: { id: lock.id, reason: lock.reason },
            revoked: outcome.revoked,
            denied: outcome.denied,
            failed,
            unlisted,
          },
        );
      return { lock, ...outcome };
    },

    async lift(operator: Operator, id: string, reason: string): Promise<Lock> {
      const current = /^[0-9a-z]{20}$/.test(id) ? await store.get(id) : null;
      if (!current) throw new AirlockError('not_found', `no lock ${id}`);
      if (!isActive(current, now())) throw new AirlockError('conflict', `lock ${id} has already ended`);
      await audit.append({
        grantId: lockChain(id),
        type: 'lock.lifted',
        subject: operator.subject,
        details: { lockId: id, by: operator.subject, byIssuer: operator.issuer, reason },
      });
      const liftedAt = iso(now());
      const lifted = await store.lift(id, {
        liftedAt,
        liftedBy: operator.subject,
        liftReason: reason,
        ttl: retainedUntil(liftedAt),
      });
      if (!lifted) throw new AirlockError('conflict', `lock ${id} has already been lifted`);
      return lifted;
    },

    /** Locks that hold now, newest first. */
    async listActive(): Promise<Lock[]> {
      const at = now();
      return (await store.listUnlifted())
        .filter((lock) => isActive(lock, at))
        .sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
    },
  };
}

function coveredLive(lock: Lock, grant: GrantRecord): boolean {
  return (grant.status === 'pending' || grant.status === 'active') && covers(lock, grant);
}
