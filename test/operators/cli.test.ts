// The operator plane from the real binary: `airlock admin …`, `airlock approvals`, `airlock approve|deny`,
// run as a user runs them (`node bin/airlock.mjs …`) against a stack over HTTP.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { auditor, OPERATOR_POLICY, openRead, operator, person, requestWrite, roleExists } from './support.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'airlock.mjs');

let stack: TestAirlock;
let configDir: string;
beforeAll(async () => {
  stack = await startTestAirlock({ policyText: OPERATOR_POLICY });
  configDir = await mkdtemp(join(tmpdir(), 'airlock-admin-cli-'));
});
afterAll(async () => {
  await stack.airlock.sweep();
  await stack.close();
  await rm(configDir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function environment(token?: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !key.startsWith('AIRLOCK_')) env[key] = value;
  return {
    ...env,
    AIRLOCK_URL: stack.baseUrl,
    AIRLOCK_CONFIG_DIR: configDir,
    NO_COLOR: '1',
    ...(token ? { AIRLOCK_TOKEN: token } : {}),
  };
}

function airlock(args: string[], token?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: environment(token) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end();
  });
}

describe('airlock admin', () => {
  it('answers --help for the group, naming every command', async () => {
    const group = await airlock(['admin', '--help']);
    expect(group.code).toBe(0);
    for (const sub of ['grants', 'revoke', 'lock', 'locks', 'unlock', 'audit'])
      expect(group.stdout).toContain(`admin ${sub}`);
    // Each command's own --help is checked in process, for every command of the table (test/cli/commands.test.ts).
  });

  it('lock → locks → the agent is refused → unlock, with tables and JSON', async () => {
    const agent = await person(stack, 'agent:cli-demo');
    const live = await openRead(stack, 'agent:cli-demo', agent);
    const secops = await operator(stack);

    const locked = await airlock(
      ['admin', 'lock', '--subject', 'agent:cli-demo', '--reason', 'token leaked (INC-7)', '--ttl', '2h'],
      secops,
    );
    expect(locked.code, locked.stderr).toBe(0);
    const lockId = /lock ([0-9a-z]{20}) holds on agent:cli-demo until /.exec(locked.stdout)?.[1];
    expect(lockId).toBeDefined();
    expect(locked.stdout).toContain(`revoked 1 live grant: ${live.id}`);
    expect(await roleExists(stack, live.id)).toBe(false);

    const locks = await airlock(['admin', 'locks'], await auditor(stack));
    expect(locks.code).toBe(0);
    expect(locks.stdout).toMatch(new RegExp(`${lockId}\\s+agent:cli-demo\\s+person:oncall-sec`));
    const asJson = JSON.parse((await airlock(['admin', 'locks', '--json'], secops)).stdout);
    expect(asJson.locks[0]).toMatchObject({ id: lockId, reason: 'token leaked (INC-7)' });

    const refused = await airlock(['request', 'shop', '--reason', 'again'], agent);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('locked');

    const noReason = await airlock(['admin', 'unlock', lockId!], secops);
    expect(noReason.code).toBe(2);
    const lifted = await airlock(['admin', 'unlock', lockId!, '--reason', 'rotated'], secops);
    expect(lifted.code, lifted.stderr).toBe(0);
    expect(lifted.stdout).toContain(`lock ${lockId} on agent:cli-demo lifted`);
    expect((await airlock(['request', 'shop', '--reason', 'again'], agent)).code).toBe(0);
  }, 180_000);

  it('grants (filtered, JSON) and revoke; an agent is refused with forbidden', async () => {
    const target = await openRead(stack, 'agent:cli-listed');
    const reader = await auditor(stack);
    const table = await airlock(['admin', 'grants', '--subject', 'agent:cli-listed'], reader);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`${target.id}\\s+active\\s+agent:cli-listed\\s+read@shop`));
    const json = JSON.parse(
      (await airlock(['admin', 'grants', '--status', 'active', '--json', '--all'], reader)).stdout,
    );
    expect(json.grants.map((grant: { id: string }) => grant.id)).toContain(target.id);

    const agent = await person(stack, 'agent:cli-nosy');
    const forbidden = await airlock(['admin', 'grants'], agent);
    expect(forbidden.code).toBe(4);
    expect(forbidden.stderr).toContain('forbidden');

    const secops = await operator(stack);
    expect((await airlock(['admin', 'revoke', target.id], secops)).code).toBe(2);
    const revoked = await airlock(['admin', 'revoke', target.id, '--reason', 'cli test'], secops);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain('revoked');
    expect(revoked.stdout).toContain('revoked by person:oncall-sec — cli test');
    expect(await roleExists(stack, target.id)).toBe(false);
  }, 180_000);

  it('audit shows a chain, and --follow prints new events as they happen', async () => {
    const target = await openRead(stack, 'agent:cli-audited');
    const reader = await auditor(stack);
    const chain = await airlock(['admin', 'audit', '--grant', target.id], reader);
    expect(chain.code, chain.stderr).toBe(0);
    expect(chain.stdout).toMatch(/grant\.requested/);
    expect(chain.stdout).toMatch(/grant\.activated/);

    const child = spawn(
      process.execPath,
      [BIN, 'admin', 'audit', '--grant', target.id, '--follow', '--interval', '0.2', '--json'],
      { cwd: ROOT, env: environment(reader) },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const seen = async (type: string) => {
      for (let waited = 0; waited < 20_000; waited += 100) {
        if (out.split('\n').some((line) => line.includes(`"type":"${type}"`))) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`no ${type} event followed; got: ${out}`);
    };
    try {
      await seen('grant.activated');
      await stack.call('DELETE', `/v1/admin/grants/${target.id}`, {
        token: await operator(stack),
        body: { reason: 'followed' },
      });
      await seen('grant.revoked');
      const lines = out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { id: string; type: string });
      expect(lines.map((event) => event.type)).toEqual(['grant.requested', 'grant.activated', 'grant.revoked']);
      expect(new Set(lines.map((event) => event.id)).size).toBe(lines.length);
    } finally {
      child.kill('SIGINT');
    }
  }, 180_000);
});

