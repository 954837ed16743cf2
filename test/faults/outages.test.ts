// Outages under a running Airlock, on infrastructure of this file's own (its Postgres and its store can be
// stopped without touching other tests): 503 `unavailable`, nothing run, and recovery without a restart.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTables, type LocalDynamo, localTableNames, startLocalDynamo } from '../../local/dynamo.ts';
import { type LocalInfra, startLocalInfra } from '../../local/infra.ts';
import { LOCAL_ADMIN_SECRET } from '../../local/secrets.ts';
import { localizePolicy } from '../../local/stack.ts';
import { type Airlock, assembleAirlock } from '../../shared/airlock/index.ts';
import { createDynamoAuditLog, createDynamoHeadAnchor } from '../../shared/audit/index.ts';
import { createLogger } from '../../shared/observe/index.ts';
import { parsePolicyText } from '../../shared/policy/load.ts';
import { closeClient, connectClient, type PgClient } from '../../shared/postgres/driver.ts';
import { roleNameFor } from '../../shared/postgres/role-names.ts';
import { ROLE_PREFIX } from '../../shared/postgres/roles.ts';
import { DatabaseSecret, QueryKeysSecret, readSecret, SECRET_NAMES } from '../../shared/secrets/index.ts';
import { createDynamoClient } from '../../shared/store/dynamo.ts';
import { freePort } from '../global-setup.ts';
import { DEMO_POLICY_TEXT } from '../support/airlock.ts';

const POLICY = DEMO_POLICY_TEXT.replace(
  'rules:\n',
  `rules:
  - name: fault-write
    when: { subject: "agent:fault-w*" }
    connection: shop
    access: write
    maxTtl: 30m
`,
);

interface Outcome {
  tag: string;
  sentAt: number;
  status: number;
  code?: string;
}

let dataDir: string;
let infra: LocalInfra;
let store: LocalDynamo;
let airlock: Airlock;
let server: ServerType;
let baseUrl: string;
const tables = localTableNames('faults');
/** What the server logs for operators (each request, with a 503's cause): kept out of the test output, checked for secrets. */
const logged: string[] = [];
const logger = createLogger({ level: 'info', destination: { write: (line: string) => void logged.push(line) } });

async function call(
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: text };
  }
}

async function identity(sub: string): Promise<string> {
  return (await call('POST', '/dev/token', undefined, { sub })).body.token;
}

