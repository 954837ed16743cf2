// A real Airlock for a test file: the assembled app served over HTTP on a free port, against the
// shared embedded infrastructure, with fresh tables, a policy of the test's choosing and a movable clock.

import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { localizePolicy } from '../../local/stack.ts';
import { type Airlock, type AirlockConfig, assembleAirlock } from '../../shared/airlock/index.ts';
import { type AuditLog, createDynamoAuditLog, createDynamoHeadAnchor } from '../../shared/audit/index.ts';
import { parsePolicyText } from '../../shared/policy/load.ts';
import type { Policy } from '../../shared/policy/schema.ts';
import { roleNameFor } from '../../shared/postgres/role-names.ts';
import { QueryKeysSecret, readSecret, SECRET_NAMES, type SecretSource } from '../../shared/secrets/index.ts';
import { type DynamoHotPath, hotPathFor } from '../../shared/store/hot-path.ts';
import type { TableNames } from '../../shared/store/tables.ts';
import { dynamo, freshTables, infra, secrets, wire } from './infra.ts';

export const DEMO_POLICY_TEXT = readFileSync(new URL('../../airlock.policy.yaml', import.meta.url), 'utf8');

export interface TestClock {
  now: () => Date;
  advance(seconds: number): void;
}

export function testClock(start = new Date()): TestClock {
  let offsetMs = start.getTime() - Date.now();
  return { now: () => new Date(Date.now() + offsetMs), advance: (seconds) => (offsetMs += seconds * 1000) };
}

export interface TestAirlock {
  baseUrl: string;
  /** The role of a grant of this stack. */
  roleOf(grantId: string): string;
  /** This stack's role prefix (stacks share one Postgres; its masking schema and roles are named after it). */
  rolePrefix: string;
  airlock: Airlock;
  policy: Policy;
  tables: TableNames;
  clock: TestClock;
  /** The stack's audit log as the composition root builds it: keyed, heads anchored (verify() gives the verdict). */
  audit: AuditLog;
  /** An identity token from the stack's dev issuer. */
  token(sub: string, groups?: string[], extra?: { email?: string; ttlSeconds?: number }): Promise<string>;
  /** fetch against the stack, JSON in and out. */
  call(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

export async function startTestAirlock(
  options: {
    policyText?: string;
    clock?: TestClock;
    observe?: AirlockConfig['observe'];
    secrets?: SecretSource;
    queryProfile?: AirlockConfig['queryProfile'];
    /** Wraps the store's hot path (to count or break the per-statement calls). */
    hotPath?: (hot: DynamoHotPath) => DynamoHotPath;
  } = {},
): Promise<TestAirlock> {
  const clock = options.clock ?? testClock();
  const tables = await freshTables();
  // Stacks share one Postgres: each reaps only roles under its own prefix.
  const rolePrefix = `airlock_${tables.grants.slice(2, 10).replace(/[^a-z0-9]/g, '')}_`;
  const { roleKey, auditKey } = await readSecret(secrets(), SECRET_NAMES.queryKeys, QueryKeysSecret);
  let server: ServerType | undefined;
  const port = await new Promise<number>((resolve) => {
    // Reserve the port first: the policy must name the issuer URL before the app exists.
    const probe = serve(
      { fetch: () => new Response(null, { status: 503 }), port: 0, hostname: '127.0.0.1' },
      (info: AddressInfo) => {
        probe.close(() => resolve(info.port));
      },
    );
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const policy = localizePolicy(parsePolicyText(options.policyText ?? DEMO_POLICY_TEXT, 'test policy'), baseUrl);
  const client = dynamo();
  // As in AWS: the per-statement store calls take the hot path.
  const carried = await hotPathFor(client);
  const hotPath = options.hotPath ? options.hotPath(carried) : carried;
  const airlock = await assembleAirlock({
    policy,
    secrets: options.secrets ?? secrets(),
    dynamo: client,
    hotPath,
    tables,
    wire: wire(),
    parts: { api: true, query: true },
    now: clock.now,
    rolePrefix,
    dev: { baseUrl, outboxDir: join(infra().dataDir, 'outbox', tables.grants) },
    ...(options.observe ? { observe: options.observe } : {}),
    ...(options.queryProfile ? { queryProfile: options.queryProfile } : {}),
  });
  server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: airlock.app.fetch, port, hostname: '127.0.0.1' }, () => resolve(s));
  });

  const call: TestAirlock['call'] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // HTML pages and empty bodies stay text.
    }
    return { status: response.status, body, headers: response.headers };
  };

  return {
    baseUrl,
    roleOf: (grantId) => roleNameFor(grantId, { roleKey, prefix: rolePrefix }),
    audit: createDynamoAuditLog({
      client: dynamo(),
      table: tables.audit,
      chain: { key: auditKey, anchor: createDynamoHeadAnchor({ client: dynamo(), table: tables.grants }) },
    }),
    rolePrefix,
    airlock,
    policy,
    tables,
    clock,
    async token(sub, groups = [], extra = {}) {
      const result = await call('POST', '/dev/token', { body: { sub, groups, ...extra } });
      if (result.status !== 200) throw new Error(`dev token: ${result.status} ${JSON.stringify(result.body)}`);
      return result.body.token as string;
    },
    call,
    async close() {
      await new Promise<void>((resolve) => server!.close(() => resolve()));
      await airlock.close();
      hotPath.close();
    },
  };
}