describe('airlock approvals, approve, deny', () => {
  it('an approver sees what waits for them and approves with their own identity token', async () => {
    const pending = await requestWrite(stack, 'agent:cli-writer');
    const oncall = await person(stack, 'person:oncall', [], 'oncall@example.com');
    const listed = await airlock(['approvals'], oncall);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`\\*grant-${pending.id}\\.1\\s+agent:cli-writer\\s+0/1`));

    expect((await airlock(['approve', pending.id], oncall)).code).toBe(2);
    const approved = await airlock(['approve', `grant-${pending.id}.1`, '--reason', 'OPS-7'], oncall);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`grant-${pending.id}.1 approved: grant ${pending.id} is active until`);
    const grant = await stack.call('GET', `/v1/grants/${pending.id}`, { token: pending.identity });
    expect(grant.body.grant.status).toBe('active');

    const again = await airlock(
      ['approve', pending.id, '--reason', 'twice'],
      await person(stack, 'p:dba', [], 'dba@example.com'),
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already approved');
  }, 180_000);

  it('the requester cannot approve their own request; deny ends one', async () => {
    const own = await requestWrite(stack, 'agent:cli-self', 'dba@example.com');
    const self = await airlock(['approve', own.id, '--reason', 'me'], own.identity);
    expect(self.code).toBe(4);
    expect(self.stderr).toContain('forbidden');
    const denied = await airlock(
      ['deny', own.id, '--reason', 'not now'],
      await person(stack, 'p:oncall', [], 'oncall@example.com'),
    );
    expect(denied.code, denied.stderr).toBe(0);
    expect(denied.stdout).toContain(`grant-${own.id}.1 denied: agent:cli-self has been refused`);
    expect((await stack.call('GET', `/v1/grants/${own.id}`, { token: own.identity })).body.grant.status).toBe('denied');
  }, 180_000);
});
