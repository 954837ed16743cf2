import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decide, grantRef, linkFor } from '../approvals/support.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';

// The audit log keyed and anchored, as the composition root will wire it: `audit --verify` checks the head.
vi.mock('../../shared/audit/index.ts', async (original) =>
  (await import('../support/wiring.ts')).keyedAuditModule(await original()),
);

// The real binary, as a user runs it: `node bin/airlock.mjs …` against a stack over HTTP.
// Approvals for --wait go through the approvals flow itself: the emailed link, the page, the code.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'airlock.mjs');

let stack: TestAirlock;
let configDir: string;

beforeAll(async () => {
  stack = await startTestAirlock();
  configDir = await mkdtemp(join(tmpdir(), 'airlock-cli-'));
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

interface RunOptions {
  token?: string;
  env?: Record<string, string>;
  input?: string;
  /** Called with each stderr chunk while the command runs. */
  onStderr?: (chunk: string) => void;
}

function airlock(args: string[], options: RunOptions = {}): Promise<Run> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !key.startsWith('AIRLOCK_')) env[key] = value;
  Object.assign(
    env,
    { AIRLOCK_URL: stack.baseUrl, AIRLOCK_CONFIG_DIR: configDir, NO_COLOR: '1' },
    options.token ? { AIRLOCK_TOKEN: options.token } : {},
    options.env ?? {},
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      options.onStderr?.(chunk.toString());
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

const storeFile = () => join(configDir, 'grants.json');
async function keptGrants(): Promise<Array<{ id: string; token: string }>> {
  const file = JSON.parse(await readFile(storeFile(), 'utf8')) as {
    urls: Record<string, Array<{ id: string; token: string }>>;
  };
  return file.urls[stack.baseUrl] ?? [];
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function pendingGrantOf(identity: string): Promise<string> {
  return waitFor('a pending grant', async () => {
    const response = await stack.call('GET', '/v1/grants', { token: identity });
    return (response.body.grants as Array<{ id: string; status: string }>).find((grant) => grant.status === 'pending')
      ?.id;
  });
}

describe('airlock CLI', () => {
  it('answers --help on every command', async () => {
    const top = await airlock(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/exit codes: 0 ok · 1 error · 2 usage · 3 approval required or pending · 4 denied/);
    const commands = [
      'request',
      'query',
      'grants',
      'status',
      'revoke',
      'audit',
      'replay',
      'policy check',
      'policy explain',
      'dev token',
    ];
    const results = await Promise.all(commands.map((command) => airlock([...command.split(' '), '--help'])));
    results.forEach((result, index) => {
      expect(result.code, commands[index]).toBe(0);
      expect(result.stdout, commands[index]).toContain(`usage: airlock ${commands[index]}`);
      expect(result.stdout, commands[index]).toContain('--url <url>');
    });
  }, 60_000);

  it('request → query (table, JSON, CSV) → grants → audit --verify → replay → revoke', async () => {
    const token = (await airlock(['dev', 'token', '--sub', 'agent:cli', '--groups', 'ops'])).stdout.trim();
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    const request = await airlock(['request', 'shop', '--reason', 'investigate order totals', '--ttl', '10m'], {
      token,
    });
    expect(request.code, request.stderr).toBe(0);
    const grantId = /grant ([0-9a-z]{20})\s+active/.exec(request.stdout)?.[1];
    expect(grantId, request.stdout).toBeDefined();
    expect(request.stdout).toContain('read on shop for 10m (rule agents-read), requested by agent:cli');
    expect(request.stderr).toContain(`grant token stored for ${stack.baseUrl}`);
    expect(request.stdout + request.stderr).not.toContain(token);
    expect((await stat(storeFile())).mode & 0o777).toBe(0o600);
    expect((await stat(configDir)).mode & 0o077).toBe(0);
    expect((await keptGrants()).map((grant) => grant.id)).toEqual([grantId]);

    const table = await airlock([
      'query',
      'SELECT id, name, email, card_number FROM customers WHERE id <= $1 ORDER BY id',
      '--param',
      '3',
    ]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ id \| name +\| email\* +\| card_number\*$/);
    expect(lines[1]).toMatch(/^-+\+-+\+-+\+-+$/);
    expect(lines.slice(2, 5)).toHaveLength(3);
    for (const line of lines.slice(2, 5)) expect(line).toMatch(/^ +\d \| .+ \| .\*+@\S+ +\| \*+\d{4}$/);
    expect(lines[5]).toBe('(3 rows; * masked: email (email), card_number (last4))');

    const json = await airlock(['query', '--json', 'SELECT id, email FROM customers ORDER BY id LIMIT 2']);
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout);
    expect(result.columns).toEqual([
      { name: 'id', type: 'int4', masked: null },
      { name: 'email', type: 'text', masked: 'email' },
    ]);
    expect(result.rows).toHaveLength(2);
    expect(result.rowCount).toBe(2);

    const csv = await airlock(['query', '--csv', '--grant', grantId!], {
      input: 'SELECT id, status FROM orders WHERE id IN (1, 2) ORDER BY id\n',
    });
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout).toMatch(/^id,status\r\n1,\w+\r\n2,\w+\r\n$/);

    const grants = await airlock(['grants'], { token });
    expect(grants.code).toBe(0);
    expect(grants.stdout).toMatch(new RegExp(`\\*${grantId} +active +read@shop +10m`));

    const audit = await airlock(['audit', grantId!, '--verify'], { token });
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(
      /grant\.requested .*read on shop for 10m, rule agents-read: "investigate order totals"/,
    );
    expect(audit.stdout).toMatch(/grant\.activated/);
    expect(audit.stdout.match(/statement .*executed: /g)).toHaveLength(3);
    expect(audit.stdout).toMatch(/masked email, card_number/);
    expect(audit.stdout).toMatch(
      /audit chain verified: 5 events link from the genesis hash to [0-9a-f]{16}… and end at the head anchored on the grant \(checked here\); the keyed hashes were checked by the server \(this CLI has no audit key\)/,
    );

    const replay = await airlock(['replay', grantId!], { token });
    expect(replay.code, replay.stderr).toBe(0);
    const story = replay.stdout;
    expect(story).toMatch(/requested by agent:cli: read on shop for 10m — "investigate order totals"/);
    expect(story).toMatch(/policy rule agents-read: granted automatically/);
    expect(story).toMatch(/activated \(approved by policy\): window until/);
    expect(story).toMatch(
      /✓ ran +SELECT id, name, email, card_number FROM customers WHERE id <= \$1 ORDER BY id · 3 rows · [\d.]+ ms · masked email, card_number/,
    );
    expect(story).toContain('3 statements: 3 ran, 0 held, 0 blocked, 0 failed');
    expect(story.indexOf('requested by')).toBeLessThan(story.indexOf('activated'));

    const before = await readFile(storeFile(), 'utf8');
    const revoke = await airlock(['revoke', grantId!], { token });
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toMatch(new RegExp(`grant ${grantId} +revoked`));
    expect(revoke.stdout).toContain('revoked by agent:cli');
    expect(await keptGrants()).toEqual([]);

    // A token kept from before the revocation is refused by the API: exit 4, and the CLI drops it.
    await writeFile(storeFile(), before, { mode: 0o600 });
    const afterRevoke = await airlock(['query', 'SELECT 1']);
    expect(afterRevoke.code).toBe(4);
    expect(afterRevoke.stderr).toContain('grant_revoked: the grant was revoked');
    expect(afterRevoke.stderr).toContain('hint: the kept token');
    expect(await keptGrants()).toEqual([]);

    const replayed = await airlock(['replay', grantId!], { token });
    expect(replayed.stdout).toMatch(/revoked by agent:cli: window closed, role dropped/);
    expect(replayed.stdout).toContain('4 statements: 3 ran, 0 held, 1 blocked, 0 failed'); // the refused query never ran, and is on the record
  }, 90_000);

  it('--wait shows what it waits for, through a human approval, then the grant is usable', async () => {
    const token = await stack.token('agent:cli-writer', ['finance']);
    let sawWaiting = '';
    const waiting = airlock(
      [
        'request',
        'shop',
        '--access',
        'write',
        '--reason',
        'fix order 42',
        '--ttl',
        '5m',
        '--wait',
        '--interval',
        '0.2',
      ],
      {
        token,
        onStderr: (chunk) => (sawWaiting += chunk),
      },
    );
    const grantId = await pendingGrantOf(token);
    await waitFor('the waiting line', async () => (sawWaiting.includes('waiting for') ? true : undefined));
    const page = await decide(await linkFor(stack, grantRef(grantId), 'oncall@example.com'), 'approve');
    expect(page.status, page.html).toBe(200);

    const done = await waiting;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toContain(`waiting for 1 of 2 approvers (rule agents-write) to approve grant ${grantId}`);
    expect(done.stdout).toMatch(new RegExp(`grant ${grantId} +active`));
    expect(done.stdout).toMatch(/approved by oncall@example\.com/);
    expect((await keptGrants()).map((grant) => grant.id)).toContain(grantId);

    // The write grant is usable, and the demo's unbounded-change guardrail holds a DELETE without WHERE: exit 3.
    const held = await airlock(['query', '--grant', grantId, 'DELETE FROM orders']);
    expect(held.code).toBe(3);
    expect(held.stderr).toMatch(/held for approval: held for approval by guardrail "unbounded-change"/);
    expect(held.stderr).toMatch(/guardrail: unbounded-change; approval \S+ is pending/);
    expect(held.stderr).toContain('who must approve:');

    const replay = await airlock(['replay', grantId], { token });
    expect(replay.stdout).toMatch(/approved by oncall@example\.com/);
    expect(replay.stdout).toMatch(/⏸ held +DELETE FROM orders · guardrail unbounded-change/);
    await airlock(['revoke', grantId], { token });
  }, 60_000);

  it('--wait ends with exit 4 when the approver denies; without --wait a pending grant exits 3', async () => {
    const token = await stack.token('agent:cli-denied', ['finance']);
    let sawWaiting = '';
    const waiting = airlock(
      ['request', 'shop', '-a', 'write', '-r', 'drop everything', '--wait', '--interval', '0.2'],
      { token, onStderr: (chunk) => (sawWaiting += chunk) },
    );
    const grantId = await pendingGrantOf(token);
    // The request's answer (and so its emails) is out once the CLI says what it waits for.
    await waitFor('the waiting line', async () => (sawWaiting.includes('waiting for') ? true : undefined));
    await decide(await linkFor(stack, grantRef(grantId), 'dba@example.com'), 'deny', 'not today');
    const denied = await waiting;
    expect(denied.code).toBe(4);
    expect(denied.stdout).toMatch(/denied by dba@example\.com — not today/);
    expect(denied.stderr).toContain(`grant ${grantId} is denied`);

    const other = await stack.token('agent:cli-pending', ['finance']);
    const pending = await airlock(['request', 'shop', '--access', 'write', '--reason', 'later', '--json'], {
      token: other,
    });
    expect(pending.code).toBe(3);
    expect(JSON.parse(pending.stdout).grant.status).toBe('pending');
    expect(pending.stderr).toContain('a human must approve first');
    const status = await airlock(['status', JSON.parse(pending.stdout).grant.id], { token: other });
    expect(status.code).toBe(3);
    expect(status.stdout).toContain('waiting for 1 of 2 approvers');
  }, 60_000);

  it('exits with the documented codes and prints the API message with a hint', async () => {
    const token = await stack.token('agent:cli-codes');
    const request = await airlock(['request', 'shop', '--reason', 'exit codes'], { token });
    expect(request.code).toBe(0);

    const usage = await Promise.all([
      airlock(['query', '--nope']),
      airlock(['query']),
      airlock(['request', 'shop']),
      airlock(['frobnicate']),
      airlock(['query', '--json', '--csv', 'SELECT 1']),
    ]);
    for (const run of usage) expect(run.code, run.stderr).toBe(2);
    expect(usage[1]!.stderr).toContain('no SQL given');
    expect(usage[2]!.stderr).toContain('a reason is required');

    const noToken = await airlock(['grants']);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toMatch(
      /no identity token\nhint: pass --token, set AIRLOCK_TOKEN, or set AIRLOCK_TOKEN_COMMAND/,
    );

    const denied = await airlock(['request', 'shop', '--reason', 'x'], { token: await stack.token('human:bob') });
    expect(denied.code).toBe(4);
    expect(denied.stderr).toMatch(
      /^airlock: policy_denied: no rule allows read access to shop for human:bob\nhint: see which rule applies: airlock policy explain/,
    );

    const blocked = await airlock(['query', 'CREATE TABLE cli_nope (id int)']);
    expect(blocked.code).toBe(4);
    expect(blocked.stderr).toMatch(/statement_blocked: .*\n {2}guardrail: /);

    const syntax = await airlock(['query', 'SELECT id FROM customers WHER id = 1']);
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toMatch(/sql_syntax: /);
    expect(syntax.stderr).toMatch(/near here:\n {4}SELECT id FROM customers WHER id = 1\n {4} +\^/);

    const notFound = await airlock(['status', 'zzzzzzzzzzzzzzzzzzzz'], { token });
    expect(notFound.code).toBe(1);
    expect(notFound.stderr).toMatch(
      /not_found: no grant zzzzzzzzzzzzzzzzzzzz\nhint: list your grants with: airlock grants/,
    );

    const unreachable = await airlock(['grants', '--url', 'http://127.0.0.1:1'], { token });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach Airlock at http:\/\/127\.0\.0\.1:1.*\nhint: is it running\?/);

    const badToken = await airlock(['grants'], { token: 'not-a-jwt' });
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toMatch(/unauthenticated: .*\nhint: check the identity token/);
  }, 90_000);

  it('takes the identity token from AIRLOCK_TOKEN_COMMAND', async () => {
    const token = await stack.token('agent:cli-command');
    const viaCommand = await airlock(['grants'], { env: { AIRLOCK_TOKEN_COMMAND: `printf '%s\\n' '${token}'` } });
    expect(viaCommand.code, viaCommand.stderr).toBe(0);
    expect(viaCommand.stdout).toContain('no grants yet');

    const failing = await airlock(['grants'], { env: { AIRLOCK_TOKEN_COMMAND: 'echo "helper broke" >&2; exit 7' } });
    expect(failing.code).toBe(1);
    expect(failing.stderr).toContain('AIRLOCK_TOKEN_COMMAND failed (7): helper broke');
  }, 30_000);

  it('policy explain is a dry run of the demo policy: which rule decides and why', async () => {
    const write = await airlock([
      'policy',
      'explain',
      '--sub',
      'agent:demo',
      '--groups',
      'finance',
      '--connection',
      'shop',
      '--access',
      'write',
      '--ttl',
      '1h',
    ]);
    expect(write.code).toBe(3);
    expect(write.stdout).toContain(
      "NEEDS APPROVAL by rule agents-write (rules[1]): 1 of oncall@example.com, dba@example.com; window 15m (clamped to the rule's maxTtl)",
    );
    expect(write.stdout).toContain('✗ rules[0] agents-read: access is read, not write');
    expect(write.stdout).toContain(
      '✓ rules[1] agents-write: connection shop, access write, subject "agent:*" matches agent:demo, in group finance → decides',
    );
    expect(write.stdout).toMatch(
      /guardrails on each statement: no-ddl \(ddl → blocked\); unbounded-change \(update, delete with no WHERE → held for oncall@example\.com\)/,
    );

    const read = await airlock(['policy', 'explain', '--sub', 'agent:demo', '--connection', 'shop', '--json']);
    expect(read.code).toBe(0);
    expect(JSON.parse(read.stdout)).toEqual({
      decision: { outcome: 'granted', rule: 'agents-read', ttlSeconds: 1800, clamped: false },
      rules: [
        {
          index: 0,
          name: 'agents-read',
          result: 'decides',
          why: 'connection shop, access read, subject "agent:*" matches agent:demo',
        },
        { index: 1, name: 'agents-write', result: 'not reached', why: 'an earlier rule decided' },
      ],
    });

    const nobody = await airlock([
      'policy',
      'explain',
      '--sub',
      'human:bob',
      '--connection',
      'shop',
      '--access',
      'write',
    ]);
    expect(nobody.code).toBe(4);
    expect(nobody.stdout).toContain('DENIED: no rule allows write access to shop for human:bob');
    expect(nobody.stdout).toContain(
      '✗ rules[1] agents-write: subject "agent:*" does not match human:bob; needs one of groups finance',
    );
  }, 30_000);

  it('policy check validates a file and names each problem by its path', async () => {
    const ok = await airlock(['policy', 'check']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe(
      'ok: airlock.policy.yaml — 1 connection shop (read, write); 2 rules, 2 guardrails, 4 masked columns, 1 issuer\n',
    );

    const broken = join(configDir, 'broken.policy.yaml');
    const demo = await readFile(join(ROOT, 'airlock.policy.yaml'), 'utf8');
    await writeFile(broken, demo.replace('maxTtl: 15m', 'maxTtl: soon').replace('strategy: last4', 'strategy: last5'));
    const check = await airlock(['policy', 'check', broken]);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(`airlock: ${broken} is invalid:`);
    expect(check.stderr).toMatch(/\n {2}masking\.columns\[1\]\.strategy: .*\n/);
    expect(check.stderr).toContain('  rules[1].maxTtl: expected a duration like 30m');

    const missing = await airlock(['policy', 'check', join(configDir, 'nope.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read the policy file .*nope\.yaml: ENOENT/);
  }, 30_000);
});
