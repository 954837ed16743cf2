// The local stack as `npm start` runs it, watched as an operator would: one JSON log line per request with
// the id the response carried and nothing secret in the log, /metrics moving, startup failures that say what
// to do (a second start on the same data, a taken port) and no Postgres left behind when it is killed.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCustomers } from '../../local/seed.ts';
import { DatabaseSecret } from '../../shared/secrets/index.ts';
import { freePort } from '../global-setup.ts';

const root = new URL('../..', import.meta.url).pathname;
// Relative to the repository, as a developer names it (and as the message repeats it); ignored by git.
const dataDirName = `.airlock-observe-${randomBytes(3).toString('hex')}`;
const otherDirName = `.airlock-observe-${randomBytes(3).toString('hex')}`;
const running: ChildProcess[] = [];

let child: ChildProcess;
let stdout = '';
let stderr = '';
let base: string;
let port: number;
let pgPort: number;

function start(env: Record<string, string>): ChildProcess {
  const started = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts'], {
    cwd: root,
    env: { ...process.env, AIRLOCK_LOG: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(started);
  return started;
}

/** Runs a start that must fail; its exit code and what it printed. */
function failedStart(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const attempt = start(env);
    let output = '';
    attempt.stdout!.on('data', (chunk) => (output += chunk));
    attempt.stderr!.on('data', (chunk) => (output += chunk));
    attempt.on('exit', (code) => resolve({ code, output }));
  });
}

function postgresOf(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', `postgres -D ${join(root, dir)}`])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
}

interface Line {
  level: string;
  msg: string;
  requestId?: string;
  route?: string;
  [field: string]: unknown;
}

const lines = (): Line[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Line);

