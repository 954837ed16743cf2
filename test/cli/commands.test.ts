import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../cli/main.ts';
import { runInProcess } from './support.ts';

// The command line in-process (the binary's own command table and runner), for everything that needs
// no server: help, argument parsing, usage errors, and the policy commands, which read a local file.
// AIRLOCK_URL points at a closed port, so a command that reached for the API would exit 1, not 2.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const inRoot = (args: string[]) => runInProcess(args, { env: { AIRLOCK_POLICY: join(ROOT, 'airlock.policy.yaml') } });

describe('help', () => {
  it('answers --help on every command of the table, with its usage and the global options', async () => {
    for (const command of COMMANDS) {
      const run = await runInProcess([...command.name.split(' '), '--help']);
      expect(run.code, command.name).toBe(0);
      expect(run.stdout, command.name).toContain(`usage: airlock ${command.name}`);
      expect(run.stdout, command.name).toContain('--url <url>');
    }
  });

  it('lists every command on top, and exits 2 when no command is given', async () => {
    const top = await runInProcess(['--help']);
    expect(top.code).toBe(0);
    for (const command of COMMANDS) expect(top.stdout).toContain(`  ${command.name} `);
    expect(top.stdout).toContain(
      'exit codes: 0 ok · 1 error · 2 usage · 3 approval required or pending · 4 denied, blocked, expired or revoked · 130 interrupted',
    );
    expect((await runInProcess([])).code).toBe(2);
    expect((await runInProcess(['help', 'query'])).stdout).toContain('usage: airlock query');
    expect((await runInProcess(['--url', 'http://x', 'grants', '--help'])).stdout).toContain('usage: airlock grants');
  });

  it('lists the subcommands of a group', async () => {
    const bare = await runInProcess(['policy']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^usage: airlock policy <check\|explain> \[options\]\n {2}policy check {3}/);
    expect((await runInProcess(['policy', '--help'])).code).toBe(0);
  });
});

describe('usage errors exit 2 with a hint, before anything is sent', () => {
  it.each([
    [['frobnicate'], 'unknown command "frobnicate"', 'see: airlock --help'],
    [['query', '--nope', 'SELECT 1'], "Unknown option '--nope'", 'see: airlock query --help'],
    [['query', 'SELECT', '1'], 'unexpected argument "1"', 'see: airlock query --help (quote SQL as one argument)'],
    [['query'], 'no SQL given', 'pass the statement as an argument or on stdin'],
    [['query', '--json', '--csv', 'SELECT 1'], 'choose one of --json, --csv', undefined],
    [['query', '--params', '{"a":1}', 'SELECT $1'], '--params must be a JSON array', undefined],
    [['query', '--params', '[1', 'SELECT $1'], '--params is not valid JSON', undefined],
    [['query', '-p', '1', '--params', '[1]', 'SELECT $1'], 'use either --param or --params', undefined],
    [['request'], 'missing argument: airlock request <connection>', undefined],
    [['request', 'shop'], 'a reason is required', 'add --reason'],
    [['request', 'shop', '-r', 'x', '--ttl', '15'], '--ttl needs a unit', 'did you mean 15m? (seconds: 15s)'],
    [['request', 'shop', '-r', 'x', '--ttl', '15 minutes'], '--ttl expects a duration like 90s, 15m', undefined],
    [['request', 'shop', '-r', 'x', '--ttl', '1500ms'], '--ttl is counted in whole seconds', undefined],
    [['request', 'shop', '-r', 'x', '--wait', '--interval', '2'], '--interval needs a unit', 'did you mean 2s?'],
    [['request', 'shop', '-r', 'x', '--wait', '--timeout', '10'], '--timeout needs a unit', 'did you mean 10m?'],
    [['dev', 'token', '--sub', 'agent:x', '--ttl', '600'], '--ttl needs a unit', 'did you mean 600m?'],
    [['dev', 'token'], '--sub is required', undefined],
    [
      ['policy', 'explain', '--sub', 'a', '--connection', 'shop', '--ttl', '5'],
      '--ttl needs a unit',
      'did you mean 5m?',
    ],
    [['policy', 'explain', '--sub', 'a'], '--sub and --connection are required', undefined],
    [['policy', 'explain', '--sub', 'a', '-c', 'shop', '--claim', 'novalue'], '--claim expects name=value', undefined],
    [['status'], 'missing argument', undefined],
    [['grants', 'extra'], 'unexpected argument "extra"', undefined],
  ])('%j', async (args, message, hint) => {
    const run = await runInProcess(args);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain(message);
    if (hint) expect(run.stderr).toContain(`hint: ${hint}`);
    expect(run.stderr).not.toContain('cannot reach');
  });

  it('asks for an identity token before calling the API', async () => {
    const run = await runInProcess(['connections']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /no identity token\nhint: pass --token, set AIRLOCK_TOKEN, or set AIRLOCK_TOKEN_COMMAND/,
    );
  });
});

describe('policy explain: a dry run of the demo policy, which rule decides and why', () => {
  it('tells a write that needs approval, rule by rule, with the window clamped', async () => {
    const write = await inRoot([
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
  });

  it('prints the decision and the trace as JSON', async () => {
    const read = await inRoot(['policy', 'explain', '--sub', 'agent:demo', '--connection', 'shop', '--json']);
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
  });

  it('exits 4 when no rule matches, and says why each one missed', async () => {
    const nobody = await inRoot([
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
  });
});

describe('policy check', () => {
  it('validates a file and names each problem by its path', async () => {
    const ok = await runInProcess(['policy', 'check', join(ROOT, 'airlock.policy.yaml')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(
      '— 1 connection shop (read, write); 2 rules, 2 guardrails, 4 masked columns, 1 issuer\n',
    );

    const dir = await mkdtemp(join(tmpdir(), 'airlock-policy-'));
    const broken = join(dir, 'broken.policy.yaml');
    const demo = await readFile(join(ROOT, 'airlock.policy.yaml'), 'utf8');
    await writeFile(
      broken,
      demo.replace('maxTtl: 15m', 'maxTtl: 15 minutes').replace('strategy: last4', 'strategy: last5'),
    );
    const check = await runInProcess(['policy', 'check', broken]);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain(`airlock: ${broken} is invalid:`);
    expect(check.stderr).toMatch(/\n {2}masking\.columns\[1\]\.strategy: .*\n/);
    expect(check.stderr).toContain('  rules[1].maxTtl: expected a duration like 30m');
    expect(check.stderr).toContain('hint: every field is described in docs/policy.md');

    const missing = await runInProcess(['policy', 'check', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read the policy file .*nope\.yaml: ENOENT/);
  });
});
