// `npm run bench`: Airlock's figures, measured side by side on one local stack so ratios hold on a
// noisy machine. Prints a table and writes bench/results/latest.json. Never asserts anything.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Pool } from '@neondatabase/serverless';
import ws from 'ws';
import { LOCAL_ADMIN_SECRET } from '../local/secrets.ts';
import { applyMaskingPlan, buildMaskingPlan, createCatalogLookup } from '../shared/masking/index.ts';
import { adminTargetFrom, closeClient, connectClient, derivePassword } from '../shared/postgres/index.ts';
import { DatabaseSecret, QueryKeysSecret, readSecret, SECRET_NAMES } from '../shared/secrets/index.ts';
import { checkStatement, parseOne } from '../shared/sql/index.ts';
import { QUERY_CORPUS } from './corpus.ts';
import { type BenchStack, measure, round, type Stats, startBenchStack, stats } from './stack.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const quick = process.argv.includes('--quick');
const results: Record<string, unknown> = {};
const lines: string[] = [];
const print = (line = '') => {
  lines.push(line);
  console.log(line);
};
const fmt = (s: Stats) => `p50 ${round(s.p50)} ms, p95 ${round(s.p95)} ms, p99 ${round(s.p99)} ms`;

const phases = new Map<string, { cpuUs: number; wallMs: number; n: number }>();
const stack = await startBenchStack({
  queryProfile: {
    record(phase, cpuUs, wallMs) {
      const entry = phases.get(phase) ?? { cpuUs: 0, wallMs: 0, n: 0 };
      entry.cpuUs += cpuUs;
      entry.wallMs += wallMs;
      entry.n++;
      phases.set(phase, entry);
    },
  },
});

