// `npm start` as a developer runs it: a real process on free ports and a throw-away data dir.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { freePort } from '../global-setup.ts';

const root = new URL('../..', import.meta.url).pathname;
const dataDir = await mkdtemp(join(tmpdir(), 'airlock-start-'));
const running: ChildProcess[] = [];

async function start(port: number, pgPort: number): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts'], {
    cwd: root,
    env: { ...process.env, AIRLOCK_PORT: String(port), AIRLOCK_PG_PORT: String(pgPort), AIRLOCK_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { child, output: () => output };
    if (child.exitCode !== null) throw new Error(`exited: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`not ready in 60 s: ${output}`);
}

function postgresFor(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', `postgres -D ${dir}`])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
}

async function stop(child: ChildProcess) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  await exited;
}

afterAll(async () => {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

it('starts, seeds once, keeps data across restarts and leaves no Postgres behind on Ctrl-C', async () => {
  const [port, pgPort] = [await freePort(), await freePort()];
  const first = await start(port, pgPort);
  expect(first.output()).toContain('demo data seeded');
  expect(first.output()).toContain(`curl -s -X POST http://127.0.0.1:${port}/dev/token`);
  const token = (
    await (
      await fetch(`http://127.0.0.1:${port}/dev/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"sub":"agent:demo"}',
      })
    ).json()
  ).token;
  const granted = await fetch(`http://127.0.0.1:${port}/v1/grants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ connection: 'shop', access: 'read', ttl: '5m', reason: 'restart test' }),
  });
  expect(granted.status).toBe(201);
  const grantId = (await granted.json()).grant.id;
  await stop(first.child);
  expect(postgresFor(dataDir)).toEqual([]);

  const second = await start(port, pgPort);
  expect(second.output()).not.toContain('demo data seeded');
  const kept = await fetch(`http://127.0.0.1:${port}/v1/grants/${grantId}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(kept.status).toBe(200);
  await stop(second.child);
  expect(postgresFor(dataDir)).toEqual([]);
}, 120_000);

it('stops with a clear message when the policy file is broken', async () => {
  const [port, pgPort] = [await freePort(), await freePort()];
  const output = await new Promise<string>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts'], {
      cwd: root,
      env: {
        ...process.env,
        AIRLOCK_PORT: String(port),
        AIRLOCK_PG_PORT: String(pgPort),
        AIRLOCK_DATA_DIR: dataDir,
        AIRLOCK_POLICY: 'test/local/broken.policy.yaml',
      },
    });
    let text = '';
    child.stderr.on('data', (chunk) => (text += chunk));
    child.on('exit', (code) => resolve(`${code}:${text}`));
  });
  expect(output).toMatch(/^1:/);
  expect(output).toContain('rules[1].maxTtl: expected a duration like 30m');
}, 60_000);
