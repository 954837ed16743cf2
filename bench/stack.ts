// The benchmarks' own local stack: embedded infrastructure in a throw-away dir, one Airlock served
// over HTTP, and small helpers to time things. Never part of `npm test`.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { ensureTables, localTableNames } from '../local/dynamo.ts';
import { type LocalInfra, startLocalInfra } from '../local/infra.ts';
import { localizePolicy } from '../local/stack.ts';
import { type Airlock, type AirlockConfig, assembleAirlock } from '../shared/airlock/index.ts';
import type { Policy } from '../shared/policy/index.ts';
import { loadPolicyFile } from '../shared/policy/index.ts';
import { createDynamoClient } from '../shared/store/index.ts';

export interface BenchStack {
  baseUrl: string;
  infra: LocalInfra;
  airlock: Airlock;
  policy: Policy;
  clock: { now: () => Date; advance(seconds: number): void };
  post(path: string, token: string | undefined, body: unknown): Promise<{ status: number; body: any }>;
  storeEndpoint: string;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startBenchStack(extra: Partial<AirlockConfig> = {}): Promise<BenchStack> {
  const dataDir = await mkdtemp(join(tmpdir(), 'airlock-bench-'));
  const infra = await startLocalInfra({ dataDir, pgPort: await freePort(), memoryStore: true });
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const demo = localizePolicy(
    await loadPolicyFile(new URL('../airlock.policy.yaml', import.meta.url).pathname),
    baseUrl,
  );
  // The benchmarks measure the broker, not a subject's quotas: one identity asks for up to 1,000 grants.
  const policy: Policy = { ...demo, limits: { ...demo.limits, grantsPerSubject: 1000, sessionsPerSubject: 10_000 } };
  // The store runs in its own process, as DynamoDB does in AWS: its CPU is not the broker's.
  const store = await startStoreProcess();
  const dynamo = createDynamoClient({ region: 'local', endpoint: store.endpoint });
  const tables = localTableNames('bench');
  await ensureTables(dynamo, tables);
  let offsetMs = 0;
  const clock = {
    now: () => new Date(Date.now() + offsetMs),
    advance: (seconds: number) => (offsetMs += seconds * 1000),
  };
  const airlock = await assembleAirlock({
    policy,
    secrets: infra.secrets,
    dynamo,
    tables,
    wire: infra.wire,
    parts: { api: true, query: true },
    now: clock.now,
    dev: { baseUrl, outboxDir: join(dataDir, 'outbox') },
    ...extra,
  });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: airlock.app.fetch, port, hostname: '127.0.0.1' }, () => resolve(s));
  });
  (server as import('node:http').Server).keepAliveTimeout = 65_000;
  const post = async (path: string, token: string | undefined, body: unknown) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };
  return {
    baseUrl,
    infra,
    airlock,
    policy,
    clock,
    post,
    storeEndpoint: store.endpoint,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await airlock.close();
      store.child.kill();
      await infra.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return {
    n: sorted.length,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
  };
}

/** Runs `task` `count` times with `width` lanes; returns per-call wall times (ms) and the total. */
export async function measure(
  count: number,
  width: number,
  task: (i: number) => Promise<void>,
): Promise<{ samples: number[]; totalMs: number }> {
  const samples: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        await task(i);
        samples.push(performance.now() - t0);
      }
    }),
  );
  return { samples, totalMs: performance.now() - started };
}

export const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

async function startStoreProcess(): Promise<{ endpoint: string; child: ChildProcess }> {
  const port = await freePort();
  const cli = createRequire(import.meta.url).resolve('dynalite/cli.js');
  const child = spawn(process.execPath, [cli, '--host', '127.0.0.1', '--port', String(port), '--createTableMs', '0'], {
    stdio: 'ignore',
  });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(endpoint, { method: 'POST' }).then(
        () => true,
        () => false,
      )
    )
      return { endpoint, child };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill();
  throw new Error('the store process did not start');
}
