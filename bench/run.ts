// `npm run bench`: Airlock's figures beside direct Postgres and pgbouncer, measured in one run on one local
// stack with every part in its own process. Prints a table, writes bench/results/latest.json; asserts nothing.

import { AsyncLocalStorage } from 'node:async_hooks';
import { execFileSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { neonConfig, Pool } from '@neondatabase/serverless';
import ws from 'ws';
import { localTableNames } from '../local/dynamo.ts';
import { buildBundles } from '../scripts/build.ts';
import { GrantRecord } from '../shared/grants/index.ts';
import { applyMaskingPlan, buildMaskingPlan, createCatalogLookup } from '../shared/masking/index.ts';
import { parsePolicyText } from '../shared/policy/index.ts';
import { closeClient, connectClient, derivePassword, roleNameFor } from '../shared/postgres/index.ts';
import { QueryKeysSecret, readSecret, SECRET_NAMES } from '../shared/secrets/index.ts';
import { checkStatement, parseOne } from '../shared/sql/index.ts';
import { createDynamoClient, type DynamoHotPath, hotPathFor, toItem } from '../shared/store/index.ts';
import { QUERY_CORPUS } from './corpus.ts';
import { measure, round, roundStats, type Stats, stats } from './measure.ts';
import { cpuMeter, cpuSince, loadAverage, machineBusyMs, peakRssMiB, resetPeakRss, rssMiB } from './processes.ts';
import type { PhaseReport, PhaseTotals } from './protocol.ts';
import { type Broker, startBenchStack } from './stack.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .find((arg) => arg.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const SECTIONS = ['query', 'levers', 'memory', 'store', 'masking', 'grants', 'parse', 'cold', 'scale'] as const;
type Section = (typeof SECTIONS)[number];
const wanted = (section: Section) => !only || only.includes(section);
if (args.includes('--help')) {
  console.log(`npm run bench [-- --quick] [-- --only=${SECTIONS.join(',')}] [-- --profile=<dir>]`);
  process.exit(0);
}

/** Request counts: full run, or --quick (a few minutes less, noisier). */
const N = quick
  ? { warmup: 1000, c1: 450, masked: 210, c16: 900, leverWarmup: 600, lever1: 150, lever16: 300, store: 500 }
  : { warmup: 3000, c1: 1500, masked: 600, c16: 3000, leverWarmup: 2000, lever1: 500, lever16: 1000, store: 2000 };
const ROUNDS = 3;
const SELECT_1 = 'SELECT 1';
/** Statements built to exhaust the broker's memory: 8 MB rows, far more of them than the result's byte cap. */
const WORST_CASE = "SELECT repeat('x', 8000000) AS filler FROM generate_series(1, 100)";
const MASKED_ROWS = 'SELECT id, name, email, phone, card_number, ssn, country FROM customers ORDER BY id LIMIT 100';

const results: Record<string, unknown> = {};
const print = (line = '') => console.log(line);
const fmt = (s: Stats) => `p50 ${round(s.p50)} ms, p95 ${round(s.p95)}, p99 ${round(s.p99)}`;
const started = loadAverage();
const loads: Record<string, [number, number, number]> = { start: started };

print(`Airlock benchmarks — ${new Date().toISOString()}${quick ? ' (--quick)' : ''}`);
print(
  `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average ${started.join(' ')}`,
);
results.machine = {
  cpus: cpus().length,
  model: cpus()[0]?.model,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
};
results.options = { quick, only: only ?? SECTIONS, counts: N, rounds: ROUNDS };

const profileDir = args.find((arg) => arg.startsWith('--profile='))?.slice('--profile='.length);
const stack = await startBenchStack(profileDir ? { profileDir } : {});
// The baselines' pools go through the same WebSocket proxy process as the broker's sessions.
neonConfig.webSocketConstructor = ws as never;
neonConfig.wsProxy = (host: string, port: number | string) => `${stack.proxyAddress}/v1?address=${host}:${port}`;
neonConfig.useSecureWebSocket = false;
neonConfig.pipelineConnect = false;
neonConfig.forceDisablePgSSL = true;
const { roleKey, maskingKey } = await readSecret(stack.secrets, SECRET_NAMES.queryKeys, QueryKeysSecret);

try {
  const broker = await stack.startBroker('main', 'hot-path');
  if (wanted('query')) await section('query', () => querySection(broker));
  if (wanted('levers')) await section('levers', () => leversSection(broker));
  if (wanted('memory')) await section('memory', () => memorySection(broker));
  if (wanted('store')) await section('store', storeSection);
  if (wanted('masking')) await section('masking', maskingSection);
  if (wanted('grants')) await section('grants', () => grantsSection(broker));
  if (wanted('parse')) await section('parse', parseSection);
  if (wanted('cold')) await section('cold', coldSection);
  if (wanted('scale')) await section('scale', () => scaleSection(broker));
  results.brokerPeakRssMiB = round(peakRssMiB(broker.pid), 0);
  print(`\nbroker peak RSS (VmHWM): ${results.brokerPeakRssMiB} MiB`);
} finally {
  await stack.close();
}
loads.end = loadAverage();
results.loadAverage = loads;
summary();
writeFileSync(
  new URL('./results/latest.json', import.meta.url),
  `${JSON.stringify({ at: new Date().toISOString(), results }, null, 2)}\n`,
);
print('\nwrote bench/results/latest.json');

async function section(name: Section, run: () => Promise<void>) {
  loads[`${name}:before`] = loadAverage();
  const started = performance.now();
  await run();
  loads[`${name}:after`] = loadAverage();
  print(
    `  (${round((performance.now() - started) / 1000, 1)} s; load average after ${loads[`${name}:after`]!.join(' ')})`,
  );
}

async function identity(broker: Broker, sub: string): Promise<string> {
  const answer = await broker.http.call('POST', '/dev/token', undefined, {
    sub,
    groups: ['finance'],
    ttlSeconds: 3600,
  });
  return (JSON.parse(answer.text) as { token: string }).token;
}

async function readGrant(broker: Broker, sub = 'agent:bench', ttl = 1800) {
  const answer = await broker.http.call('POST', '/v1/grants', await identity(broker, sub), {
    connection: 'shop',
    access: 'read',
    ttl,
    reason: 'benchmark',
  });
  if (answer.status !== 201) throw new Error(`grant: ${answer.status} ${answer.text}`);
  return JSON.parse(answer.text) as { grant: { id: string }; token: string };
}

/** A login as a grant's role, as the broker's sessions log in (for the direct and pgbouncer baselines). */
async function roleLogin(broker: Broker) {
  const { grant } = await readGrant(broker);
  return {
    user: roleNameFor(grant.id, { roleKey, prefix: broker.rolePrefix }),
    password: derivePassword(roleKey, grant.id),
  };
}

function airlockTask(broker: Broker, token: string, sql: string) {
  return async () => {
    const answer = await broker.http.call('POST', '/v1/query', token, { sql });
    if (answer.status !== 200) throw new Error(`query via ${broker.name}: ${answer.status} ${answer.text}`);
  };
}

function poolTask(pool: Pool, sql: string) {
  return async () => {
    await pool.query({ text: sql, rowMode: 'array' } as never);
  };
}

interface Run {
  samples: number[];
  totalMs: number;
  cpuMs: Record<string, number>;
  phases: Partial<Record<string, PhaseTotals>>;
  profileCostUs?: number;
}

/** Runs `count` requests in `width` lanes while reading every process's CPU, and the broker's phase timings. */
async function observed(
  processes: Record<string, { pid: number; tree?: boolean }>,
  count: number,
  width: number,
  task: () => Promise<void>,
  broker?: Broker,
): Promise<Run> {
  const meter = cpuMeter({ client: { pid: process.pid }, ...processes });
  if (broker) await broker.ask({ cmd: 'phases' });
  const before = meter.read();
  const busyBefore = machineBusyMs();
  const { samples, totalMs } = await measure(count, width, task);
  const cpuMs = cpuSince(before, meter.read());
  // Whatever else ran on the machine meanwhile (other users' work), in ms of CPU.
  cpuMs.others = Math.max(0, machineBusyMs() - busyBefore - Object.values(cpuMs).reduce((a, b) => a + b, 0));
  const report = broker ? ((await broker.ask({ cmd: 'phases' })) as PhaseReport) : undefined;
  return { samples, totalMs, cpuMs, phases: report?.phases ?? {}, profileCostUs: report?.profileCostUs };
}

function merge(runs: Run[]): Run {
  const cpuMs: Record<string, number> = {};
  const phases: Record<string, PhaseTotals> = {};
  for (const run of runs) {
    for (const [name, ms] of Object.entries(run.cpuMs)) cpuMs[name] = (cpuMs[name] ?? 0) + ms;
    for (const [name, totals] of Object.entries(run.phases)) {
      const sum = phases[name] ?? { records: 0, cpuUs: 0, wallMs: 0 };
      phases[name] = sum;
      sum.records += totals!.records;
      sum.cpuUs += totals!.cpuUs;
      sum.wallMs += totals!.wallMs;
    }
  }
  return {
    samples: runs.flatMap((run) => run.samples),
    totalMs: runs.reduce((sum, run) => sum + run.totalMs, 0),
    cpuMs,
    phases,
    profileCostUs: runs.find((run) => run.profileCostUs !== undefined)?.profileCostUs,
  };
}

/** Per-request figures of a run: latency, throughput, CPU per process, and the broker's phases per request. */
function figures(run: Run, withPhaseCpu: boolean) {
  const s = stats(run.samples);
  const perRequest = (ms: number) => round(ms / run.samples.length, 3);
  const requests = run.phases.auth?.records ?? 0;
  const out: Record<string, unknown> = {
    ...roundStats(s),
    perSecond: round((run.samples.length / run.totalMs) * 1000, 0),
    cpuMsPerRequest: Object.fromEntries(
      Object.entries(run.cpuMs)
        .filter(([name]) => name !== 'others')
        .map(([name, ms]) => [name, perRequest(ms)]),
    ),
    /** Share of the machine's CPU (all cores) other users' processes took during the measurement. */
    othersPercent: round(((run.cpuMs.others ?? 0) / (run.totalMs * cpus().length)) * 100, 0),
  };
  if (requests > 0) {
    out.phaseWallMsPerRequest = Object.fromEntries(
      Object.entries(run.phases).map(([name, t]) => [name, round(t!.wallMs / requests, 3)]),
    );
    if (withPhaseCpu)
      out.phaseCpuMsPerRequest = Object.fromEntries(
        Object.entries(run.phases).map(([name, t]) => [name, round(t!.cpuUs / 1000 / requests, 3)]),
      );
    out.profileHookCpuMsPerRequest = round(
      ((run.profileCostUs ?? 0) * Object.values(run.phases).reduce((n, t) => n + t!.records, 0)) / requests / 1000,
      3,
    );
  }
  return out;
}

function cpuText(cpu: unknown): string {
  return Object.entries(cpu as Record<string, number>)
    .map(([name, ms]) => `${name} ${ms}`)
    .join(', ');
}

/** 1. The same statements through direct, pgbouncer and Airlock, at c=1 and c=16, interleaved in rounds. */
async function querySection(broker: Broker) {
  print(
    '\n1. Query: direct (Neon driver as the grant’s role) | pgbouncer (transaction pooling) | Airlock (POST /v1/query)',
  );
  print('   every part in its own process; CPU per request from /proc (ms); latencies measured by the client');
  const { token } = await readGrant(broker);
  const directLogin = await roleLogin(broker);
  const bouncerLogin = await roleLogin(broker);
  const pgbouncer = await stack.startPgbouncer([bouncerLogin], 5);
  const target = { host: stack.admin.host, database: stack.admin.dbname };
  // Each baseline logs in as a grant role of its own (connection limit 5, like the broker's sessions).
  // Connections stay open between rounds (no idle timeout): a round measures queries, not logins.
  const direct = new Pool({ ...target, port: stack.admin.port, ...directLogin, max: 5, idleTimeoutMillis: 0 });
  const bouncer = new Pool({ ...target, port: stack.pgbouncerPort, ...bouncerLogin, max: 16, idleTimeoutMillis: 0 });
  for (const pool of [direct, bouncer]) pool.on('error', () => {});
  const parts = {
    direct: { proxy: { pid: stack.pids.proxy }, postgres: { pid: stack.pids.postgres, tree: true } },
    pgbouncer: {
      proxy: { pid: stack.pids.proxy },
      pgbouncer: { pid: pgbouncer.pid },
      postgres: { pid: stack.pids.postgres, tree: true },
    },
    airlock: {
      broker: { pid: broker.pid },
      store: { pid: stack.pids.store },
      proxy: { pid: stack.pids.proxy },
      postgres: { pid: stack.pids.postgres, tree: true },
    },
  };
  const out: Record<string, unknown> = {};

  // Warm-up: the broker keeps getting cheaper for thousands of requests; each 500 is reported.
  const curve: Array<Record<string, unknown>> = [];
  for (let done = 0; done < N.warmup; done += 500) {
    const run = await observed(parts.airlock, 500, 1, airlockTask(broker, token, SELECT_1), broker);
    const f = figures(run, false);
    curve.push({
      othersPercent: f.othersPercent,
      requests: `${done + 1}–${done + 500}`,
      p50: f.p50,
      brokerCpuMs: (f.cpuMsPerRequest as Record<string, number>).broker,
    });
  }
  out.warmup = curve;
  print(
    `  warm-up, SELECT 1 at c=1, per 500 requests: ${curve.map((c) => `${c.requests}: p50 ${c.p50} ms, broker ${c.brokerCpuMs} ms CPU`).join(' | ')}`,
  );
  // Every lane gets its connection (and the broker its sessions) before anything is measured.
  for (const pool of [direct, bouncer]) await measure(600, 16, poolTask(pool, SELECT_1));
  await measure(300, 16, airlockTask(broker, token, SELECT_1));

  const cases = [
    ['SELECT 1', SELECT_1, 1, N.c1],
    ['SELECT 1', SELECT_1, 16, N.c16],
    ['100 masked rows', MASKED_ROWS, 1, N.masked],
    ['100 masked rows', MASKED_ROWS, 16, N.c16 / 3],
  ] as const;
  for (const [label, sql, width, count] of cases) {
    const runs: Record<'direct' | 'pgbouncer' | 'airlock', Run[]> = { direct: [], pgbouncer: [], airlock: [] };
    const perRound = Math.ceil(count / ROUNDS);
    for (let pass = 0; pass < ROUNDS; pass++) {
      runs.direct.push(await observed(parts.direct, perRound, width, poolTask(direct, sql)));
      runs.pgbouncer.push(await observed(parts.pgbouncer, perRound, width, poolTask(bouncer, sql)));
      runs.airlock.push(await observed(parts.airlock, perRound, width, airlockTask(broker, token, sql), broker));
    }
    const d = figures(merge(runs.direct), false);
    const p = figures(merge(runs.pgbouncer), false);
    const a = figures(merge(runs.airlock), width === 1);
    const key = `${label} × ${width}`;
    out[key] = { direct: d, pgbouncer: p, airlock: a, airlockOverP50Ms: round((a.p50 as number) - (d.p50 as number)) };
    print(`\n  ${key} (${perRound * ROUNDS} requests each, ${ROUNDS} interleaved rounds)`);
    for (const [name, f] of [
      ['direct', d],
      ['pgbouncer', p],
      ['Airlock', a],
    ] as const) {
      print(
        `    ${name.padEnd(9)} p50 ${f.p50} ms, p95 ${f.p95}, p99 ${f.p99}; ${f.perSecond}/s; CPU ms/request: ${cpuText(f.cpuMsPerRequest)}; others took ${f.othersPercent} % of the machine`,
      );
    }
    print(`    Airlock phases, wall ms/request: ${cpuText(a.phaseWallMsPerRequest)}`);
    if (a.phaseCpuMsPerRequest)
      print(
        `    Airlock phases, broker CPU ms/request: ${cpuText(a.phaseCpuMsPerRequest)} (the profile hook itself ≈ ${a.profileHookCpuMsPerRequest} ms)`,
      );
  }
  await direct.end();
  await bouncer.end();
  results.query = out;
}

/** 2. Each lever the current code lets the benchmark swap, A/B against the same stack in interleaved rounds. */
async function leversSection(baseline: Broker) {
  print('\n2. Levers, A/B on the same stack (SELECT 1; brokers alternate in rounds)');
  const variants = [
    { broker: baseline, label: 'Airlock (hot path for the per-statement calls)' },
    { broker: await stack.startBroker('sdk', 'sdk'), label: 'the SDK for every store call' },
    { broker: await stack.startBroker('cache', 'grant-cache'), label: 'SDK, no grant re-read (bench only: unsafe)' },
  ];
  const tokens = new Map<Broker, string>();
  for (const { broker } of variants) {
    const { token } = await readGrant(broker);
    tokens.set(broker, token);
    if (broker !== baseline) await measure(N.leverWarmup, 1, airlockTask(broker, token, SELECT_1));
  }
  const out: Record<string, unknown> = {};
  for (const [width, count] of [
    [1, N.lever1],
    [16, N.lever16],
  ] as const) {
    const runs = new Map<Broker, Run[]>(variants.map(({ broker }) => [broker, []]));
    for (let pass = 0; pass < ROUNDS; pass++) {
      for (const { broker } of variants) {
        const processes = {
          broker: { pid: broker.pid },
          store: { pid: stack.pids.store },
          proxy: { pid: stack.pids.proxy },
          postgres: { pid: stack.pids.postgres, tree: true },
        };
        runs
          .get(broker)!
          .push(await observed(processes, count, width, airlockTask(broker, tokens.get(broker)!, SELECT_1), broker));
      }
    }
    print(`  c=${width} (${count} requests × ${ROUNDS} rounds each)`);
    const rows: Record<string, unknown> = {};
    for (const { broker, label } of variants) {
      const perRound = runs.get(broker)!.map((run) => figures(run, width === 1));
      const f = figures(merge(runs.get(broker)!), width === 1);
      const cpu = f.cpuMsPerRequest as Record<string, number>;
      rows[broker.variant] = {
        ...f,
        rounds: perRound.map((r) => ({
          p50: r.p50,
          perSecond: r.perSecond,
          brokerCpuMs: (r.cpuMsPerRequest as Record<string, number>).broker,
        })),
      };
      print(
        `    ${label.padEnd(42)} p50 ${f.p50} ms, ${f.perSecond}/s; broker ${cpu.broker} ms CPU (rounds ${perRound.map((r) => (r.cpuMsPerRequest as Record<string, number>).broker).join(' / ')}), store ${cpu.store}; others took ${f.othersPercent} %`,
      );
    }
    out[`c=${width}`] = rows;
  }
  for (const { broker } of variants) if (broker !== baseline) await broker.close();

  // Per-request work the query path does in process, measured alone.
  const record: GrantRecord = {
    id: '01J9ZK3V6Q1W8Y2B4C6D8E0F2G',
    status: 'active',
    subject: 'agent:bench',
    issuer: 'http://127.0.0.1:8787/dev',
    email: null,
    connection: 'shop',
    access: 'read',
    reason: 'benchmark',
    rule: 'agents-read',
    ttlSeconds: 1800,
    requestedAt: new Date().toISOString(),
    activatedAt: new Date().toISOString(),
    expiresAt: new Date().toISOString(),
    approvalDeadline: null,
    approval: null,
    decisions: [{ by: 'policy', decision: 'activated', at: new Date().toISOString() }],
    role: 'airlock_x',
    target: { host: '127.0.0.1', port: 5432, database: 'shop' },
    sweep: 'active',
    dueAt: new Date().toISOString(),
    ttl: 1,
  };
  const storage = new AsyncLocalStorage<number>();
  const micro = {
    grantRecordParseUs: microUs(() => GrantRecord.parse(record)),
    asyncLocalStorageRunUs: microUs(() => storage.run(1, () => Promise.resolve(storage.getStore()))),
  };
  out.inProcess = micro;
  print(
    `  in process: GrantRecord.parse of a stored grant ${micro.grantRecordParseUs} µs; AsyncLocalStorage.run around a promise ${micro.asyncLocalStorageRunUs} µs`,
  );
  results.levers = out;
}

function microUs(work: () => unknown, rounds = 20_000): number {
  for (let i = 0; i < 2000; i++) work();
  const started = process.cpuUsage();
  for (let i = 0; i < rounds; i++) work();
  const used = process.cpuUsage(started);
  return round((used.user + used.system) / rounds, 2);
}

/** 3. One store call, SDK vs hot path, against the same store process: CPU of the calling process per call. */
async function storeSection() {
  print('\n3. Store client: one call against the store process, SDK vs hot path (client CPU per call, c=1)');
  const sdk = createDynamoClient({ region: 'local', endpoint: stack.storeEndpoint });
  const hot: DynamoHotPath = await hotPathFor(sdk);
  const tables = localTableNames('bench-main');
  const grantKey = toItem({ id: 'bench-store-grant' });
  await sdk.send(
    new PutItemCommand({
      TableName: tables.grants,
      Item: toItem({
        id: 'bench-store-grant',
        status: 'active',
        subject: 'agent:bench',
        decisions: [{ by: 'policy', at: new Date().toISOString() }],
      }),
    }),
  );
  let seq = 0;
  const auditItem = () =>
    toItem({
      grantId: 'bench-store-audit',
      seq: ++seq,
      type: 'statement',
      subject: 'agent:bench',
      at: new Date().toISOString(),
      fingerprint: 'a1b2c3d4e5f60718',
      normalizedSql: 'SELECT $1',
      kind: 'select',
      tables: [],
      rowCount: 1,
      durationMs: 0.8,
      maskedColumns: [],
      decision: 'executed',
      truncated: false,
      prevHash: 'a'.repeat(64),
      hash: 'b'.repeat(64),
      id: `bench-store-audit:${seq}`,
    });
  const calls = {
    'GetItem (grant)': {
      sdk: () => sdk.send(new GetItemCommand({ TableName: tables.grants, Key: grantKey, ConsistentRead: true })),
      hot: () => hot.getItem({ TableName: tables.grants, Key: grantKey, ConsistentRead: true }),
    },
    'PutItem (audit, conditional)': {
      sdk: () =>
        sdk.send(
          new PutItemCommand({
            TableName: tables.audit,
            Item: auditItem(),
            ConditionExpression: 'attribute_not_exists(grantId)',
          }),
        ),
      hot: () =>
        hot.putItem({
          TableName: tables.audit,
          Item: auditItem(),
          ConditionExpression: 'attribute_not_exists(grantId)',
        }),
    },
  };
  const out: Record<string, unknown> = {};
  for (const [name, clients] of Object.entries(calls)) {
    const byClient: Record<string, Array<{ cpuUs: number; p50Ms: number }>> = { sdk: [], hot: [] };
    for (const client of ['sdk', 'hot'] as const) await measure(500, 1, async () => void (await clients[client]()));
    for (let pass = 0; pass < ROUNDS; pass++) {
      for (const client of ['sdk', 'hot'] as const) {
        const started = process.cpuUsage();
        const run = await measure(N.store, 1, async () => void (await clients[client]()));
        const used = process.cpuUsage(started);
        byClient[client]!.push({
          cpuUs: round((used.user + used.system) / N.store, 0),
          p50Ms: round(stats(run.samples).p50, 3),
        });
      }
    }
    out[name] = byClient;
    print(
      `  ${name.padEnd(30)} SDK ${byClient.sdk!.map((r) => `${r.cpuUs} µs`).join(' / ')} CPU (p50 ${byClient.sdk!.map((r) => r.p50Ms).join(' / ')} ms) | hot path ${byClient.hot!.map((r) => `${r.cpuUs} µs`).join(' / ')} CPU (p50 ${byClient.hot!.map((r) => r.p50Ms).join(' / ')} ms)`,
    );
  }
  // The signer's share, and what a signer on node:crypto alone would cost (a lever not taken: checked here
  // to produce the SDK's exact Authorization header for the same request and date).
  const signer = await sdk.config.signer();
  const credentials = await sdk.config.credentials();
  const request = {
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    path: '/',
    headers: {
      host: '127.0.0.1',
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'DynamoDB_20120810.GetItem',
    },
    body: JSON.stringify({ TableName: tables.grants, Key: grantKey, ConsistentRead: true }),
  };
  const date = new Date();
  const sdkSigned = await signer.sign(request, {
    signingDate: date,
    signingRegion: 'local',
    signingService: 'dynamodb',
  });
  const sameSignature = sdkSigned.headers.authorization === nodeCryptoAuthorization(request, credentials, date);
  const sdkSignUs = await cpuPerCallUs(() =>
    signer.sign(request, { signingDate: new Date(), signingRegion: 'local', signingService: 'dynamodb' }),
  );
  const nodeSignUs = await cpuPerCallUs(async () => nodeCryptoAuthorization(request, credentials, new Date()));
  out.sigv4 = { sdkSignerUs: sdkSignUs, nodeCryptoUs: nodeSignUs, sameSignature };
  print(
    `  of which SigV4 signing with the SDK's signer: ${sdkSignUs} µs per request; on node:crypto alone ${nodeSignUs} µs (${sameSignature ? 'the same signature' : 'a DIFFERENT signature'})`,
  );
  hot.close();
  sdk.destroy();
  results.store = out;
}

/** 4. Masking throughput in process: 10,000 distinct customer rows × 7 columns, origin plan + detectors. */
async function maskingSection() {
  print('\n4. Masking: 10,000 rows × 7 columns, in process (origin plan + detectors)');
  const admin = stack.admin;
  const client = await connectClient(
    { host: admin.host, port: admin.port, user: admin.username, password: admin.password, database: admin.dbname },
    stack.wire,
  );
  const result = await client.query({
    // The demo's 1,000 customers ten times, emails and phones unique per copy (the hash strategy remembers repeats).
    text: `SELECT c.name, replace(c.email, '@', '+' || g || '@') AS email,
                  regexp_replace(c.phone, '[0-9]{4}$', lpad(((c.id * 10 + g) % 10000)::text, 4, '0')) AS phone,
                  c.card_number, c.ssn, c.country, c.created_at
             FROM customers c, generate_series(0, 9) g ORDER BY g, c.id`,
    rowMode: 'array',
  });
  const catalog = createCatalogLookup(
    async (sql, params) => (await client.query({ text: sql, values: params, rowMode: 'array' })).rows as unknown[][],
  );
  const policy = parsePolicyText(readFileSync(stack.policyPath, 'utf8'), 'bench policy');
  const plain =
    'SELECT c.name, c.email, c.phone, c.card_number, c.ssn, c.country, c.created_at FROM customers c LIMIT 1';
  const fields = (await client.query({ text: plain, rowMode: 'array' })).fields;
  const plan = await buildMaskingPlan({ fields, statement: await parseOne(plain), masking: policy.masking, catalog });
  await closeClient(client);
  const rows = result.rows as unknown[][];
  const runs: number[] = [];
  for (let i = 0; i < (quick ? 3 : 7); i++) {
    const t0 = performance.now();
    applyMaskingPlan(plan, rows, { hashKey: maskingKey, detectors: policy.masking.detectors });
    runs.push(performance.now() - t0);
  }
  const cells = rows.length * 7;
  const median = stats(runs).p50;
  const best = Math.min(...runs);
  results.masking = {
    plan: plan.columns.map((c) => `${c.name}:${c.strategy ?? (c.detectors ? 'detectors' : 'none')}`),
    cells,
    medianMs: round(median),
    bestMs: round(best),
    cellsPerSecondMedian: Math.round(cells / (median / 1000)),
    cellsPerSecondBest: Math.round(cells / (best / 1000)),
  };
  print(
    `  ${cells} cells: median ${round(median)} ms (${Math.round(cells / (median / 1000)).toLocaleString('en')} cells/s), best ${round(best)} ms (${Math.round(cells / (best / 1000)).toLocaleString('en')} cells/s)`,
  );
}

/** 5. Auto-granted POST /v1/grants (role minted) and DELETE /v1/grants/{id} (sessions cut, role dropped). */
async function grantsSection(broker: Broker) {
  print('\n5. Grants: auto-granted POST /v1/grants (role minted) and DELETE (role dropped), sequential');
  const id = await identity(broker, 'agent:grants');
  const ids: string[] = [];
  const count = quick ? 30 : 100;
  const body = { connection: 'shop', access: 'read', ttl: 600, reason: 'benchmark' };
  const grant = await measure(count, 1, async () => {
    const answer = await broker.http.call('POST', '/v1/grants', id, body);
    if (answer.status !== 201) throw new Error(`grant: ${answer.status} ${answer.text}`);
    ids.push((JSON.parse(answer.text) as { grant: { id: string } }).grant.id);
  });
  const revoke = await measure(ids.length, 1, async (i) => {
    const answer = await broker.http.call('DELETE', `/v1/grants/${ids[i]}`, id);
    if (answer.status !== 200) throw new Error(`revoke: ${answer.status} ${answer.text}`);
  });
  const g = stats(grant.samples);
  const r = stats(revoke.samples);
  results.grants = { grant: roundStats(g), revoke: roundStats(r) };
  print(`  grant  ${fmt(g)}`);
  print(`  revoke ${fmt(r)}`);
}

/** 2b. The broker's peak memory while 16 worst-case statements run at once, each on its own grant. */
async function memorySection(broker: Broker) {
  const width = 16;
  const rounds = quick ? 2 : 4;
  print(`\n2b. Memory: ${width} concurrent statements each returning 100 rows of 8 MB (capped by maxResultBytes)`);
  const tokens: string[] = [];
  for (let i = 0; i < width; i++) tokens.push((await readGrant(broker, `agent:bench-memory-${i}`)).token);
  await Promise.all(tokens.map((token) => airlockTask(broker, token, SELECT_1)()));
  const settledMiB = rssMiB(broker.pid);
  const statuses = new Map<string, number>();
  const samples: number[] = [];
  // VmHWM is the process's lifetime peak: reset it so the figure is this section's own.
  const reset = resetPeakRss(broker.pid);
  for (let round = 0; round < rounds; round++) {
    await Promise.all(
      tokens.map(async (token) => {
        const started = performance.now();
        const answer = await broker.http.call('POST', '/v1/query', token, { sql: WORST_CASE });
        samples.push(performance.now() - started);
        const truncated = answer.status === 200 && (JSON.parse(answer.text) as { truncated?: boolean }).truncated;
        const key = `${answer.status}${truncated ? ' truncated' : ''}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }),
    );
  }
  const peakMiB = peakRssMiB(broker.pid);
  const out = {
    concurrent: width,
    statements: width * rounds,
    answers: Object.fromEntries(statuses),
    rssBeforeMiB: round(settledMiB, 0),
    peakRssMiB: round(peakMiB, 0),
    peakResetBeforehand: reset,
    perStatementMiB: round((peakMiB - settledMiB) / width, 1),
    latency: roundStats(stats(samples)),
  };
  results.memory = out;
  print(`  answers ${[...statuses].map(([k, n]) => `${n} × ${k}`).join(', ')}; ${fmt(stats(samples))}`);
  print(
    `  broker RSS ${out.rssBeforeMiB} MiB before, peak ${out.peakRssMiB} MiB during${reset ? '' : ' (lifetime peak: could not reset VmHWM)'}: ≈ ${out.perStatementMiB} MiB per statement in flight`,
  );
}

/** 6. Parse + guard per statement, 20 realistic agent queries, in process. */
async function parseSection() {
  print('\n6. Parse + guard: µs per statement over 20 realistic agent queries, in process');
  const guardrails = parsePolicyText(readFileSync(stack.policyPath, 'utf8'), 'bench policy').guardrails;
  for (const sql of QUERY_CORPUS) checkStatement(await parseOne(sql), { readOnly: true, guardrails });
  const rounds = quick ? 200 : 1000;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (const sql of QUERY_CORPUS) checkStatement(await parseOne(sql), { readOnly: true, guardrails });
  }
  const us = ((performance.now() - t0) * 1000) / (rounds * QUERY_CORPUS.length);
  results.parseGuard = { statements: QUERY_CORPUS.length, rounds, microsecondsPerStatement: round(us, 1) };
  print(`  ${round(us, 1)} µs per statement (${QUERY_CORPUS.length} statements × ${rounds} rounds)`);
}

/** 7. Each function bundle, built now, imported in a fresh process with only the Lambda runtime's modules beside it. */
async function coldSection() {
  print('\n7. Cold start: each bundle built now (npm run build), import + init in a fresh Node process,');
  print('   with only what the Lambda runtime provides beside it (@aws-sdk and its @smithy, @aws-crypto)');
  const outdir = join(stack.dataDir, 'bundles');
  const bundles = await buildBundles({ outdir });
  const modules = join(outdir, 'node_modules');
  await mkdir(modules, { recursive: true });
  for (const scope of ['@aws-sdk', '@smithy', '@aws-crypto']) {
    await symlink(fileURLToPath(new URL(`../node_modules/${scope}`, import.meta.url)), join(modules, scope));
  }
  const tables = localTableNames('bench-cold');
  const env = {
    PATH: process.env.PATH ?? '',
    AIRLOCK_STAGE: 'bench',
    AIRLOCK_GRANTS_TABLE: tables.grants,
    AIRLOCK_AUDIT_TABLE: tables.audit,
    AIRLOCK_APPROVALS_TABLE: tables.approvals,
    AIRLOCK_LOCKS_TABLE: tables.locks,
    AIRLOCK_EXPORTS_TABLE: tables.exports,
    AIRLOCK_SESSIONS_TABLE: tables.sessions,
    AIRLOCK_POLICY: stack.policyPath,
    AWS_REGION: 'eu-west-1',
    AIRLOCK_TEST_SECRETS_FILE: stack.secretsPath,
    AIRLOCK_TEST_DYNAMO_ENDPOINT: stack.storeEndpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const importMs = (specifier: string, cwd: string): number => {
    const script = `const t=performance.now();await import(${JSON.stringify(specifier)});console.log('@@'+(performance.now()-t));process.exit(0)`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd, env }).toString();
    return Number(output.slice(output.lastIndexOf('@@') + 2));
  };
  const runs = quick ? 3 : 7;
  const out: Record<string, unknown> = {};
  const sdkOnly = Array.from({ length: runs }, () => importMs('@aws-sdk/client-dynamodb', outdir));
  out.sdkClientDynamodbImportMs = round(stats(sdkOnly).p50);
  for (const bundle of bundles) {
    if (bundle.name === 'proxy') continue;
    const times = Array.from({ length: runs }, () => importMs(new URL(`file://${bundle.file}`).href, bundle.dir));
    out[bundle.name] = {
      bundleBytes: bundle.bytes,
      directoryBytes: bundle.totalBytes,
      importInitMsMedian: round(stats(times).p50),
      importInitMsMin: round(Math.min(...times)),
    };
    print(
      `  ${bundle.name.padEnd(18)} ${(bundle.bytes / 1024).toFixed(0).padStart(5)} KiB (+ parser WASM: ${(bundle.totalBytes / 1024).toFixed(0)} KiB)   import + init median ${round(stats(times).p50)} ms (min ${round(Math.min(...times))}, ${runs} runs)`,
    );
  }
  print(`  for scale: importing @aws-sdk/client-dynamodb alone takes ${out.sdkClientDynamodbImportMs} ms (median)`);
  results.coldStart = out;
}

/** 8. 1,000 grants whose windows end together: time until every role is gone and every grant says expired. */
async function scaleSection(broker: Broker) {
  const count = quick ? 200 : 1000;
  print(`\n8. Scale: ${count} grants whose windows end together`);
  const subject = 'agent:scale';
  const id = await identity(broker, subject);
  const ids: string[] = [];
  const created = await measure(count, 8, async () => {
    const answer = await broker.http.call('POST', '/v1/grants', id, {
      connection: 'shop',
      access: 'read',
      ttl: 60,
      reason: 'scale benchmark',
    });
    if (answer.status !== 201) throw new Error(`grant: ${answer.status} ${answer.text}`);
    ids.push((JSON.parse(answer.text) as { grant: { id: string } }).grant.id);
  });
  print(`  created ${count} grants in ${round(created.totalMs / 1000)} s (8 lanes)`);
  const roles = ids.map((grantId) => roleNameFor(grantId, { roleKey, prefix: broker.rolePrefix }));
  const admin = await connectClient(
    {
      host: stack.admin.host,
      port: stack.admin.port,
      user: stack.admin.username,
      password: stack.admin.password,
      database: stack.admin.dbname,
    },
    stack.wire,
  );
  const remaining = async () =>
    Number((await admin.query(`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = ANY($1)`, [roles])).rows[0].n);
  await broker.ask({ cmd: 'advance', seconds: 61 });
  const t0 = performance.now();
  let sweeps = 0;
  let left = Number.POSITIVE_INFINITY;
  while (left > 0 && sweeps < 50) {
    await broker.ask({ cmd: 'sweep' });
    sweeps++;
    left = await remaining();
  }
  const seconds = (performance.now() - t0) / 1000;
  await closeClient(admin);
  const statuses = (await broker.ask({ cmd: 'statuses', subject, ids })) as string[];
  const expired = statuses.filter((status) => status === 'expired').length;
  results.scale = {
    grants: count,
    createSeconds: round(created.totalMs / 1000),
    clearSeconds: round(seconds),
    sweeps,
    rolesLeft: left,
    expired,
    brokerPeakRssMiB: round(peakRssMiB(broker.pid), 0),
  };
  print(
    `  ${count - left} of ${count} roles dropped and ${expired} grants expired in ${round(seconds)} s over ${sweeps} sweep(s); broker peak RSS ${round(peakRssMiB(broker.pid), 0)} MiB`,
  );
}

async function cpuPerCallUs(work: () => Promise<unknown>, calls = 5000): Promise<number> {
  for (let i = 0; i < 500; i++) await work();
  const started = process.cpuUsage();
  for (let i = 0; i < calls; i++) await work();
  const used = process.cpuUsage(started);
  return round((used.user + used.system) / calls, 1);
}

/** SigV4 for a DynamoDB JSON request on node:crypto alone, as the SDK's signer signs it (x-amz-content-sha256 included). */
function nodeCryptoAuthorization(
  request: { method: string; path: string; headers: Record<string, string>; body: string },
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
  date: Date,
): string {
  const amzDate = date.toISOString().replace(/[-:]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/local/dynamodb/aws4_request`;
  const payloadHash = createHash('sha256').update(request.body).digest('hex');
  const headers: Record<string, string> = {
    ...request.headers,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': payloadHash,
    ...(credentials.sessionToken ? { 'x-amz-security-token': credentials.sessionToken } : {}),
  };
  const names = Object.keys(headers).sort();
  const canonical = [
    request.method,
    request.path,
    '',
    names.map((name) => `${name}:${headers[name]!.trim()}\n`).join(''),
    names.join(';'),
    payloadHash,
  ].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const key = ['local', 'dynamodb', 'aws4_request'].reduce(
    (k, part) => createHmac('sha256', k).update(part).digest(),
    createHmac('sha256', `AWS4${credentials.secretAccessKey}`).update(day).digest(),
  );
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  return `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
}

/** The issue's targets beside this run's direct and pgbouncer figures. */
function summary() {
  print('\nSummary — this run, side by side');
  const q = results.query as Record<string, Record<string, Record<string, unknown>>> | undefined;
  const row = (what: string, direct: string, bouncer: string, airlock: string, goal: string) =>
    print(`  ${what.padEnd(30)} ${direct.padEnd(22)} ${bouncer.padEnd(22)} ${airlock.padEnd(30)} ${goal}`);
  row('', 'direct', 'pgbouncer', 'Airlock', 'goal (issue 16)');
  const verdict = (met: boolean) => (met ? 'met' : 'missed');
  const summaryOut: Record<string, unknown> = {};
  if (q) {
    const c1 = q['SELECT 1 × 1']!;
    const c16 = q['SELECT 1 × 16']!;
    const m1 = q['100 masked rows × 1']!;
    const cpu = (side: string) => c1[side]!.cpuMsPerRequest as Record<string, number>;
    const p50 = (c: Record<string, Record<string, unknown>>, side: string) => c[side]!.p50 as number;
    const rate = (c: Record<string, Record<string, unknown>>, side: string) => c[side]!.perSecond as number;
    const overhead = round(p50(c1, 'airlock') - p50(c1, 'direct'));
    row(
      'SELECT 1 p50, c=1',
      `${p50(c1, 'direct')} ms`,
      `${p50(c1, 'pgbouncer')} ms`,
      `${p50(c1, 'airlock')} ms (+${overhead})`,
      `≤ direct + 3 ms: ${verdict(overhead <= 3)}`,
    );
    row(
      'CPU per SELECT 1, c=1 (ms)',
      `client ${cpu('direct').client}`,
      `pgbouncer ${cpu('pgbouncer').pgbouncer}`,
      `broker ${cpu('airlock').broker}`,
      `broker ≤ 1 ms: ${verdict(cpu('airlock').broker! <= 1)}`,
    );
    row(
      '  … other processes',
      `proxy ${cpu('direct').proxy}, pg ${cpu('direct').postgres}`,
      `proxy ${cpu('pgbouncer').proxy}, pg ${cpu('pgbouncer').postgres}`,
      `store ${cpu('airlock').store}, proxy ${cpu('airlock').proxy}, pg ${cpu('airlock').postgres}`,
      '',
    );
    const share = rate(c16, 'airlock') / rate(c16, 'direct');
    row(
      'SELECT 1 throughput, c=16',
      `${rate(c16, 'direct')}/s`,
      `${rate(c16, 'pgbouncer')}/s`,
      `${rate(c16, 'airlock')}/s (${round(share * 100, 0)} %)`,
      `≥ 1/3 of direct: ${verdict(share >= 1 / 3)}`,
    );
    row(
      'SELECT 1 p50, c=16',
      `${p50(c16, 'direct')} ms`,
      `${p50(c16, 'pgbouncer')} ms`,
      `${p50(c16, 'airlock')} ms`,
      '',
    );
    row(
      '100 masked rows p50, c=1',
      `${p50(m1, 'direct')} ms`,
      `${p50(m1, 'pgbouncer')} ms`,
      `${p50(m1, 'airlock')} ms`,
      '',
    );
    const others = Object.values(q)
      .flatMap((c) => (Array.isArray(c) ? [] : Object.values(c)))
      .map((side) => (side as { othersPercent?: number }).othersPercent)
      .filter((value): value is number => typeof value === 'number');
    print(
      `  other users' processes took ${Math.min(...others)}–${Math.max(...others)} % of the machine's CPU while the query cases ran`,
    );
    summaryOut.othersPercentRange = [Math.min(...others), Math.max(...others)];
    summaryOut.selectOneOverheadMs = overhead;
    summaryOut.brokerCpuMsPerSelectOne = cpu('airlock').broker;
    summaryOut.throughputShareOfDirect = round(share, 3);
  }
  const masking = results.masking as { cellsPerSecondMedian: number } | undefined;
  if (masking)
    row(
      'masking',
      '',
      '',
      `${masking.cellsPerSecondMedian.toLocaleString('en')} cells/s`,
      `≥ 2 M cells/s: ${verdict(masking.cellsPerSecondMedian >= 2e6)}`,
    );
  const cold = (results.coldStart as Record<string, { bundleBytes: number; importInitMsMedian: number }> | undefined)?.[
    'functions/query'
  ];
  if (cold) {
    row(
      'query bundle',
      '',
      '',
      `${round(cold.bundleBytes / 1000, 0)} kB, ${cold.importInitMsMedian} ms`,
      `≤ 600 KB: ${verdict(cold.bundleBytes <= 600_000)}; import + init ≤ 150 ms: ${verdict(cold.importInitMsMedian <= 150)}`,
    );
  }
  const candidate = (
    results.coldStart as Record<string, { bundleBytes: number; importInitMsMedian: number }> | undefined
  )?.['candidate/query-only'];
  if (candidate)
    row(
      '  … query half only (lever)',
      '',
      '',
      `${round(candidate.bundleBytes / 1000, 0)} kB, ${candidate.importInitMsMedian} ms`,
      'not deployed: measures the split',
    );
  print(`  load average: at start ${loads.start!.join(' ')}, at end ${loads.end!.join(' ')} (2 cores, shared)`);
  results.summary = summaryOut;
}
