// Measures the statement pipeline against the path it replaces, on the embedded stack with Postgres and the WebSocket
// proxy in a process of their own: CPU and wall time per SELECT 1, messages per statement, cut vs drain, memory.
// Never part of `npm test`; it changes nothing outside its temporary data dir and the role it mints and drops.
//
//   node --import tsx scripts/measure-wire.ts [iterations]

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@neondatabase/serverless';
import WebSocket from 'ws';
import { startLocalInfra } from '../local/infra.ts';
import { LOCAL_ADMIN_SECRET } from '../local/secrets.ts';
import { newId } from '../shared/ids.ts';
import { Profile } from '../shared/policy/index.ts';
import {
  closeClient,
  connectClient,
  createRoleAdmin,
  type DatabaseTarget,
  derivePassword,
  runPipeline,
  runStatement,
  type WireOptions,
  type WireStatement,
} from '../shared/postgres/index.ts';
import { createFileSecretSource, DatabaseSecret, readSecret } from '../shared/secrets/index.ts';

const MIB = 1024 * 1024;

/** The child: Postgres and the proxy, until the parent goes. */
async function serveInfra(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'airlock-wire-'));
  const infra = await startLocalInfra({ dataDir, pgPort: await freePort(), memoryStore: true });
  process.stdout.write(`${JSON.stringify({ proxy: infra.proxyAddress, secretsPath: infra.secretsPath })}\n`);
  const stop = async () => {
    await infra.stop();
    await rm(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startInfraProcess(): Promise<{ child: ChildProcess; proxy: string; secretsPath: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--infra'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`the infrastructure exited (${code})`)));
  });
  const { proxy, secretsPath } = JSON.parse(line) as { proxy: string; secretsPath: string };
  return { child, proxy, secretsPath };
}

interface Figures {
  p50: number;
  p90: number;
  p99: number;
  cpuMicros: number;
  messages: number;
}

/** Runs `once` `warm` times, then `iterations` times measuring wall time, this process's CPU and WebSocket sends. */
async function timed(
  iterations: number,
  sends: () => number,
  once: () => Promise<unknown>,
  warm = 500,
): Promise<Figures> {
  for (let i = 0; i < warm; i++) await once();
  const walls: number[] = [];
  const sentBefore = sends();
  const cpu = process.cpuUsage();
  for (let i = 0; i < iterations; i++) {
    const started = performance.now();
    await once();
    walls.push(performance.now() - started);
  }
  const used = process.cpuUsage(cpu);
  walls.sort((a, b) => a - b);
  const at = (q: number) => Math.round(walls[Math.min(walls.length - 1, Math.floor(q * walls.length))]! * 1000) / 1000;
  return {
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    cpuMicros: Math.round((used.user + used.system) / iterations),
    messages: Math.round(((sends() - sentBefore) / iterations) * 10) / 10,
  };
}

/** Counts what a connected session's WebSocket sends. */
function sendCounter(client: Client): () => number {
  const ws = (client.connection.stream as unknown as { ws: { send(data: unknown): void } }).ws;
  const send = ws.send.bind(ws);
  let count = 0;
  ws.send = (data: unknown) => {
    count++;
    send(data);
  };
  return () => count;
}

/** A client configured as the driver module was before the pipeline: writes coalesced, no wire guard. */
async function connectAsBefore(target: DatabaseTarget, wire: WireOptions, coalesceWrites: boolean): Promise<Client> {
  const client = new Client(target);
  const config = client.neonConfig;
  config.webSocketConstructor = WebSocket as unknown as typeof config.webSocketConstructor;
  const proxy = wire.wsProxy;
  config.wsProxy = (host, port) => `${proxy}/v1?address=${encodeURIComponent(`${host}:${port}`)}`;
  config.useSecureWebSocket = false;
  config.pipelineConnect = false;
  config.forceDisablePgSSL = true;
  config.coalesceWrites = coalesceWrites;
  client.on('error', () => {});
  await client.connect();
  return client;
}

const windowCheck = (expiresAt: string) =>
  [
    `DO $airlock$ DECLARE left_ms bigint := floor(extract(epoch FROM ('${expiresAt}'::timestamptz - clock_timestamp())) * 1000);`,
    `BEGIN IF left_ms <= 0 THEN RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'airlock: the grant window has ended'; END IF;`,
    `PERFORM pg_catalog.set_config('statement_timeout', least(left_ms, 30000)::text, true);`,
    `IF current_setting('server_version_num')::int >= 170000 THEN PERFORM pg_catalog.set_config('transaction_timeout', left_ms::text, true); END IF;`,
    'END $airlock$',
  ].join(' ');

/** The query path before the pipeline, for a SELECT: opening as a simple query, DECLARE as a named statement, FETCH, COMMIT unawaited. */
function statementAsBefore(client: Client, expiresAt: string, sql: string) {
  const opening = `BEGIN READ ONLY; SET LOCAL standard_conforming_strings = on; SET LOCAL statement_timeout = 30000; ${windowCheck(expiresAt)}`;
  const declare = `DECLARE airlock_result_0 NO SCROLL CURSOR FOR ${sql}\n`;
  const name = `airlock_${createHash('sha256').update(declare).digest('hex').slice(0, 24)}`;
  return async () => {
    await client.query(opening);
    await client.query({ name, text: declare, values: [], rowMode: 'array' });
    const rows = await client.query({ text: 'FETCH FORWARD 500 FROM airlock_result_0', rowMode: 'array' });
    client.query('COMMIT').catch(() => {});
    return rows;
  };
}

