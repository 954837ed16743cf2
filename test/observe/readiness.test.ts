// GET /readyz: bounded, cached checks of the store, the secrets and each connection's Postgres. Against an
// Airlock on infrastructure of this file's own, so its Postgres can be stopped: 503 naming Postgres, then 200.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTables, localTableNames } from '../../local/dynamo.ts';
import { type LocalInfra, startLocalInfra } from '../../local/infra.ts';
import { localizePolicy } from '../../local/stack.ts';
import { type Airlock, assembleAirlock } from '../../shared/airlock/index.ts';
import { createReadiness } from '../../shared/observe/index.ts';
import { parsePolicyText } from '../../shared/policy/load.ts';
import { createDynamoClient } from '../../shared/store/dynamo.ts';
import { freePort } from '../global-setup.ts';
import { DEMO_POLICY_TEXT } from '../support/airlock.ts';
import { captureLogs, requestLines } from './support.ts';

describe('createReadiness', () => {
  it('bounds each check in time and names the one that failed', async () => {
    const readiness = createReadiness({
      timeoutMs: 100,
      cacheMs: 0,
      checks: [
        { name: 'fast', run: async () => {} },
        { name: 'hangs', run: () => new Promise(() => {}) },
        { name: 'fails', run: async () => Promise.reject(new Error('refused')) },
      ],
    });
    const started = performance.now();
    const report = await readiness.check();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(report.ok).toBe(false);
    expect(report.checks).toMatchObject({
      fast: { ok: true },
      hangs: { ok: false, error: 'timeout' },
      fails: { ok: false, error: 'unavailable' },
    });
    expect(Object.keys(report.causes)).toEqual(['hangs', 'fails']);
  });

  it('answers from its cache for a while, so probes cannot turn into load', async () => {
    let runs = 0;
    let time = 0;
    const readiness = createReadiness({
      cacheMs: 5000,
      now: () => time,
      checks: [{ name: 'store', run: async () => void runs++ }],
    });
    await Promise.all([readiness.check(), readiness.check(), readiness.check()]);
    time = 4999;
    await readiness.check();
    expect(runs).toBe(1);
    time = 5000;
    await readiness.check();
    expect(runs).toBe(2);
  });
});

describe('GET /readyz on a real Airlock', () => {
  let dataDir: string;
  let infra: LocalInfra;
  let airlock: Airlock;
  let server: ServerType;
  let base: string;
  const logs = captureLogs('debug');

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'airlock-readyz-'));
    infra = await startLocalInfra({ dataDir, pgPort: await freePort(), memoryStore: true });
    const dynamo = createDynamoClient({ region: 'local', endpoint: infra.dynamoEndpoint });
    const tables = localTableNames('readyz');
    await ensureTables(dynamo, tables);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    airlock = await assembleAirlock({
      policy: localizePolicy(parsePolicyText(DEMO_POLICY_TEXT, 'readyz policy'), base),
      secrets: infra.secrets,
      dynamo,
      tables,
      wire: infra.wire,
      parts: { api: true, query: true },
      dev: { baseUrl: base, outboxDir: join(dataDir, 'outbox') },
      observe: { logger: logs.logger },
    });
    server = await new Promise<ServerType>((resolve) => {
      const listening = serve({ fetch: airlock.app.fetch, port, hostname: '127.0.0.1' }, () => resolve(listening));
    });
  }, 120_000);

  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await airlock?.close();
    await infra?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function readyz() {
    const response = await fetch(`${base}/readyz`);
    return {
      status: response.status,
      body: (await response.json()) as any,
      requestId: response.headers.get('x-request-id'),
    };
  }

  /** Polls until /readyz answers `status` (the answer is cached for 5 s). */
  async function until(status: number) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const answer = await readyz();
      if (answer.status === status) return answer;
      if (Date.now() > deadline) throw new Error(`readyz stayed ${answer.status}: ${JSON.stringify(answer.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  it('is 200 with every check named when the parts answer; /healthz stays a constant answer', async () => {
    const ready = await until(200);
    expect(ready.body).toMatchObject({
      ok: true,
      checks: { store: { ok: true }, secrets: { ok: true }, 'postgres:shop': { ok: true } },
    });
    const health = await fetch(`${base}/healthz`);
    expect(await health.json()).toEqual({ ok: true });
  });

  it('goes 503 naming Postgres when it is stopped, logs why, and 200 again when it is back', async () => {
    await infra.postgres.stop();
    try {
      const down = await until(503);
      expect(down.body).toMatchObject({
        ok: false,
        checks: { store: { ok: true }, secrets: { ok: true }, 'postgres:shop': { ok: false } },
        error: { code: 'unavailable', message: 'not ready: postgres:shop', requestId: down.requestId },
      });
      // /healthz is liveness only: still 200.
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const line = requestLines(logs).find((l) => l.requestId === down.requestId)!;
      expect(line).toMatchObject({
        level: 'error',
        route: '/readyz',
        status: 503,
        code: 'unavailable',
        cause: { name: 'AirlockError', message: 'not ready: postgres:shop', cause: { name: expect.any(String) } },
      });
    } finally {
      await infra.postgres.start();
    }
    const back = await until(200);
    expect(back.body.checks['postgres:shop']).toMatchObject({ ok: true });
  }, 90_000);
});