try {
  print(`Airlock benchmarks — ${new Date().toISOString()}`);
  print(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  );
  results.machine = {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
  await queryOverhead(stack);
  await masking(stack);
  await grants(stack);
  await parseGuard();
  coldStart(stack);
  await scale(stack);
} finally {
  await stack.close();
}
writeFileSync(
  new URL('./results/latest.json', import.meta.url),
  `${JSON.stringify({ at: new Date().toISOString(), results }, null, 2)}\n`,
);
print('\nwrote bench/results/latest.json');

async function identity(s: BenchStack, sub = 'agent:bench'): Promise<string> {
  return (await s.post('/dev/token', undefined, { sub, groups: ['finance'], ttlSeconds: 3600 })).body.token;
}

async function readGrant(s: BenchStack, ttl = 1800) {
  const response = await s.post('/v1/grants', await identity(s), {
    connection: 'shop',
    access: 'read',
    ttl,
    reason: 'benchmark',
  });
  if (response.status !== 201) throw new Error(`grant: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body as { grant: { id: string }; token: string };
}

/** 1. The same statement, same Postgres, same driver: direct as the grant's role vs through Airlock. */
async function queryOverhead(s: BenchStack) {
  print('\n1. Query overhead: direct (Neon driver as the grant role) vs POST /v1/query over HTTP');
  // Two grants of the same profile: the broker runs as one, the direct baseline as the other, so each
  // side has the role's own connection limit (5 sessions) to itself.
  const { token } = await readGrant(s);
  const { grant: direct } = await readGrant(s);
  const admin = await readSecret(s.infra.secrets, LOCAL_ADMIN_SECRET, DatabaseSecret);
  const { roleKey } = await readSecret(s.infra.secrets, SECRET_NAMES.queryKeys, QueryKeysSecret);
  const role = (
    await s.airlock.grants!.get(
      { subject: 'agent:bench', issuer: `${s.baseUrl}/dev`, groups: [], email: null, claims: {} },
      direct.id,
    )
  ).grant.role;
  const { user: _u, password: _p, ...target } = adminTargetFrom(admin);
  const pool = new Pool({ ...target, user: role, password: derivePassword(roleKey, direct.id), max: 5 });
  pool.on('error', () => {});
  // The direct pool goes through the same local WebSocket proxy as the broker's sessions.
  const neon = (await import('@neondatabase/serverless')).neonConfig;
  neon.webSocketConstructor = ws as never;
  neon.wsProxy = (host: string, port: number | string) => `${s.infra.proxyAddress}/v1?address=${host}:${port}`;
  neon.useSecureWebSocket = false;
  neon.pipelineConnect = false;
  neon.forceDisablePgSSL = true;

  const statements = [
    ['SELECT 1', 'SELECT 1'],
    [
      '100 masked customer rows',
      'SELECT id, name, email, phone, card_number, ssn, country FROM customers ORDER BY id LIMIT 100',
    ],
  ] as const;
  const count = quick ? 100 : 400;
  const out: Record<string, unknown> = {};
  for (const [label, sql] of statements) {
    for (const width of [1, 16]) {
      // Warm both paths first.
      for (let i = 0; i < 20; i++) {
        await pool.query(sql);
        await s.post('/v1/query', token, { sql });
      }
      const directRun = await measure(count, width, async () => {
        await pool.query({ text: sql, rowMode: 'array' } as never);
      });
      phases.clear();
      const cpuBefore = process.cpuUsage();
      const broker = await measure(count, width, async () => {
        const response = await s.post('/v1/query', token, { sql });
        if (response.status !== 200) throw new Error(`query: ${response.status} ${JSON.stringify(response.body)}`);
      });
      const cpu = process.cpuUsage(cpuBefore);
      const d = stats(directRun.samples);
      const b = stats(broker.samples);
      const key = `${label} × ${width}`;
      const split = Object.fromEntries([...phases].map(([phase, v]) => [phase, round(v.cpuUs / v.n / 1000, 3)]));
      out[key] = {
        direct: { ...roundStats(d), perSecond: round((count / directRun.totalMs) * 1000, 0) },
        broker: { ...roundStats(b), perSecond: round((count / broker.totalMs) * 1000, 0) },
        ratioP50: round(b.p50 / d.p50),
        overheadP50Ms: round(b.p50 - d.p50),
        processCpuMsPerQuery: round((cpu.user + cpu.system) / 1000 / count, 3),
        brokerCpuMsPerQueryByPhase: split,
      };
      print(
        `  ${key.padEnd(30)} direct ${fmt(d)} | broker ${fmt(b)} | +${round(b.p50 - d.p50)} ms p50, ×${round(b.p50 / d.p50)}`,
      );
      print(
        `  ${''.padEnd(30)} throughput direct ${round((count / directRun.totalMs) * 1000, 0)}/s, broker ${round((count / broker.totalMs) * 1000, 0)}/s; process CPU ${round((cpu.user + cpu.system) / 1000 / count, 3)} ms/query (client + broker)`,
      );
      if (width === 1)
        print(
          `  ${''.padEnd(30)} broker CPU by phase (ms/query): ${Object.entries(split)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
        );
    }
  }
  await pool.end();
  results.queryOverhead = out;
}