async function grant(token: string, access: 'read' | 'write') {
  const response = await call('POST', '/v1/grants', token, {
    connection: 'shop',
    access,
    ttl: 600,
    reason: 'fault test',
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body as { grant: { id: string }; token: string };
}

async function admin(): Promise<PgClient> {
  const secret = await readSecret(infra.secrets, LOCAL_ADMIN_SECRET, DatabaseSecret);
  return connectClient(
    { host: secret.host, port: secret.port, user: secret.username, password: secret.password, database: secret.dbname },
    infra.wire,
  );
}

async function committedTags(table: string): Promise<Set<string>> {
  const client = await admin();
  try {
    return new Set((await client.query(`SELECT tag FROM ${table}`)).rows.map((row: { tag: string }) => row.tag));
  } finally {
    await closeClient(client);
  }
}

/** `agents` loops of INSERTs until `until` resolves, at most one request in flight per agent. */
async function writers(prefix: string, tokens: string[], table: string, until: Promise<void>): Promise<Outcome[]> {
  let done = false;
  void until.then(
    () => (done = true),
    () => (done = true),
  );
  const outcomes: Outcome[] = [];
  await Promise.all(
    tokens.map(async (token, agent) => {
      for (let n = 0; !done && n < 2000; n++) {
        const tag = `${prefix}_${agent}_${n}`;
        const sentAt = Date.now();
        const response = await call('POST', '/v1/query', token, {
          sql: `INSERT INTO ${table} (tag) VALUES ($1)`,
          params: [tag],
        });
        outcomes.push({ tag, sentAt, status: response.status, code: response.body?.error?.code });
        await sleep(20);
      }
    }),
  );
  return outcomes;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'airlock-faults-'));
  infra = await startLocalInfra({ dataDir, pgPort: await freePort(), memoryStore: true });
  // The store of this Airlock is a dynalite of its own, so that it can be stopped.
  store = await startLocalDynamo({});
  const dynamo = createDynamoClient({ region: 'local', endpoint: store.endpoint });
  await ensureTables(dynamo, tables);
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const policy = localizePolicy(parsePolicyText(POLICY, 'fault policy'), baseUrl);
  airlock = await assembleAirlock({
    policy,
    secrets: infra.secrets,
    dynamo,
    tables,
    wire: infra.wire,
    parts: { api: true, query: true },
    dev: { baseUrl, outboxDir: join(dataDir, 'outbox') },
    observe: { logger },
  });
  server = await new Promise<ServerType>((resolve) => {
    const listening = serve({ fetch: airlock.app.fetch, port, hostname: '127.0.0.1' }, () => resolve(listening));
  });
  const client = await admin();
  await client.query(`CREATE TABLE pg_fault (tag text PRIMARY KEY); CREATE TABLE store_fault (tag text PRIMARY KEY)`);
  await closeClient(client);
}, 120_000);

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await airlock?.close();
  await store?.close().catch(() => {});
  await infra?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('Postgres goes away and comes back', () => {
  it('answers 503 unavailable while it is down, runs nothing, and recovers without a restart', {
    timeout: 90_000,
  }, async () => {
    const writerTokens = await Promise.all(
      [1, 2, 3].map(async (n) => (await grant(await identity(`agent:fault-w${n}`), 'write')).token),
    );
    const reader = await identity('agent:fault-reader');
    const revokedLater = await grant(reader, 'read');
    const audited = await grant(await identity('agent:fault-w9'), 'write');
    // Used before the outage and idle through it: its pooled session died with Postgres.
    const idle = await grant(await identity('agent:fault-idle'), 'read');
    expect((await call('POST', '/v1/query', idle.token, { sql: 'SELECT 1' })).status).toBe(200);

    let stoppedAt = Infinity;
    let startedAt = Infinity;
    /** When Postgres answered again: `start()` resolved (starting can take seconds on a loaded machine). */
    let upAt = Infinity;
    const outage = (async () => {
      await sleep(800);
      await infra.postgres.stop();
      stoppedAt = Date.now();
      // While it is down: no new grant, no statement; a revocation still ends the window at once.
      const refused = await call('POST', '/v1/grants', reader, {
        connection: 'shop',
        access: 'read',
        ttl: 60,
        reason: 'during the outage',
      });
      expect(refused.status).toBe(503);
      expect(refused.body.error).toMatchObject({ code: 'unavailable' });
      const select = await call('POST', '/v1/query', audited.token, { sql: 'SELECT 1' });
      expect(select.status).toBe(503);
      expect(select.body.error.code).toBe('unavailable');
      expect(JSON.stringify(select.body)).not.toMatch(/ECONNREFUSED|at .*\.ts|password/);
      const revoked = await call('DELETE', `/v1/grants/${revokedLater.grant.id}`, reader);
      expect([200, 503]).toContain(revoked.status);
      expect((await call('POST', '/v1/query', revokedLater.token, { sql: 'SELECT 1' })).body.error.code).toBe(
        'grant_revoked',
      );
      const sweep = await airlock.sweep();
      expect(sweep.errors).toBeGreaterThanOrEqual(1);
      await sleep(500);
      startedAt = Date.now();
      await infra.postgres.start();
      upAt = Date.now();
    })();
    const outcomes = await writers(
      'pg',
      writerTokens,
      'pg_fault',
      outage.then(() => sleep(2000)),
    );
    await outage;

    const byStatus = countBy(outcomes, (outcome) => `${outcome.status} ${outcome.code ?? ''}`.trim());
    expect(Object.keys(byStatus).sort()).toEqual(['200', '503 unavailable']);
    const down = outcomes.filter((outcome) => outcome.sentAt > stoppedAt && outcome.sentAt < startedAt);
    expect(down.length).toBeGreaterThan(0);
    expect(down.filter((outcome) => outcome.status !== 503)).toEqual([]);
    // Recovery: once Postgres is back, every writer's requests succeed again with the same Airlock.
    // (Sent while it was starting, a request may be answered either way.)
    const after = outcomes.filter((outcome) => outcome.sentAt > upAt);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((outcome) => outcome.status !== 200)).toEqual([]);
    // Nothing ran for a 503; every 200 was committed.
    const committed = await committedTags('pg_fault');
    expect(
      outcomes.filter((outcome) => outcome.status === 200 && !committed.has(outcome.tag)).map((outcome) => outcome.tag),
    ).toEqual([]);
    expect(down.filter((outcome) => committed.has(outcome.tag)).map((outcome) => outcome.tag)).toEqual([]);

    // After the outage: the statement and the grant work again, the audit chain held, and the sweeper
    // drops the role of the grant revoked while Postgres was down.
    expect((await call('POST', '/v1/query', audited.token, { sql: 'SELECT 1 AS one' })).status).toBe(200);
    expect((await call('POST', '/v1/query', idle.token, { sql: 'SELECT 1 AS one' })).status).toBe(200);
    const storeClient = createDynamoClient({ region: 'local', endpoint: store.endpoint });
    const { auditKey } = await readSecret(infra.secrets, SECRET_NAMES.queryKeys, QueryKeysSecret);
    const { events, verified, reason } = await createDynamoAuditLog({
      client: storeClient,
      table: tables.audit,
      chain: { key: auditKey, anchor: createDynamoHeadAnchor({ client: storeClient, table: tables.grants }) },
    }).verify(audited.grant.id);
    expect(verified, reason).toBe(true);
    expect(
      events
        .filter((event) => event.type === 'statement')
        .map((event) => `${event.decision} ${(event.error as { code?: string } | undefined)?.code ?? ''}`.trim()),
    ).toEqual(['failed unavailable', 'executed']);
    expect((await grant(reader, 'read')).token).toBeTruthy();
    await airlock.sweep();
    const client = await admin();
    const { roleKey } = await readSecret(infra.secrets, SECRET_NAMES.queryKeys, QueryKeysSecret);
    const role = roleNameFor(revokedLater.grant.id, { roleKey, prefix: ROLE_PREFIX });
    const left = await client.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [role]);
    await closeClient(client);
    expect(left.rowCount).toBe(0);
    console.log(
      `faults/postgres: ${outcomes.length} writes, ${JSON.stringify(byStatus)}, down ${startedAt - stoppedAt} ms, starting ${upAt - startedAt} ms`,
    );
  });
});

