// A small pool of Postgres clients for one login: reuse idle sessions, cap how many are open, close those idle too
// long. It never hands out a client whose connection broke or whose wire guard cut it.

import { closeClient, type PgClient } from './driver.ts';
import { isSessionLost } from './wire-guard.ts';

export interface ClientPool {
  acquire(): Promise<PgClient>;
  /** Returns a client; a `broken` one (or one that reported an error, or was cut) is closed instead of reused. */
  release(client: PgClient, broken: boolean): void;
  close(): Promise<void>;
}

export interface ClientPoolOptions {
  connect: () => Promise<PgClient>;
  max: number;
  /** An idle client is closed after this long unused (default: kept until the pool closes). */
  idleMs?: number;
}

export function createClientPool(options: ClientPoolOptions): ClientPool {
  const idle: Array<{ client: PgClient; timer: NodeJS.Timeout | undefined }> = [];
  const waiters: Array<(client: PgClient | Error) => void> = [];
  const failed = new WeakSet<PgClient>();
  let size = 0;
  let closed = false;

  const unusable = (client: PgClient) => failed.has(client) || isSessionLost(client);

  const open = async (): Promise<PgClient> => {
    size++;
    try {
      const client = await options.connect();
      client.on('error', () => failed.add(client));
      client.on('end', () => failed.add(client));
      return client;
    } catch (error) {
      size--;
      throw error;
    }
  };

  const discard = (client: PgClient) => {
    size--;
    void closeClient(client);
  };

  const park = (client: PgClient) => {
    const entry = { client, timer: undefined as NodeJS.Timeout | undefined };
    if (options.idleMs !== undefined) {
      entry.timer = setTimeout(() => {
        const at = idle.indexOf(entry);
        if (at === -1) return;
        idle.splice(at, 1);
        discard(client);
      }, options.idleMs);
      entry.timer.unref();
    }
    idle.push(entry);
  };

  return {
    async acquire() {
      if (closed) throw new Error('the pool is closed');
      // An idle session whose connection dropped meanwhile (Postgres restarted, backend terminated) is closed, not handed out.
      for (let entry = idle.pop(); entry; entry = idle.pop()) {
        clearTimeout(entry.timer);
        if (!unusable(entry.client)) return entry.client;
        discard(entry.client);
      }
      if (size < options.max) return open();
      return new Promise<PgClient>((resolve, reject) => {
        waiters.push((next) => (next instanceof Error ? reject(next) : resolve(next)));
      });
    },

    release(client, broken) {
      if (broken || unusable(client) || closed) {
        discard(client);
        const waiter = waiters.shift();
        // A waiter gets a fresh session instead of the broken one.
        if (waiter) open().then(waiter, waiter);
        return;
      }
      const waiter = waiters.shift();
      if (waiter) waiter(client);
      else park(client);
    },

    async close() {
      closed = true;
      for (const waiter of waiters.splice(0)) waiter(new Error('the pool is closed'));
      const parked = idle.splice(0);
      for (const entry of parked) clearTimeout(entry.timer);
      await Promise.all(parked.map((entry) => closeClient(entry.client)));
    },
  };
}
