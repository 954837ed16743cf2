// A small pool of Postgres clients for one login: reuse idle sessions, cap how many are open,
// never hand out a client whose connection broke. Callers own what the sessions are logged in as.

import { closeClient, type PgClient } from './driver.ts';

export interface ClientPool {
  acquire(): Promise<PgClient>;
  /** Returns a client; a `broken` one (or one that reported an error) is closed instead of reused. */
  release(client: PgClient, broken: boolean): void;
  close(): Promise<void>;
}

export function createClientPool(options: { connect: () => Promise<PgClient>; max: number }): ClientPool {
  const idle: PgClient[] = [];
  const waiters: Array<(client: PgClient | Error) => void> = [];
  const failed = new WeakSet<PgClient>();
  let size = 0;
  let closed = false;

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

  return {
    async acquire() {
      if (closed) throw new Error('the pool is closed');
      // An idle session whose connection dropped meanwhile (Postgres restarted, backend terminated) is closed, not handed out.
      for (let client = idle.pop(); client; client = idle.pop()) {
        if (!failed.has(client)) return client;
        size--;
        void closeClient(client);
      }
      if (size < options.max) return open();
      return new Promise<PgClient>((resolve, reject) => {
        waiters.push((next) => (next instanceof Error ? reject(next) : resolve(next)));
      });
    },

    release(client, broken) {
      if (broken || failed.has(client) || closed) {
        size--;
        void closeClient(client);
        const waiter = waiters.shift();
        // A waiter gets a fresh session instead of the broken one.
        if (waiter) open().then(waiter, waiter);
        return;
      }
      const waiter = waiters.shift();
      if (waiter) waiter(client);
      else idle.push(client);
    },

    async close() {
      closed = true;
      for (const waiter of waiters.splice(0)) waiter(new Error('the pool is closed'));
      await Promise.all(idle.splice(0).map((client) => closeClient(client)));
    },
  };
}
