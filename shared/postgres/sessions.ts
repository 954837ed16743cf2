// Agent-side connections: a few Postgres sessions per grant, logged in as the grant's role, reused in
// a warm process and closed when the window ends. It never connects as anyone but the grant's role.

import type { DatabaseTarget, PgClient, WireOptions } from './driver.ts';
import { closeClient, connectClient } from './driver.ts';

export interface GrantSessionTarget extends DatabaseTarget {
  grantId: string;
  expiresAt: Date;
  maxSessions: number;
}

interface GrantPool {
  target: GrantSessionTarget;
  idle: PgClient[];
  size: number;
  waiters: Array<(client: PgClient | Error) => void>;
  timer: NodeJS.Timeout;
  closed: boolean;
}

export interface SessionPool {
  /** Runs `work` on a session of the grant's role; a session that broke is discarded, not reused. */
  withSession<T>(target: GrantSessionTarget, work: (client: PgClient) => Promise<T>): Promise<T>;
  close(grantId: string): Promise<void>;
  closeAll(): Promise<void>;
}

export function createSessionPool(options: { wire: WireOptions; now?: () => Date }): SessionPool {
  const now = options.now ?? (() => new Date());
  const pools = new Map<string, GrantPool>();
  const broken = new WeakSet<PgClient>();

  const poolFor = (target: GrantSessionTarget): GrantPool => {
    let pool = pools.get(target.grantId);
    if (!pool) {
      const delay = Math.max(0, Math.min(target.expiresAt.getTime() - now().getTime(), 2 ** 31 - 1));
      const timer = setTimeout(() => void close(target.grantId), delay);
      timer.unref();
      pool = { target, idle: [], size: 0, waiters: [], timer, closed: false };
      pools.set(target.grantId, pool);
    }
    return pool;
  };

  const acquire = async (pool: GrantPool): Promise<PgClient> => {
    const idle = pool.idle.pop();
    if (idle) return idle;
    if (pool.size < pool.target.maxSessions) {
      pool.size++;
      try {
        const { grantId: _g, expiresAt: _e, maxSessions: _m, ...target } = pool.target;
        const client = await connectClient(target, options.wire);
        client.on('error', () => broken.add(client));
        client.on('end', () => broken.add(client));
        return client;
      } catch (error) {
        pool.size--;
        throw error;
      }
    }
    return new Promise<PgClient>((resolve, reject) => {
      pool.waiters.push((client) => (client instanceof Error ? reject(client) : resolve(client)));
    });
  };

  const release = (pool: GrantPool, client: PgClient, failed: boolean) => {
    if (failed || broken.has(client) || pool.closed) {
      pool.size--;
      void closeClient(client);
      const waiter = pool.waiters.shift();
      // A waiter gets a fresh session instead of the broken one.
      if (waiter) acquire(pool).then(waiter, waiter);
      return;
    }
    const waiter = pool.waiters.shift();
    if (waiter) waiter(client);
    else pool.idle.push(client);
  };

  async function close(grantId: string): Promise<void> {
    const pool = pools.get(grantId);
    if (!pool) return;
    pools.delete(grantId);
    pool.closed = true;
    clearTimeout(pool.timer);
    for (const waiter of pool.waiters.splice(0)) waiter(new Error('the grant ended'));
    await Promise.all(pool.idle.splice(0).map((client) => closeClient(client)));
  }

  return {
    async withSession(target, work) {
      const pool = poolFor(target);
      const client = await acquire(pool);
      let failed = false;
      try {
        return await work(client);
      } catch (error) {
        // A statement error leaves the session usable; a lost connection does not.
        failed = broken.has(client) || !(error as { code?: string }).code;
        throw error;
      } finally {
        release(pool, client, failed);
      }
    },
    close,
    async closeAll() {
      await Promise.all([...pools.keys()].map(close));
    },
  };
}
