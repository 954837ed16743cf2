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
  /** A caller waits at most this long for a session to come free (default: as long as it takes). */
  acquireTimeoutMs?: number;
  /**
   * Whether a failed connect means the server holds as many sessions of this login as it allows: then the
   * pool keeps to the sessions it has and waits for one (or fails, when it has none).
   */
  atCapacity?: (error: unknown) => boolean;
}

export function createClientPool(options: ClientPoolOptions): ClientPool {
  const idle: Array<{ client: PgClient; timer: ReturnType<typeof setTimeout> | undefined }> = [];
  const waiters: Array<(client: PgClient | Error) => void> = [];
  const failed = new WeakSet<PgClient>();
  let size = 0;
  let max = options.max;
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
    const entry = { client, timer: undefined as ReturnType<typeof setTimeout> | undefined };
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

  const wait = () =>
    new Promise<PgClient>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waiter = (next: PgClient | Error) => {
        clearTimeout(timer);
        if (next instanceof Error) reject(next);
        else resolve(next);
      };
      waiters.push(waiter);
      if (options.acquireTimeoutMs === undefined) return;
      timer = setTimeout(() => {
        const at = waiters.indexOf(waiter);
        if (at === -1) return;
        waiters.splice(at, 1);
        reject(new Error(`no session came free within ${options.acquireTimeoutMs} ms`));
      }, options.acquireTimeoutMs);
    });

  async function acquire(): Promise<PgClient> {
    if (closed) throw new Error('the pool is closed');
    // An idle session whose connection dropped meanwhile (Postgres restarted, backend terminated) is closed, not handed out.
    for (let entry = idle.pop(); entry; entry = idle.pop()) {
      clearTimeout(entry.timer);
      if (!unusable(entry.client)) return entry.client;
      discard(entry.client);
    }
    if (size >= max) return wait();
    try {
      return await open();
    } catch (error) {
      if (size === 0 || !options.atCapacity?.(error)) throw error;
      // The server's limit for this login is what we hold: keep to it, and take the next one released.
      max = size;
      return acquire();
    }
  }

  return {
    acquire,

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