/** 2. Masking throughput in process: 10,000 customer rows × 7 columns, origin + detectors. */
async function masking(s: BenchStack) {
  print('\n2. Masking: 10,000 rows × 7 columns, in process (origin plan + detectors)');
  const admin = await readSecret(s.infra.secrets, LOCAL_ADMIN_SECRET, DatabaseSecret);
  const client = await connectClient(adminTargetFrom(admin), s.infra.wire);
  const result = await client.query({
    // 10,000 distinct rows: the demo's 1,000 customers ten times, with emails and phones made unique per
    // copy (the hash strategy remembers repeats within one result, which would flatter the figure).
    text: `SELECT c.name, replace(c.email, '@', '+' || g || '@') AS email,
                  regexp_replace(c.phone, '[0-9]{4}$', lpad(((c.id * 10 + g) % 10000)::text, 4, '0')) AS phone,
                  c.card_number, c.ssn, c.country, c.created_at
             FROM customers c, generate_series(0, 9) g ORDER BY g, c.id`,
    rowMode: 'array',
  });
  const catalog = createCatalogLookup(
    async (sql, params) => (await client.query({ text: sql, values: params, rowMode: 'array' })).rows as unknown[][],
  );
  // The plan of the plain statement (columns by origin: email, hash, last4, redact, and detectors on the rest).
  const plain =
    'SELECT c.name, c.email, c.phone, c.card_number, c.ssn, c.country, c.created_at FROM customers c LIMIT 1';
  const fields = (await client.query({ text: plain, rowMode: 'array' })).fields;
  const plan = await buildMaskingPlan({ fields, statement: await parseOne(plain), masking: s.policy.masking, catalog });
  results.maskingPlan = plan.columns.map(
    (column) => `${column.name}:${column.strategy ?? (column.detectors ? 'detectors' : 'none')}`,
  );
  await closeClient(client);
  const rows = result.rows as unknown[][];
  const { maskingKey } = await readSecret(s.infra.secrets, SECRET_NAMES.queryKeys, QueryKeysSecret);
  const runs: number[] = [];
  for (let i = 0; i < (quick ? 3 : 7); i++) {
    const t0 = performance.now();
    applyMaskingPlan(plan, rows, { hashKey: maskingKey, detectors: s.policy.masking.detectors });
    runs.push(performance.now() - t0);
  }
  const best = Math.min(...runs);
  const median = stats(runs).p50;
  const cells = rows.length * 7;
  results.masking = {
    cells,
    bestMs: round(best),
    medianMs: round(median),
    cellsPerSecondMedian: Math.round(cells / (median / 1000)),
    cellsPerSecondBest: Math.round(cells / (best / 1000)),
  };
  print(
    `  ${cells} cells: median ${round(median)} ms (${Math.round(cells / (median / 1000)).toLocaleString('en')} cells/s), best ${round(best)} ms (${Math.round(cells / (best / 1000)).toLocaleString('en')} cells/s)`,
  );
}

/** 3. Auto-granted POST /v1/grants (role minted) and revoke latency. */
async function grants(s: BenchStack) {
  print('\n3. Grants: auto-granted POST /v1/grants (role minted) and DELETE (role dropped)');
  const id = await identity(s, 'agent:grants');
  const ids: string[] = [];
  const count = quick ? 30 : 100;
  const grant = await measure(count, 1, async () => {
    const response = await s.post('/v1/grants', id, {
      connection: 'shop',
      access: 'read',
      ttl: 600,
      reason: 'benchmark',
    });
    ids.push(response.body.grant.id);
  });
  const revoke = await measure(ids.length, 1, async (i) => {
    await fetch(`${s.baseUrl}/v1/grants/${ids[i]}`, { method: 'DELETE', headers: { authorization: `Bearer ${id}` } });
  });
  const g = stats(grant.samples);
  const r = stats(revoke.samples);
  results.grants = { grant: roundStats(g), revoke: roundStats(r) };
  print(`  grant  ${fmt(g)}`);
  print(`  revoke ${fmt(r)}`);
}

/** 4. Parse + guard per statement, 20 realistic agent queries. */
async function parseGuard() {
  print('\n4. Parse + guard: µs per statement over 20 realistic agent queries');
  const guardrails = (await import('../shared/policy/index.ts')).parsePolicyText(
    (await import('node:fs')).readFileSync(new URL('../airlock.policy.yaml', import.meta.url), 'utf8'),
  ).guardrails;
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

/** 5. Each built function bundle's size and import time in a fresh Node process. */
function coldStart(s: BenchStack) {
  // The same environment a deployed function gets, pointed at the bench stack's store and secrets file.
  const env = {
    PATH: process.env.PATH ?? '',
    AIRLOCK_STAGE: 'bench',
    AIRLOCK_GRANTS_TABLE: 'bench-grants',
    AIRLOCK_AUDIT_TABLE: 'bench-audit',
    AIRLOCK_APPROVALS_TABLE: 'bench-approvals',
    AIRLOCK_LOCKS_TABLE: 'bench-locks',
    AIRLOCK_POLICY: new URL('../airlock.policy.yaml', import.meta.url).pathname,
    AWS_REGION: 'eu-west-1',
    AIRLOCK_TEST_SECRETS_FILE: s.infra.secretsPath,
    AIRLOCK_TEST_DYNAMO_ENDPOINT: s.storeEndpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  print('\n5. Cold start: bundle size and import time in a fresh Node process (npm run build first)');
  const dist = new URL('../dist/functions/', import.meta.url).pathname;
  if (!existsSync(dist)) {
    print('  no dist/functions: run `npm run build` first');
    return;
  }
  // Deployed functions find the AWS SDK in the Lambda runtime; here it resolves from the repo's node_modules.
  const out: Record<string, unknown> = {};
  for (const name of readdirSync(dist)) {
    const dir = join(dist, name);
    const entry = ['index.mjs', 'index.js'].map((file) => join(dir, file)).find((file) => existsSync(file));
    if (!entry) continue;
    const bytes = statSync(entry).size;
    const dirBytes = readdirSync(dir).reduce((sum, file) => sum + statSync(join(dir, file)).size, 0);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const script = `const t=performance.now();await import(${JSON.stringify(entry)});console.log(performance.now()-t)`;
      try {
        const ms = Number(
          execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, env })
            .toString()
            .trim()
            .split('\n')
            .pop(),
        );
        times.push(ms);
      } catch (error) {
        print(`  ${name}: import failed (${(error as Error).message.split('\n')[0]})`);
        break;
      }
    }
    const median = times.length ? stats(times).p50 : NaN;
    out[name] = { bundleBytes: bytes, directoryBytes: dirBytes, importMsMedian: round(median) };
    print(
      `  ${name.padEnd(10)} ${(bytes / 1024).toFixed(0).padStart(6)} KiB (with parser WASM ${(dirBytes / 1024).toFixed(0)} KiB)   import + init ${round(median)} ms (median of ${times.length})`,
    );
  }
  results.coldStart = out;
}

