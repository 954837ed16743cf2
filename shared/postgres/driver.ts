// Postgres over WebSocket with @neondatabase/serverless, for the admin side and the agent side alike.
// Connection settings are per client (never the driver's globals), so two stacks can share a process.

import { Client, type ClientConfig } from '@neondatabase/serverless';
import WebSocket from 'ws';
import { unavailable } from '../errors.ts';

export interface WireOptions {
  /** `host:port[/path]` of a WebSocket→TCP proxy; omit for Neon's own proxy. */
  wsProxy?: string;
  /** `wss://` (true, the default) or `ws://` (the local proxy on loopback). */
  secureWebSocket?: boolean;
}

export interface DatabaseTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export type PgClient = Client;

const CONNECT_TIMEOUT_MS = 10_000;

export function createClient(target: DatabaseTarget, wire: WireOptions, extra: Partial<ClientConfig> = {}): Client {
  const client = new Client({ ...target, ...extra });
  const config = client.neonConfig;
  config.webSocketConstructor = (globalThis.WebSocket as unknown as typeof WebSocket | undefined) ?? WebSocket;
  if (wire.wsProxy) {
    const proxy = wire.wsProxy;
    config.wsProxy = (host, port) => `${proxy}/v1?address=${encodeURIComponent(`${host}:${port}`)}`;
  }
  config.useSecureWebSocket = wire.secureWebSocket ?? true;
  // Pipelined password auth only works against Neon's proxy; a plain Postgres speaks SCRAM.
  config.pipelineConnect = false;
  if (wire.secureWebSocket === false) config.forceDisablePgSSL = true;
  return client;
}

/** Connects, turning a failure to reach the database into `unavailable`. */
export async function connectClient(
  target: DatabaseTarget,
  wire: WireOptions,
  extra: Partial<ClientConfig> = {},
  timeoutMs = CONNECT_TIMEOUT_MS,
): Promise<Client> {
  const client = createClient(target, wire, extra);
  client.on('error', () => {}); // a dropped socket surfaces on the next query; never crash the process
  let timer: NodeJS.Timeout | undefined;
  try {
    // A refused WebSocket upgrade never settles connect(): bound it.
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  } catch (error) {
    clearTimeout(timer);
    await closeClient(client);
    throw connectFailure(error);
  }
  return client;
}

function connectFailure(error: unknown) {
  return Object.assign(unavailable('Postgres', error), { sqlstate: (error as { code?: string }).code });
}

/** Ends a client; a client whose connection was already cut never settles `end()`, so it is bounded. */
export async function closeClient(client: Client, waitMs = 1000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.end().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

/**
 * Whether a failure lost the session (the socket, the backend) rather than the statement: a lost session is
 * discarded, never reused. Anything that is not an error Postgres reported counts as lost.
 */
export function isConnectionLost(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  // 08P01 is the server refusing what was sent (e.g. more params than placeholders), not a broken link.
  if (code === '08P01') return false;
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
}