describe('the store goes away', () => {
  it('answers 503 unavailable and commits nothing that was not answered 200', { timeout: 60_000 }, async () => {
    const tokens = await Promise.all(
      [4, 5, 6].map(async (n) => (await grant(await identity(`agent:fault-w${n}`), 'write')).token),
    );
    const reader = await identity('agent:fault-store');
    let closedAt = Infinity;
    const outage = (async () => {
      await sleep(800);
      await store.close();
      closedAt = Date.now();
    })();
    const outcomes = await writers(
      'store',
      tokens,
      'store_fault',
      outage.then(() => sleep(1500)),
    );

    const byStatus = countBy(outcomes, (outcome) => `${outcome.status} ${outcome.code ?? ''}`.trim());
    expect(Object.keys(byStatus).sort()).toEqual(['200', '503 unavailable']);
    const after = outcomes.filter((outcome) => outcome.sentAt > closedAt);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((outcome) => outcome.status !== 503)).toEqual([]);
    const committed = await committedTags('store_fault');
    expect(
      outcomes.filter((outcome) => outcome.status === 200 && !committed.has(outcome.tag)).map((outcome) => outcome.tag),
    ).toEqual([]);
    expect(
      outcomes.filter((outcome) => outcome.status === 503 && committed.has(outcome.tag)).map((outcome) => outcome.tag),
    ).toEqual([]);

    const refused = await call('POST', '/v1/grants', reader, {
      connection: 'shop',
      access: 'read',
      ttl: 60,
      reason: 'store down',
    });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('unavailable');
    expect((await call('GET', '/healthz')).status).toBe(200);
    console.log(`faults/store: ${outcomes.length} writes, ${JSON.stringify(byStatus)}`);
  });

  it('logged each outage for operators without a credential or key in it', async () => {
    const admin = await readSecret(infra.secrets, LOCAL_ADMIN_SECRET, DatabaseSecret);
    const keys = await readSecret(infra.secrets, SECRET_NAMES.queryKeys, QueryKeysSecret);
    const outages = logged.map((line) => JSON.parse(line)).filter((line) => line.status === 503);
    expect(outages.length).toBeGreaterThan(0);
    // Each names its cause: a name and a message, never a value.
    for (const line of outages)
      expect(line).toMatchObject({ level: 'error', code: 'unavailable', cause: { name: expect.any(String) } });
    expect(
      logged.filter((line) => [admin.password, keys.roleKey, keys.maskingKey].some((secret) => line.includes(secret))),
    ).toEqual([]);
  });
});

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
