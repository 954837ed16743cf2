// Postgres over WebSocket with @neondatabase/serverless, for the admin side and the agent side alike.
// Settings are per client, never the driver's globals (two stacks share a process); no client runs unguarded.

import { Client, type ClientConfig } from '@neondatabase/serverless';
import WebSocket from 'ws';
import { unavailable } from '../errors.ts';
import { guardSession } from './wire-guard.ts';

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
  // The WebSocket is the only encryption layer; the wire guard reads plain protocol bytes.
  config.forceDisablePgSSL = true;
  // Coalescing holds every write for a 1 ms timer; a pipeline is one write already, so it only adds latency.
  config.coalesceWrites = false;
  guardSession(client);
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
  let timer: ReturnType<typeof setTimeout> | undefined;
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
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    client.end().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}
