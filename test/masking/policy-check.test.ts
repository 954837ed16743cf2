// The policy checked against the database: a typo in a masked column or a profile role stops `npm start` and fails
// `airlock policy check --connect` with the path in the file, and a grant on such a connection is a 503 that leaves
// nothing behind (no pending grant, no audit event, no email). Must never leave a process or a data dir behind.

import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../global-setup.ts';
import { DEMO_POLICY_TEXT, startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dynamo, infra } from '../support/infra.ts';
import { dropMasking, dropMaskingRoles } from './support.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const COLUMN_TYPO = 'masking.columns[3].column: public.customers.phnoe does not exist (did you mean phone?)';
const ROLE_TYPO =
  'connections.shop.profiles.read.memberOf[0]: role pg_read_all_dat does not exist (did you mean pg_read_all_data?)';

/** The demo policy with `from` replaced (exactly once) by `to`. */
function demoWith(...edits: Array<[string, string]>): string {
  let text = DEMO_POLICY_TEXT;
  for (const [from, to] of edits) {
    const at = text.indexOf(from);
    if (at === -1 || text.indexOf(from, at + 1) !== -1) throw new Error(`expected one ${from}`);
    text = text.slice(0, at) + to + text.slice(at + from.length);
  }
  return text;
}
const COLUMN_TYPO_POLICY = demoWith(['public.customers.phone,', 'public.customers.phnoe,']);
const ROLE_TYPO_POLICY = demoWith(['read:  { memberOf: [pg_read_all_data]', 'read:  { memberOf: [pg_read_all_dat]']);
const BOTH_TYPOS_POLICY = demoWith(
  ['public.customers.phone,', 'public.customers.phnoe,'],
  ['read:  { memberOf: [pg_read_all_data]', 'read:  { memberOf: [pg_read_all_dat]'],
);

let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-policy-check-'));
  // The embedded Postgres runs as its own user when the tests run as root: it must reach the data dir inside.
  await chmod(dir, 0o755);
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env } });
    children.push(child);
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('before anything runs', () => {
  it('a typo in a masked column or a profile role stops `npm start`, naming the path in the file', async () => {
    const policy = join(dir, 'typos.policy.yaml');
    await writeFile(policy, BOTH_TYPOS_POLICY);
    const { code, output } = await run(['--import', 'tsx', 'local/main.ts'], {
      AIRLOCK_PORT: String(await freePort()),
      AIRLOCK_PG_PORT: String(await freePort()),
      AIRLOCK_DATA_DIR: join(dir, 'data'),
      AIRLOCK_POLICY: policy,
    });
    expect(code, output).toBe(1);
    expect(output).toContain(`airlock: could not start: ${policy} does not match the database:`);
    expect(output).toContain(`  ${COLUMN_TYPO}`);
    expect(output).toContain(`  ${ROLE_TYPO}`);
  }, 180_000);

  it('`airlock policy check --connect` says the same, and passes the demo policy', async () => {
    const policy = join(dir, 'typos-cli.policy.yaml');
    await writeFile(policy, BOTH_TYPOS_POLICY);
    const secrets = ['--secrets', infra().secretsPath];
    const typos = await run(['bin/airlock.mjs', 'policy', 'check', policy, '--connect', ...secrets]);
    expect(typos.code, typos.output).toBe(1);
    expect(typos.output).toContain(`airlock: ${policy} does not match the database:`);
    expect(typos.output).toContain(`  ${COLUMN_TYPO}`);
    expect(typos.output).toContain(`  ${ROLE_TYPO}`);

    const demo = await run(['bin/airlock.mjs', 'policy', 'check', 'airlock.policy.yaml', '--connect', ...secrets]);
    expect(demo.code, demo.output).toBe(0);
    expect(demo.output).toContain('ok: the database of shop matches the policy');

    const noSecrets = await run([
      'bin/airlock.mjs',
      'policy',
      'check',
      policy,
      '--connect',
      '--secrets',
      join(dir, 'none.json'),
    ]);
    expect(noSecrets.code).toBe(1);
    expect(noSecrets.output).toContain(`secrets file ${join(dir, 'none.json')} does not exist`);
  }, 120_000);
});

describe('a grant on a connection whose database does not match the policy', () => {
  const stacks: TestAirlock[] = [];
  afterAll(async () => {
    for (const stack of stacks) {
      await stack.close();
      await dropMasking(stack.rolePrefix);
      await dropMaskingRoles(stack.rolePrefix);
    }
  });

  async function attempt(policyText: string, access: 'read' | 'write') {
    const stack = await startTestAirlock({ policyText });
    stacks.push(stack);
    const identity = await stack.token('agent:typo', ['finance']);
    const response = await stack.call('POST', '/v1/grants', {
      token: identity,
      body: { connection: 'shop', access, ttl: 300, reason: 'policy does not match the database' },
    });
    const listed = await stack.call('GET', '/v1/grants', { token: identity });
    return { stack, response, listed };
  }

  it.each([
    ['a profile role typo (read, granted automatically)', ROLE_TYPO_POLICY, 'read', ROLE_TYPO],
    ['a masked column typo (read)', COLUMN_TYPO_POLICY, 'read', COLUMN_TYPO],
    ['a masked column typo (write, needs approval)', COLUMN_TYPO_POLICY, 'write', COLUMN_TYPO],
  ] as const)('%s: 503 unavailable naming it, and nothing pending', async (_case, policyText, access, line) => {
    const { stack, response, listed } = await attempt(policyText, access);
    expect(response.status, JSON.stringify(response.body)).toBe(503);
    expect(response.body.error.code).toBe('unavailable');
    expect(response.body.error.message).toContain(line);
    expect(listed.status).toBe(200);
    expect(listed.body.grants).toEqual([]);
    const outbox = await readdir(join(infra().dataDir, 'outbox', stack.tables.grants)).catch(() => []);
    expect(outbox).toEqual([]);
    const { ScanCommand } = await import('@aws-sdk/client-dynamodb');
    for (const table of [stack.tables.grants, stack.tables.audit]) {
      const scan = await dynamo().send(new ScanCommand({ TableName: table }));
      expect(scan.Items ?? [], table).toEqual([]);
    }
  });
});
