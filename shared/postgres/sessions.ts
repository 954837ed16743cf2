// Agent-side connections: a few Postgres sessions per grant, logged in as the grant's role, reused in a warm process,
// closed when idle and when the window ends. It never connects as anyone but the grant's role.

import { rateLimited } from '../errors.ts';
import { connectClient, type DatabaseTarget, type PgClient, type WireOptions } from './driver.ts';
import { isConnectionLost } from './execute.ts';
import { boundedJsonTypes } from './json-values.ts';
import { type ClientPool, createClientPool } from './pool.ts';

export interface GrantSessionTarget extends DatabaseTarget {
  grantId: string;
  expiresAt: Date;
  maxSessions: number;
}

export interface SessionPool {
  /** Runs `work` on a session of the grant's role; a session that broke is discarded, not reused. */
  withSession<T>(target: GrantSessionTarget, work: (client: PgClient) => Promise<T>): Promise<T>;
  close(grantId: string): Promise<void>;
  closeAll(): Promise<void>;
}

export interface SessionPoolOptions {
  wire: WireOptions;
  /** A grant's session unused this long is closed (default 10 s): idle grants do not hold Postgres connections. */
  idleMs?: number;
  now?: () => Date;
}

/** Long enough for an agent's burst of statements to share a session, short enough that idle grants hold none. */
const DEFAULT_SESSION_IDLE_MS = 10_000;

export function createSessionPool(options: SessionPoolOptions): SessionPool {
  const now = options.now ?? (() => new Date());
  const idleMs = options.idleMs ?? DEFAULT_SESSION_IDLE_MS;
  const pools = new Map<string, { pool: ClientPool; timer: ReturnType<typeof setTimeout> }>();

  const poolFor = (target: GrantSessionTarget): ClientPool => {
    const existing = pools.get(target.grantId);
    if (existing) return existing.pool;
    const { grantId, expiresAt, maxSessions, ...login } = target;
    // The role's CONNECTION LIMIT is its share of the subject's sessions: past it, wait for one of ours.
    const pool = createClientPool({
      // json values are parsed with a bound on their depth: a deep one fails its statement, not the process.
      connect: () => connectClient(login, options.wire, { types: boundedJsonTypes }),
      max: maxSessions,
      atCapacity: tooManyConnections,
      idleMs,
    });
    // The window's end closes the grant's sessions even if no request comes to notice it.
    const delay = Math.max(0, Math.min(expiresAt.getTime() - now().getTime(), 2 ** 31 - 1));
    const timer = setTimeout(() => void close(grantId), delay);
    timer.unref();
    pools.set(grantId, { pool, timer });
    return pool;
  };

  async function close(grantId: string): Promise<void> {
    const entry = pools.get(grantId);
    if (!entry) return;
    pools.delete(grantId);
    clearTimeout(entry.timer);
    await entry.pool.close();
  }

  return {
    async withSession(target, work) {
      const pool = poolFor(target);
      const client = await pool.acquire().catch((error: unknown) => {
        if (!tooManyConnections(error)) throw error;
        throw rateLimited('Postgres refused another session for this grant: its share of the sessions is in use', {
          quota: 'sessionsPerSubject',
          retryAfterSeconds: 1,
        });
      });
      let broken = false;
      try {
        return await work(client);
      } catch (error) {
        // A statement error leaves the session usable; a lost connection does not (nor a cut one: the pool checks).
        broken = isConnectionLost(error);
        throw error;
      } finally {
        pool.release(client, broken);
      }
    },
    close,
    async closeAll() {
      await Promise.all([...pools.keys()].map(close));
    },
  };
}

/** 53300: the role's CONNECTION LIMIT (or the server's) is reached; connectClient keeps the SQLSTATE beside `unavailable`. */
function tooManyConnections(error: unknown): boolean {
  return (error as { sqlstate?: unknown } | null)?.sqlstate === '53300';
}
