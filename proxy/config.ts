// Configuration of the deployable WebSocket→TCP proxy, parsed from the environment (names below).
// An empty or malformed target list stops the start: the proxy never runs as an open relay.

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { WsProxyOptions } from '../shared/wsproxy/index.ts';

const ProxyEnv = z.object({
  /** Comma-separated `host:port` list, e.g. `mydb.cluster-xyz.eu-west-1.rds.amazonaws.com:5432`. */
  WSPROXY_TARGETS: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((target) => target.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-f:.]+\]:\d{1,5}$/i, 'expected host:port')).min(1)),
  WSPROXY_HOST: z.string().min(1).default('0.0.0.0'),
  WSPROXY_PORT: z.coerce.number().int().min(1).max(65535).default(8080),
  /** `verify` (default): TLS to Postgres with certificate and host name checked; `encrypt`: TLS unchecked; `off`: plain TCP. */
  WSPROXY_PG_TLS: z.enum(['verify', 'encrypt', 'off']).default('verify'),
  /** PEM bundle for `verify`, e.g. the RDS global bundle; default: Node's public roots. */
  WSPROXY_PG_CA_FILE: z.string().min(1).optional(),
  /** Serve wss:// directly with this certificate and key (PEM files); omit behind a TLS load balancer. */
  WSPROXY_TLS_CERT_FILE: z.string().min(1).optional(),
  WSPROXY_TLS_KEY_FILE: z.string().min(1).optional(),
});

export function proxyOptions(env: Record<string, string | undefined>): WsProxyOptions {
  const result = ProxyEnv.safeParse(env);
  if (!result.success) throw new Error(`invalid proxy environment:\n${z.prettifyError(result.error)}`);
  const parsed = result.data;
  if (Boolean(parsed.WSPROXY_TLS_CERT_FILE) !== Boolean(parsed.WSPROXY_TLS_KEY_FILE)) {
    throw new Error('invalid proxy environment: set both WSPROXY_TLS_CERT_FILE and WSPROXY_TLS_KEY_FILE, or neither');
  }
  return {
    targets: parsed.WSPROXY_TARGETS,
    host: parsed.WSPROXY_HOST,
    port: parsed.WSPROXY_PORT,
    ...(parsed.WSPROXY_PG_TLS === 'off'
      ? {}
      : {
          upstreamTls: {
            verify: parsed.WSPROXY_PG_TLS === 'verify',
            ...(parsed.WSPROXY_PG_CA_FILE ? { ca: readFileSync(parsed.WSPROXY_PG_CA_FILE, 'utf8') } : {}),
          },
        }),
    ...(parsed.WSPROXY_TLS_CERT_FILE && parsed.WSPROXY_TLS_KEY_FILE
      ? {
          listenTls: {
            cert: readFileSync(parsed.WSPROXY_TLS_CERT_FILE, 'utf8'),
            key: readFileSync(parsed.WSPROXY_TLS_KEY_FILE, 'utf8'),
          },
        }
      : {}),
    log: (line) => console.error(`wsproxy: ${line}`),
  };
}