beforeAll(async () => {
  [port, pgPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${port}`;
  child = start({ AIRLOCK_PORT: String(port), AIRLOCK_PG_PORT: String(pgPort), AIRLOCK_DATA_DIR: dataDirName });
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (
      await fetch(`${base}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    if (child.exitCode !== null) throw new Error(`exited: ${stdout}${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`not ready: ${stdout}${stderr}`);
}, 120_000);

afterAll(async () => {
  for (const started of running) if (started.exitCode === null) started.kill('SIGKILL');
  // The watchdog stops a killed stack's Postgres; give it the moment it needs before the files go.
  for (let i = 0; i < 100 && postgresOf(dataDirName).length > 0; i++) await new Promise((r) => setTimeout(r, 200));
  await rm(join(root, dataDirName), { recursive: true, force: true });
  await rm(join(root, otherDirName), { recursive: true, force: true });
});

async function call(method: string, path: string, token?: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // HTML
  }
  return { status: response.status, body: parsed, requestId: response.headers.get('x-request-id')! };
}

describe('the log of a running local stack', () => {
  it('has one JSON line per request with the id its response carried, and no seeded value, token or parameter', async () => {
    const admin = DatabaseSecret.parse(
      JSON.parse(await readFile(join(root, dataDirName, 'secrets.json'), 'utf8'))['airlock/shop/admin'],
    );
    const responses: Array<{ status: number; requestId: string }> = [];
    const track = <T extends { status: number; requestId: string }>(response: T) => {
      responses.push(response);
      return response;
    };

    const identity = track(await call('POST', '/dev/token', undefined, { sub: 'agent:observed', groups: ['finance'] }))
      .body.token as string;
    const grant = track(
      await call('POST', '/v1/grants', identity, {
        connection: 'shop',
        access: 'read',
        ttl: '10m',
        reason: 'log test',
      }),
    ).body as { grant: { id: string }; token: string };
    const raw = track(
      await call('POST', '/v1/query', grant.token, {
        sql: 'SELECT email, card_number, ssn, phone, name FROM customers ORDER BY id LIMIT 5',
      }),
    );
    expect(raw.status).toBe(200);
    const param = `param-${randomBytes(6).toString('hex')}`;
    track(
      await call('POST', '/v1/query', grant.token, {
        sql: "SELECT count(*) FROM customers WHERE name = $1 OR country = 'literal-marker-9c1'",
        params: [param],
      }),
    );
    track(await call('POST', '/v1/query', grant.token, { sql: 'DELETE FROM orders' }));
    track(await call('POST', '/v1/query', grant.token, { sql: "SELECT 'x' FROM missing_table_7f" }));
    track(await call('POST', '/v1/query', 'bogus.token.value', { sql: 'SELECT 1' }));
    track(await call('GET', `/v1/grants/${grant.grant.id}`, identity));
    track(await call('GET', `/v1/grants/${grant.grant.id}/audit`, identity));
    track(
      await call('POST', '/v1/grants', identity, { connection: 'shop', access: 'write', ttl: '5m', reason: 'pending' }),
    );
    track(await call('GET', '/nowhere'));
    await new Promise((resolve) => setTimeout(resolve, 300));

    const logged = lines();
    for (const response of responses) {
      const mine = logged.filter((line) => line.requestId === response.requestId);
      expect(mine, `${response.requestId}`).toHaveLength(1);
      expect(mine[0]!.status).toBe(response.status);
    }
    expect(logged.find((line) => line.requestId === raw.requestId)).toMatchObject({
      level: 'info',
      msg: 'POST /v1/query 200',
      route: '/v1/query',
      subject: 'agent:observed',
      grantId: grant.grant.id,
    });

    // Every raw sensitive value of the seeded data (deterministic): none may reach the log.
    const seeded = demoCustomers().flatMap((row) => [row.email, row.card_number, row.ssn, row.phone]);
    expect(seeded.length).toBe(4000);
    const everything = stdout + stderr;
    expect(seeded.filter((value) => everything.includes(value))).toEqual([]);
    for (const forbidden of [identity, grant.token, param, 'literal-marker-9c1', 'missing_table_7f', admin.password]) {
      expect(everything.includes(forbidden), `the log holds ${forbidden.slice(0, 12)}…`).toBe(false);
    }
  });

  it('/metrics shows the counters moving', async () => {
    const value = (text: string, series: string) =>
      Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    const executed = 'airlock_statements_total{decision="executed"}';
    const requested = 'airlock_grants_total{outcome="requested"}';
    const before = await (await fetch(`${base}/metrics`)).text();
    const identity = (await call('POST', '/dev/token', undefined, { sub: 'agent:metrics' })).body.token as string;
    const grant = (
      await call('POST', '/v1/grants', identity, { connection: 'shop', access: 'read', ttl: 60, reason: 'metrics' })
    ).body.token as string;
    expect((await call('POST', '/v1/query', grant, { sql: 'SELECT 1' })).status).toBe(200);
    expect((await call('POST', '/v1/query', grant, { sql: 'SELECT 2' })).status).toBe(200);
    const after = await (await fetch(`${base}/metrics`)).text();
    expect(value(after, executed) - value(before, executed)).toBe(2);
    expect(value(after, requested) - value(before, requested)).toBe(1);
    expect(after).toMatch(
      /^airlock_http_request_duration_seconds_bucket\{le="[^"]+",method="POST",route="\/v1\/query"\} /m,
    );
    expect(after).toContain('airlock_statement_duration_seconds_count{decision="executed"}');
  });
});

describe('startup failures say what happened and what to do', () => {
  it('a second start on the same data dir names the Airlock that holds it', async () => {
    const { code, output } = await failedStart({
      AIRLOCK_PORT: String(await freePort()),
      AIRLOCK_PG_PORT: String(await freePort()),
      AIRLOCK_DATA_DIR: dataDirName,
    });
    expect(code).toBe(1);
    expect(output).toContain(
      `airlock: could not start: another Airlock is using ${dataDirName} (pid ${child.pid}): stop it or set AIRLOCK_DATA_DIR`,
    );
    expect(output).not.toContain('undefined');
  }, 60_000);

  it('a taken port is named before anything is started or seeded', async () => {
    const http = await failedStart({
      AIRLOCK_PORT: String(port),
      AIRLOCK_PG_PORT: String(await freePort()),
      AIRLOCK_DATA_DIR: otherDirName,
    });
    expect(http.code).toBe(1);
    expect(http.output).toContain(`airlock: could not start: port ${port} is in use: set AIRLOCK_PORT`);
    expect(await readdir(join(root, otherDirName))).toEqual([]);
    const pg = await failedStart({
      AIRLOCK_PORT: String(await freePort()),
      AIRLOCK_PG_PORT: String(pgPort),
      AIRLOCK_DATA_DIR: otherDirName,
    });
    expect(pg.output).toContain(`airlock: could not start: port ${pgPort} is in use: set AIRLOCK_PG_PORT`);
    expect(await readdir(join(root, otherDirName))).toEqual([]);
  }, 90_000);

  it('a killed Airlock (SIGKILL) leaves no Postgres running, and the next start takes the data dir over', async () => {
    expect(postgresOf(dataDirName).length).toBeGreaterThan(0);
    child.kill('SIGKILL');
    for (let i = 0; i < 100 && postgresOf(dataDirName).length > 0; i++) await new Promise((r) => setTimeout(r, 200));
    expect(postgresOf(dataDirName)).toEqual([]);

    const again = start({ AIRLOCK_PORT: String(port), AIRLOCK_PG_PORT: String(pgPort), AIRLOCK_DATA_DIR: dataDirName });
    let output = '';
    again.stdout!.on('data', (chunk) => (output += chunk));
    again.stderr!.on('data', (chunk) => (output += chunk));
    const deadline = Date.now() + 60_000;
    while (
      !(await fetch(`${base}/healthz`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (Date.now() > deadline || again.exitCode !== null) throw new Error(`no restart: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const stopped = new Promise((resolve) => again.once('exit', resolve));
    again.kill('SIGINT');
    await stopped;
    expect(postgresOf(dataDirName)).toEqual([]);
  }, 150_000);
});