/** 6. 1,000 grants whose windows end together: time until every role is gone and every grant says expired. */
async function scale(s: BenchStack) {
  const count = quick ? 200 : 1000;
  print(`\n6. Scale: ${count} grants whose windows end together`);
  const id = await identity(s, 'agent:scale');
  const ids: string[] = [];
  const created = await measure(count, 8, async () => {
    const response = await s.post('/v1/grants', id, {
      connection: 'shop',
      access: 'read',
      ttl: 60,
      reason: 'scale benchmark',
    });
    if (response.status !== 201) throw new Error(`grant: ${response.status} ${JSON.stringify(response.body)}`);
    ids.push(response.body.grant.id);
  });
  print(`  created ${count} grants in ${round(created.totalMs / 1000)} s`);
  const principal = { subject: 'agent:scale', issuer: `${s.baseUrl}/dev`, groups: [], email: null, claims: {} };
  const roles = await Promise.all(
    ids.map(async (grantId) => (await s.airlock.grants!.get(principal, grantId)).grant.role),
  );
  const admin = await connectClient(
    adminTargetFrom(await readSecret(s.infra.secrets, LOCAL_ADMIN_SECRET, DatabaseSecret)),
    s.infra.wire,
  );
  const remaining = async () =>
    Number((await admin.query(`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = ANY($1)`, [roles])).rows[0].n);
  s.clock.advance(61);
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  let sweeps = 0;
  let left = Infinity;
  while (left > 0 && sweeps < 50) {
    await s.airlock.sweep();
    sweeps++;
    left = await remaining();
  }
  const seconds = (performance.now() - t0) / 1000;
  await closeClient(admin);
  const statuses = await Promise.all(
    ids.map(async (grantId) => (await s.airlock.grants!.get(principal, grantId)).grant.status),
  );
  const rssPeak = process.memoryUsage().rss;
  results.scale = {
    grants: count,
    createSeconds: round(created.totalMs / 1000),
    clearSeconds: round(seconds),
    sweeps,
    rolesLeft: left,
    allExpired: statuses.every((x) => x === 'expired'),
    rssMiB: round(rssPeak / 2 ** 20, 0),
    rssBeforeMiB: round(rssBefore / 2 ** 20, 0),
  };
  const expired = statuses.filter((x) => x === 'expired').length;
  print(
    `  ${count - left} of ${count} roles dropped and ${expired} grants expired in ${round(seconds)} s over ${sweeps} sweep(s); RSS ${round(rssPeak / 2 ** 20, 0)} MiB`,
  );
}

function roundStats(s: Stats) {
  return { n: s.n, p50: round(s.p50), p95: round(s.p95), p99: round(s.p99), mean: round(s.mean) };
}
