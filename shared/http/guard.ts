// The front door's Host and Origin checks against DNS rebinding: the API answers only for its own host names,
// /dev/* only to loopback peers, and /mcp only to browser origins the policy names. Must never trust a header it
// has not compared with configuration, nor let a request it refused reach a route.

import type { MiddlewareHandler } from 'hono';
import { AirlockError } from '../errors.ts';
import type { Policy } from '../policy/index.ts';

export interface RequestGuardOptions {
  /** Host header values answered for, lower-case, each also with its scheme's default port spelled out. */
  hosts: string[];
  /** Browser origins (`scheme://host[:port]`) allowed on /mcp; a request without Origin (not a browser) passes. */
  mcpOrigins: string[];
  /** Local mode: /dev/* is served only to peers on the loopback interface. */
  devLoopbackOnly: boolean;
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/** The Host values a URL's authority may arrive as: `example.com` and `example.com:443` for https. */
function hostsOf(url: URL): string[] {
  const host = url.host.toLowerCase();
  return url.port === '' ? [host, `${host}:${DEFAULT_PORTS[url.protocol] ?? ''}`] : [host];
}

/**
 * What the composition root passes to createApp: the public URL's host and `http.allowedHosts`, and in
 * local mode the loopback names at the stack's own port (a browser on the developer's machine uses them).
 */
export function requestGuardOptions(
  policy: Pick<Policy, 'publicUrl' | 'http'>,
  local?: { baseUrl: string },
): RequestGuardOptions {
  const hosts = [new URL(policy.publicUrl), ...policy.http.allowedHosts.map((host) => new URL(`http://${host}`))];
  if (local) {
    const base = new URL(local.baseUrl);
    for (const name of LOOPBACK_NAMES) hosts.push(new URL(`${base.protocol}//${name}:${base.port || '80'}`));
  }
  return {
    hosts: [...new Set(hosts.flatMap(hostsOf))],
    mcpOrigins: policy.http.mcpOrigins.map((origin) => new URL(origin).origin),
    devLoopbackOnly: local !== undefined,
  };
}

/** The peer's address on @hono/node-server (the local stack); elsewhere there is none to read. */
function peerAddress(env: unknown): string | undefined {
  const address = (env as { incoming?: { socket?: { remoteAddress?: unknown } } } | undefined)?.incoming?.socket
    ?.remoteAddress;
  return typeof address === 'string' ? address : undefined;
}

const isLoopback = (address: string | undefined) =>
  address !== undefined && (/^127\./.test(address) || address === '::1' || /^::ffff:127\./i.test(address));

export function requestGuard(options: RequestGuardOptions): MiddlewareHandler {
  const hosts = new Set(options.hosts);
  const origins = new Set(options.mcpOrigins);
  return async function guard(c, next) {
    // Node and Lambda both give one; a request built in-process has only its URL's.
    const host = (c.req.header('host') ?? new URL(c.req.url).host).trim().toLowerCase();
    // 421: this server does not answer for that name, which is what a rebound DNS name looks like.
    if (!host || !hosts.has(host))
      throw new AirlockError('misdirected', 'this Airlock does not answer for that host name; use its public URL');
    const path = c.req.path;
    if (options.devLoopbackOnly && (path === '/dev' || path.startsWith('/dev/')) && !isLoopback(peerAddress(c.env)))
      throw new AirlockError('forbidden', 'local-mode routes answer only on the loopback interface');
    const origin = c.req.header('origin');
    // MCP (streamable HTTP) requires a present Origin to be validated: 403 unless the policy names it.
    if ((path === '/mcp' || path.startsWith('/mcp/')) && origin !== undefined && !origins.has(origin))
      throw new AirlockError('forbidden', 'this browser origin may not call /mcp (http.mcpOrigins in the policy)');
    await next();
  };
}
