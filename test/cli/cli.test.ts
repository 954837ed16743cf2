import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide, grantRef, linkFor, open, submit } from '../approvals/support.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { startConnectionsApp } from '../support/connections-app.ts';

// The real binary, as a user runs it: `node bin/airlock.mjs …` against a stack over HTTP.
// Approvals for --wait go through the approvals flow itself: the emailed link, the page, the code.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'airlock.mjs');
const run = promisify(execFile);

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

/** The binary as a child process, and its outcome once it exits. */
function spawnAirlock(args: string[], options: RunOptions = {}): { child: ChildProcess; done: Promise<Run> } {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !key.startsWith('AIRLOCK_')) env[key] = value;
  Object.assign(
    env,
    { AIRLOCK_URL: stack.baseUrl, AIRLOCK_CONFIG_DIR: configDir, NO_COLOR: '1' },
    options.token ? { AIRLOCK_TOKEN: options.token } : {},
    options.env ?? {},
  );
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  const done = new Promise<Run>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      options.onStderr?.(chunk.toString());
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? -1 : 0), stdout, stderr }));
    child.stdin!.end(options.input ?? '');
  });
  return { child, done };
}

const airlock = (args: string[], options: RunOptions = {}): Promise<Run> => spawnAirlock(args, options).done;

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
  it('runs as a binary: --help, a usage error, a local policy check, a completion script bash loads', async () => {
    const [help, usage, check, completion] = await Promise.all([
      airlock(['--help']),
      airlock(['query', '--nope']),
      airlock(['policy', 'check']),
      airlock(['completion', 'bash']),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/exit codes: 0 ok · 1 error · 2 usage · 3 approval required or pending · 4 denied/);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("Unknown option '--nope'");
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toBe(
      'ok: airlock.policy.yaml — 1 connection shop (read, write); 2 rules, 2 guardrails, 4 masked columns, 1 issuer\n',
    );
    expect(completion.code).toBe(0);
    const script = join(configDir, 'airlock.bash');
    await writeFile(script, completion.stdout);
    const loaded = await run('bash', ['--norc', '-c', 'source "$1" && complete -p airlock', 'bash', script]);
    expect(loaded.stderr).toBe('');
    expect(loaded.stdout.trim()).toBe('complete -F _airlock airlock');
  }, 60_000);

  it('request → query (table, JSON, CSV, bytea and arrays) → grants → audit --verify → replay → revoke', async () => {
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

    // Four statements on the kept token at once, and the grant list beside them.
    const typed =
      "SELECT '\\x00abff'::bytea AS b, ARRAY[1,2,3] AS a, ARRAY[['x y','c'],['d',NULL]] AS t, ARRAY[true,false] AS f, ARRAY['\\x01'::bytea] AS ba, '{\"k\":[1,2]}'::jsonb AS j";
    const [table, json, csv, types, grants] = await Promise.all([
      airlock([
        'query',
        'SELECT id, name, email, card_number FROM customers WHERE id <= $1 ORDER BY id',
        '--param',
        '3',
      ]),
      airlock(['query', '--json', 'SELECT id, email FROM customers ORDER BY id LIMIT 2']),
      airlock(['query', '--csv', '--grant', grantId!], {
        input: 'SELECT id, status FROM orders WHERE id IN (1, 2) ORDER BY id\n',
      }),
      airlock(['query', typed]),
      airlock(['grants'], { token }),
    ]);

    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ id \| name +\| email\* +\| card_number\*$/);
    expect(lines[1]).toMatch(/^-+\+-+\+-+\+-+$/);
    expect(lines.slice(2, 5)).toHaveLength(3);
    for (const line of lines.slice(2, 5)) expect(line).toMatch(/^ +\d \| .+ \| .\*+@\S+ +\| \*+\d{4}$/);
    expect(lines[5]).toBe('(3 rows; * masked: email (email), card_number (last4))');

    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout);
    expect(result.columns).toEqual([
      { name: 'id', type: 'int4', masked: null },
      { name: 'email', type: 'text', masked: 'email' },
    ]);
    expect(result.rows).toHaveLength(2);
    expect(result.rowCount).toBe(2);

    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout).toMatch(/^id,status\r\n1,\w+\r\n2,\w+\r\n$/);

    expect(types.code, types.stderr).toBe(0);
    expect(types.stdout.split('\n').slice(0, 3)).toEqual([
      ' b        | a       | t                    | f     | ba        | j',
      '----------+---------+----------------------+-------+-----------+-------------',
      ' \\x00abff | {1,2,3} | {{"x y",c},{d,NULL}} | {t,f} | {"\\\\x01"} | {"k":[1,2]}',
    ]);

    expect(grants.code).toBe(0);
    expect(grants.stdout).toMatch(new RegExp(`\\*${grantId} +active +read@shop +10m`));

    const [audit, replay] = await Promise.all([
      airlock(['audit', grantId!, '--verify'], { token }),
      airlock(['replay', grantId!], { token }),
    ]);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(
      /grant\.requested .*read on shop for 10m, rule agents-read: "investigate order totals"/,
    );
    expect(audit.stdout).toMatch(/grant\.activated/);
    expect(audit.stdout.match(/statement .*executed: /g)).toHaveLength(4);
    expect(audit.stdout).toMatch(/masked email, card_number/);
    expect(audit.stdout).toMatch(
      /audit chain verified: 6 events link from the genesis hash to [0-9a-f]{16}… and end at the head anchored on the grant \(checked here\); the keyed hashes were checked by the server \(this CLI has no audit key\)/,
    );

    expect(replay.code, replay.stderr).toBe(0);
    const story = replay.stdout;
    expect(story).toMatch(/requested by agent:cli: read on shop for 10m — "investigate order totals"/);
    expect(story).toMatch(/policy rule agents-read: granted automatically/);
    expect(story).toMatch(/activated \(approved by policy\): window until/);
    expect(story).toMatch(
      /✓ ran +SELECT id, name, email, card_number FROM customers WHERE id <= \$1 ORDER BY id · 3 rows · [\d.]+ ms · masked email, card_number/,
    );
    expect(story).toContain('4 statements: 4 ran, 0 held, 0 blocked, 0 failed');
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
    expect(replayed.stdout).toContain('5 statements: 4 ran, 0 held, 1 blocked, 0 failed'); // the refused query never ran, and is on the record
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
        '200ms',
      ],
      {
        token,
        onStderr: (chunk) => {
          sawWaiting += chunk;
        },
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
    expect(held.stderr).toContain(
      'who must approve: the approvers the policy names for guardrail unbounded-change (notified by email)',
    );

    const replay = await airlock(['replay', grantId], { token });
    expect(replay.stdout).toMatch(/approved by oncall@example\.com/);
    expect(replay.stdout).toMatch(/⏸ held +DELETE FROM orders · guardrail unbounded-change/);
    await airlock(['revoke', grantId], { token });
  }, 60_000);

  it('Ctrl-C during --wait withdraws the pending request, so no approver can open it afterwards', async () => {
    const token = await stack.token('agent:cli-interrupted', ['finance']);
    let stderr = '';
    const { child, done } = spawnAirlock(
      ['request', 'shop', '-a', 'write', '-r', 'fix order 7', '--wait', '--interval', '200ms'],
      {
        token,
        onStderr: (chunk) => {
          stderr += chunk;
        },
      },
    );
    const grantId = await pendingGrantOf(token);
    await waitFor('the waiting line', async () => (stderr.includes('waiting for') ? true : undefined));
    child.kill('SIGINT');
    const run = await done;
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toContain('interrupted: withdrawing the request (Ctrl-C again to leave it as it is)');
    expect(run.stderr).toContain(`withdrew request ${grantId}: it is revoked, and approvers can no longer approve it`);
    expect(run.stdout).toMatch(new RegExp(`grant ${grantId} +revoked`));

    const { body } = await stack.call('GET', `/v1/grants/${grantId}`, { token });
    expect(body.grant.status).toBe('revoked');
    expect(body.grant.decisions).toEqual([
      expect.objectContaining({ by: 'agent:cli-interrupted', decision: 'revoked' }),
    ]);
    // The approver's emailed link is dead: the page says so and a decision changes nothing.
    const link = await linkFor(stack, grantRef(grantId), 'oncall@example.com');
    expect((await open(link)).status).toBe(410);
    expect((await submit(link, { decision: 'approve', confirm: 'AAAAAA' })).status).toBe(410);
    expect((await stack.call('GET', `/v1/grants/${grantId}`, { token })).body.grant.status).toBe('revoked');
  }, 60_000);

  it('--wait ends with exit 4 when the approver denies; without --wait a pending grant exits 3', async () => {
    const token = await stack.token('agent:cli-denied', ['finance']);
    let sawWaiting = '';
    const waiting = airlock(
      ['request', 'shop', '-a', 'write', '-r', 'drop everything', '--wait', '--interval', '200ms'],
      {
        token,
        onStderr: (chunk) => {
          sawWaiting += chunk;
        },
      },
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

    const [noToken, denied, blocked, syntax, notFound, unreachable, badToken] = await Promise.all([
      airlock(['grants']),
      stack.token('human:bob').then((bob) => airlock(['request', 'shop', '--reason', 'x'], { token: bob })),
      airlock(['query', 'CREATE TABLE cli_nope (id int)']),
      airlock(['query', 'SELECT id FROM customers WHER id = 1']),
      airlock(['status', 'zzzzzzzzzzzzzzzzzzzz'], { token }),
      airlock(['grants', '--url', 'http://127.0.0.1:1'], { token }),
      airlock(['grants'], { token: 'not-a-jwt' }),
    ]);

    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toMatch(
      /no identity token\nhint: pass --token, set AIRLOCK_TOKEN, or set AIRLOCK_TOKEN_COMMAND/,
    );
    expect(denied.code).toBe(4);
    expect(denied.stderr).toMatch(
      /^airlock: policy_denied: no rule allows read access to shop for human:bob\nhint: see which rule applies: airlock policy explain/,
    );
    expect(blocked.code).toBe(4);
    expect(blocked.stderr).toMatch(/statement_blocked: .*\n {2}guardrail: /);
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toMatch(/sql_syntax: /);
    expect(syntax.stderr).toMatch(/near here:\n {4}SELECT id FROM customers WHER id = 1\n {4} +\^/);
    expect(notFound.code).toBe(1);
    expect(notFound.stderr).toMatch(
      /not_found: no grant zzzzzzzzzzzzzzzzzzzz\nhint: list your grants with: airlock grants/,
    );
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach Airlock at http:\/\/127\.0\.0\.1:1.*\nhint: is it running\?/);
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toMatch(/unauthenticated: .*\nhint: check the identity token/);
  }, 90_000);

  it('takes the identity token from AIRLOCK_TOKEN_COMMAND', async () => {
    const token = await stack.token('agent:cli-command');
    const [viaCommand, failing] = await Promise.all([
      airlock(['grants'], { env: { AIRLOCK_TOKEN_COMMAND: `printf '%s\\n' '${token}'` } }),
      airlock(['grants'], { env: { AIRLOCK_TOKEN_COMMAND: 'echo "helper broke" >&2; exit 7' } }),
    ]);
    expect(viaCommand.code, viaCommand.stderr).toBe(0);
    expect(viaCommand.stdout).toContain('no grants yet');
    expect(failing.code).toBe(1);
    expect(failing.stderr).toContain('AIRLOCK_TOKEN_COMMAND failed (7): helper broke');
  }, 30_000);

  it('connections lists what the caller could request, from GET /v1/connections', async () => {
    // The route is served by its own app until the composition root mounts it; same dev-issuer tokens.
    const app = await startConnectionsApp();
    try {
      const [finance, bob] = await Promise.all([
        app.token('agent:demo', ['finance']).then((token) => airlock(['connections', '--url', app.baseUrl], { token })),
        app.token('human:bob').then((token) => airlock(['connections', '--json', '--url', app.baseUrl], { token })),
      ]);
      expect(finance.code, finance.stderr).toBe(0);
      expect(finance.stdout).toBe(
        [
          'connection  access  outcome         max window  rule',
          'shop        read    granted         30m         agents-read',
          'shop        write   needs approval  15m         agents-write',
          '',
        ].join('\n'),
      );
      expect(bob.code).toBe(0);
      expect(JSON.parse(bob.stdout)).toEqual({ connections: [] });
      // An Airlock without the route (here: a base path that has none) says so, with a hint.
      const older = await airlock(['connections', '--url', `${app.baseUrl}/older`], { token: 'any' });
      expect(older.code).toBe(1);
      expect(older.stderr).toMatch(/not_found: .*\nhint: .* does not list connections \(an older Airlock\)/);
    } finally {
      await app.close();
    }
  }, 30_000);
});
