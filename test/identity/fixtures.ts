// Test fixtures for identity: a real local HTTP server for JWKS/discovery, and hand-crafted tokens.
// Must never mock fetch: every key fetch in these tests crosses a real socket.

import { createHmac, createSign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { type ErrorCode, isAirlockError } from '../../shared/errors.ts';

type Route = { status: number; body: unknown };

export interface KeyServer {
  readonly base: string;
  /** Serves `body` as JSON at `path` (status 200 unless told). */
  route(path: string, body: unknown, status?: number): void;
  /** How many requests `path` has received. */
  hits(path: string): number;
  close(): Promise<void>;
}

export async function startKeyServer(): Promise<KeyServer> {
  const routes = new Map<string, Route>();
  const counts = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const route = routes.get(path);
    response.writeHead(route?.status ?? 404, { 'content-type': 'application/json' });
    response.end(JSON.stringify(route?.body ?? { error: 'not found' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    route: (path, body, status = 200) => void routes.set(path, { status, body }),
    hits: (path) => counts.get(path) ?? 0,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

export function b64url(value: string | Buffer | object): string {
  const bytes =
    typeof value === 'string' || Buffer.isBuffer(value) ? Buffer.from(value) : Buffer.from(JSON.stringify(value));
  return bytes.toString('base64url');
}

/** `alg: none` with an empty signature, as an attacker would send it. */
export function unsignedToken(header: object, payload: object): string {
  return `${b64url(header)}.${b64url(payload)}.`;
}

/** HS256 keyed with arbitrary bytes (e.g. the issuer's public key PEM): the classic alg-confusion attack. */
export function hmacToken(header: object, payload: object, secret: string | Buffer): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** RS256 by hand with node:crypto, for headers a library might refuse to produce. */
export function rs256Token(header: object, payload: object, privateKeyPem: string): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(privateKeyPem).toString('base64url')}`;
}

/** Replaces the payload segment, keeping header and signature. */
export function withPayload(token: string, payload: object): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64url(payload)}.${signature}`;
}

export function decodeSegment(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** Asserts the promise rejects with an AirlockError of `code` whose message does not echo the token. */
export async function expectRefusal(promise: Promise<unknown>, code: ErrorCode, token?: string): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(isAirlockError(error, code), `expected AirlockError ${code}, got ${String(error)}`).toBe(true);
  if (token && error instanceof Error) {
    for (const part of token.split('.').filter((segment) => segment.length > 8))
      expect(error.message).not.toContain(part);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