function pipelinePrelude(expiresAt: string): WireStatement[] {
  return [
    { text: 'BEGIN READ ONLY' },
    { text: 'SET LOCAL standard_conforming_strings = on' },
    { text: 'SET LOCAL statement_timeout = 30000' },
    { text: windowCheck(expiresAt) },
  ];
}

async function peakGrowth(work: () => Promise<unknown>): Promise<number> {
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return Math.round((Math.max(peak, process.memoryUsage().rss) - baseline) / MIB);
}

async function measure(iterations: number): Promise<void> {
  const infra = await startInfraProcess();
  const wire: WireOptions = { wsProxy: infra.proxy, secureWebSocket: false };
  const secret = await readSecret(createFileSecretSource(infra.secretsPath), LOCAL_ADMIN_SECRET, DatabaseSecret);
  const adminTarget = {
    host: secret.host,
    port: secret.port,
    user: secret.username,
    password: secret.password,
    database: secret.dbname,
  };
  const admin = createRoleAdmin({
    connect: () => connectClient(adminTarget, wire),
    prefix: 'airlock_measure_',
    roleKey: randomBytes(32).toString('hex'),
  });
  const grantId = newId();
  const password = derivePassword(randomBytes(32).toString('hex'), grantId);
  const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
  const { role } = await admin.mintRole({
    grantId,
    validUntil: new Date(expiresAt),
    profile: Profile.parse({ memberOf: ['pg_read_all_data'], readOnly: true, connectionLimit: 10 }),
    password,
    statementTimeoutSeconds: 120,
  });
  const target: DatabaseTarget = { ...adminTarget, user: role, password };
  const report: Record<string, unknown> = { iterations, node: process.version };
  try {
    const before = await connectAsBefore(target, wire, true);
    report.before = await timed(iterations, sendCounter(before), statementAsBefore(before, expiresAt, 'SELECT 1'));
    await before.end();

    const uncoalesced = await connectAsBefore(target, wire, false);
    report.beforeWithoutCoalescing = await timed(
      iterations,
      sendCounter(uncoalesced),
      statementAsBefore(uncoalesced, expiresAt, 'SELECT 1'),
    );
    await uncoalesced.end();

    const session = await connectClient(target, wire);
    const count = sendCounter(session);
    const prelude = pipelinePrelude(expiresAt);
    report.pipeline = await timed(iterations, count, () =>
      runStatement(session, {
        prelude,
        statement: { text: 'SELECT 1' },
        epilogue: [{ text: 'COMMIT' }],
        maxRows: 1000,
        maxBytes: 8 * MIB,
        stopsEarly: true,
        disposableSession: true,
      }),
    );
    // What one more round trip costs (a second batch of rows, or a COMMIT awaited after the answer).
    report.oneMoreRoundTrip = await timed(iterations, count, () => runPipeline(session, [{ text: 'SELECT 1' }]));

    // Dropping rows past the caps: how fast rows are read and dropped, against what a new session costs.
    const drained = 20_000;
    const drainStart = performance.now();
    const drainCpu = process.cpuUsage();
    await runStatement(session, {
      statement: { text: `SELECT repeat('x', 1000) FROM generate_series(1, ${drained})` },
      maxRows: 1,
      maxBytes: 8 * MIB,
    });
    const drainUsed = process.cpuUsage(drainCpu);
    const drainedMiB = (drained * 1011) / MIB;
    report.drain = {
      MiB: Math.round(drainedMiB * 10) / 10,
      ms: Math.round(performance.now() - drainStart),
      cpuMicrosPerMiB: Math.round((drainUsed.user + drainUsed.system) / drainedMiB),
    };
    const connects: number[] = [];
    const connectCpu = process.cpuUsage();
    for (let i = 0; i < 30; i++) {
      const started = performance.now();
      const fresh = await connectClient(target, wire);
      connects.push(performance.now() - started);
      await closeClient(fresh);
    }
    const connectUsed = process.cpuUsage(connectCpu);
    connects.sort((a, b) => a - b);
    report.newSession = {
      p50ms: Math.round(connects[15]! * 10) / 10,
      cpuMicros: Math.round((connectUsed.user + connectUsed.system) / 30),
    };

    // One result of 100 rows of 8 MB: what the process holds while it arrives, before and with the pipeline.
    const large = `SELECT repeat(repeat('x', 1000000), 8) FROM generate_series(1, 100)`;
    const old = await connectAsBefore(target, wire, true);
    report.largeResultGrowthMiB = {
      before: await peakGrowth(statementAsBefore(old, expiresAt, large)),
      pipeline: await peakGrowth(() =>
        runStatement(session, {
          prelude,
          statement: { text: large },
          epilogue: [{ text: 'COMMIT' }],
          maxRows: 1000,
          maxBytes: 8 * MIB,
          stopsEarly: true,
          disposableSession: true,
        }),
      ),
    };
    await old.end();
    await closeClient(session);
  } finally {
    await admin.revokeRole(role).catch(() => {});
    infra.child.stdin?.end();
  }
  console.log(JSON.stringify(report, null, 2));
}

if (process.argv[2] === '--infra') await serveInfra();
else await measure(Number(process.argv[2] ?? 3000));
