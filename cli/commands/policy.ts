// `airlock policy check` and `airlock policy explain`: the policy file read locally, no server (check --connect
// also reads each connection's database with its admin credential, changing nothing).
// explain is a dry run of the same `decide` the API runs, told rule by rule.

import { join } from 'node:path';
import { isAirlockError } from '../../shared/errors.ts';
import type { Principal } from '../../shared/identity/index.ts';
import type { Decision, Policy, Rule } from '../../shared/policy/index.ts';
import { type CliContext, type Command, flag } from '../args.ts';
import { parseDurationSeconds } from '../duration.ts';
import { CliError, EXIT, usageError } from '../exit.ts';
import { formatSeconds, type Style } from '../render.ts';

const policyPath = (ctx: CliContext, given?: string) => given ?? ctx.env.AIRLOCK_POLICY ?? 'airlock.policy.yaml';

// Loaded on use: the schema (zod, yaml) would slow every other command's start.
const policyModules = () => import('../../shared/policy/index.ts');

async function load(path: string): Promise<Policy> {
  const { loadPolicyFile } = await policyModules();
  try {
    return await loadPolicyFile(path);
  } catch (error) {
    if (!isAirlockError(error)) throw error;
    throw new CliError(
      error.message,
      EXIT.error,
      'every field is described in docs/policy.md; editors validate with airlock.policy.schema.json',
    );
  }
}

export const policyCheck: Command = {
  name: 'policy check',
  summary: 'validate a policy file; errors name their path in the file',
  usage: '[file] [--connect [--secrets <file>] [--role-prefix <prefix>]]',
  details:
    'The file defaults to $AIRLOCK_POLICY, else ./airlock.policy.yaml. Exits 1 when it is invalid.\n' +
    "With --connect, each connection's database is checked too, changing nothing: every masked column, profile role " +
    'and guardrail table must exist, and no role a grant would belong to (nor PUBLIC) may read a masked column. ' +
    "Admin credentials come from a secrets file shaped like the local stack's (default $AIRLOCK_DATA_DIR/secrets.json, " +
    'else .airlock/secrets.json: one {host, port, username, password, dbname} per adminSecret name); Postgres is reached ' +
    'over TCP through a WebSocket proxy this command starts on loopback.',
  options: {
    connect: { type: 'boolean', description: "check the policy against each connection's database" },
    secrets: {
      type: 'string',
      value: '<file>',
      description: 'JSON file of admin secrets by name, mode 0600 (default $AIRLOCK_DATA_DIR/secrets.json)',
    },
    'role-prefix': {
      type: 'string',
      value: '<prefix>',
      description: "the deployment's role prefix, when it is not airlock_ (names Airlock's reader and writer roles)",
    },
  },
  positionals: { min: 0, max: 1, name: 'file', complete: 'file' },
  examples: [
    'airlock policy check',
    'airlock policy check deploy/prod.policy.yaml',
    'airlock policy check --connect',
    'airlock policy check deploy/prod.policy.yaml --connect --secrets ~/prod-admin.json --role-prefix airlock_prod_',
  ],
  async run({ positionals, flags, ctx }) {
    const path = policyPath(ctx, positionals[0]);
    const policy = await load(path);
    const warnings = flag.bool(flags, 'connect') ? await checkDatabases(path, policy, flags, ctx) : [];
    const connections = Object.entries(policy.connections).map(
      ([name, connection]) => `${name} (${Object.keys(connection.profiles).join(', ')})`,
    );
    ctx.stdout.write(
      `${ctx.out.green('ok')}: ${path} — ${plural(connections.length, 'connection')} ${connections.join(', ')}; ${plural(policy.rules.length, 'rule')}, ` +
        `${plural(policy.guardrails.length, 'guardrail')}, ${plural(policy.masking.columns.length, 'masked column')}, ${plural(policy.identity.issuers.length, 'issuer')}\n`,
    );
    if (flag.bool(flags, 'connect')) {
      const names = Object.keys(policy.connections);
      ctx.stdout.write(
        `${ctx.out.green('ok')}: the database${names.length === 1 ? '' : 's'} of ${names.join(', ')} match${names.length === 1 ? 'es' : ''} the policy\n`,
      );
    }
    for (const warning of warnings) ctx.stdout.write(`${ctx.out.yellow('warning')}: ${warning}\n`);
    return EXIT.ok;
  },
};

/** Checks every connection's database; throws with every error, returns the warnings. */
async function checkDatabases(
  path: string,
  policy: Policy,
  flags: Parameters<typeof flag.string>[0],
  ctx: CliContext,
): Promise<string[]> {
  const { createFileSecretSource, DatabaseSecret, readSecret } = await import('../../shared/secrets/index.ts');
  const { checkPolicyConnections } = await import('../../shared/masking/index.ts');
  const { startWsProxy } = await import('../../shared/wsproxy/index.ts');
  const { describeFindings } = await import('../../shared/masking/index.ts');
  const secretsPath = flag.string(flags, 'secrets') ?? join(ctx.env.AIRLOCK_DATA_DIR ?? '.airlock', 'secrets.json');
  const secrets = createFileSecretSource(secretsPath);
  const targets: string[] = [];
  try {
    for (const connection of Object.values(policy.connections)) {
      const admin = await readSecret(secrets, connection.adminSecret, DatabaseSecret);
      targets.push(`${admin.host}:${admin.port}`);
    }
  } catch (error) {
    if (!isAirlockError(error)) throw error;
    throw new CliError(
      error.message,
      EXIT.error,
      '--secrets names a JSON file (mode 0600) with one {host, port, username, password, dbname} per adminSecret',
    );
  }
  // The driver speaks Postgres over WebSocket: a proxy on loopback that reaches only these databases.
  const proxy = await startWsProxy({ targets, host: '127.0.0.1' });
  let findings: Awaited<ReturnType<typeof checkPolicyConnections>>;
  try {
    findings = await checkPolicyConnections({
      policy,
      secrets,
      wire: { wsProxy: proxy.address, secureWebSocket: false },
      rolePrefix: flag.string(flags, 'role-prefix'),
    });
  } catch (error) {
    if (!isAirlockError(error)) throw error;
    throw new CliError(error.message, EXIT.error);
  } finally {
    await proxy.close();
  }
  const errors = describeFindings(findings.filter((finding) => finding.severity === 'error'));
  if (errors.length > 0)
    throw new CliError(
      `${path} does not match the database:\n  ${errors.join('\n  ')}`,
      EXIT.error,
      'docs/masking.md says what each check means and what the admin credential needs',
    );
  return describeFindings(findings.filter((finding) => finding.severity === 'warning'));
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

interface RuleTrace {
  index: number;
  name: string;
  result: 'decides' | 'no match' | 'not reached';
  why: string;
}

export const policyExplain: Command = {
  name: 'policy explain',
  summary: 'which rule decides a request and why (a dry run of the policy, no server)',
  usage: '--sub <subject> --connection <name> [--access read] [--groups g1,g2] [--ttl 30m]',
  details: 'Exits 0 when the request would be granted, 3 when it needs approval, 4 when it would be denied.',
  options: {
    sub: { type: 'string', value: '<subject>', description: "the identity token's sub, e.g. agent:demo" },
    groups: { type: 'string', multiple: true, value: '<g1,g2>', description: 'groups of the caller' },
    claim: {
      type: 'string',
      multiple: true,
      value: '<name=value>',
      description: 'another claim, for rules matching `claims`',
    },
    email: { type: 'string', value: '<email>', description: "the caller's email claim" },
    connection: { type: 'string', short: 'c', value: '<name>', description: 'the connection asked for' },
    access: {
      type: 'string',
      short: 'a',
      value: '<profile>',
      description: 'the access profile asked for (default read)',
    },
    ttl: {
      type: 'string',
      value: '<duration>',
      description: "the TTL asked for, e.g. 15m (default: the rule's maxTtl)",
    },
    file: {
      type: 'string',
      short: 'f',
      value: '<path>',
      description: 'the policy file (default $AIRLOCK_POLICY or ./airlock.policy.yaml)',
      complete: 'file',
    },
    json: { type: 'boolean', description: 'print the decision and the rule trace as JSON' },
  },
  positionals: { min: 0, max: 0 },
  examples: ['airlock policy explain --sub agent:demo --groups finance --connection shop --access write'],
  async run({ flags, ctx }) {
    const subject = flag.string(flags, 'sub');
    const connection = flag.string(flags, 'connection');
    if (!subject || !connection)
      throw usageError('--sub and --connection are required', 'see: airlock policy explain --help');
    const access = flag.string(flags, 'access') ?? 'read';
    const ttlText = flag.string(flags, 'ttl');
    const ttlSeconds =
      ttlText === undefined ? Number.MAX_SAFE_INTEGER : parseDurationSeconds(ttlText, { name: '--ttl', bareUnit: 'm' });
    const groups = flag
      .list(flags, 'groups')
      .flatMap((item) => item.split(','))
      .map((group) => group.trim())
      .filter(Boolean);
    const claims: Record<string, unknown> = {};
    for (const pair of flag.list(flags, 'claim')) {
      const at = pair.indexOf('=');
      if (at <= 0) throw usageError(`--claim expects name=value, got "${pair}"`);
      claims[pair.slice(0, at)] = pair.slice(at + 1);
    }
    const email = flag.string(flags, 'email') ?? null;
    const principal: Principal = {
      subject,
      issuer: '(policy explain)',
      groups,
      email,
      claims: { ...claims, sub: subject, groups, ...(email ? { email } : {}) },
    };

    const policy = await load(policyPath(ctx, flag.string(flags, 'file')));
    const { decide, globMatch } = await policyModules();
    const decision = decide(policy, { connection, access, ttlSeconds }, principal);
    const trace = traceRules(policy.rules, connection, access, principal, decision, globMatch);
    if (flag.bool(flags, 'json')) {
      ctx.stdout.write(
        `${JSON.stringify({ decision: plainDecision(decision, ttlText !== undefined), rules: trace }, null, 2)}\n`,
      );
    } else {
      ctx.stdout.write(describe(policy, decision, trace, connection, access, ttlText !== undefined, ctx.out));
    }
    return decision.outcome === 'granted' ? EXIT.ok : decision.outcome === 'approval' ? EXIT.pending : EXIT.refused;
  },
};

function traceRules(
  rules: Rule[],
  connection: string,
  access: string,
  principal: Principal,
  decision: Decision,
  globMatch: (pattern: string, value: string) => boolean,
): RuleTrace[] {
  const deciding = decision.outcome === 'denied' ? undefined : decision.rule;
  let reached = true;
  return rules.map((rule, index) => {
    if (!reached) return { index, name: rule.name, result: 'not reached', why: 'an earlier rule decided' };
    const misses: string[] = [];
    if (rule.connection !== connection) misses.push(`connection is ${rule.connection}, not ${connection}`);
    if (rule.access !== access) misses.push(`access is ${rule.access}, not ${access}`);
    if (rule.when.subject !== undefined && !globMatch(rule.when.subject, principal.subject))
      misses.push(`subject "${rule.when.subject}" does not match ${principal.subject}`);
    if (rule.when.groups !== undefined && !rule.when.groups.some((group) => principal.groups.includes(group)))
      misses.push(`needs one of groups ${rule.when.groups.join(', ')}`);
    for (const [name, expected] of Object.entries(rule.when.claims ?? {})) {
      if (String(principal.claims[name] ?? '') !== String(expected))
        misses.push(`needs claim ${name}=${String(expected)}`);
    }
    if (rule === deciding) {
      reached = false;
      const matched = [`connection ${connection}`, `access ${access}`];
      if (rule.when.subject !== undefined) matched.push(`subject "${rule.when.subject}" matches ${principal.subject}`);
      if (rule.when.groups !== undefined)
        matched.push(`in group ${rule.when.groups.filter((group) => principal.groups.includes(group)).join(', ')}`);
      for (const name of Object.keys(rule.when.claims ?? {})) matched.push(`claim ${name} matches`);
      return { index, name: rule.name, result: 'decides', why: matched.join(', ') };
    }
    return { index, name: rule.name, result: 'no match', why: misses.join('; ') || 'does not match' };
  });
}

function plainDecision(decision: Decision, ttlGiven: boolean) {
  if (decision.outcome === 'denied') return decision;
  const { rule, ...rest } = decision;
  return { ...rest, clamped: ttlGiven && decision.clamped, rule: rule.name };
}

function describe(
  policy: Policy,
  decision: Decision,
  trace: RuleTrace[],
  connection: string,
  access: string,
  ttlGiven: boolean,
  style: Style,
): string {
  const lines: string[] = [];
  if (decision.outcome === 'denied') lines.push(`${style.red('DENIED')}: ${decision.reason}`);
  else {
    const index = policy.rules.indexOf(decision.rule);
    const window = `window ${formatSeconds(decision.ttlSeconds)}${ttlGiven && decision.clamped ? " (clamped to the rule's maxTtl)" : ttlGiven ? '' : " (the rule's maxTtl)"}`;
    if (decision.outcome === 'granted')
      lines.push(`${style.green('GRANTED')} automatically by rule ${decision.rule.name} (rules[${index}]); ${window}`);
    else
      lines.push(
        `${style.yellow('NEEDS APPROVAL')} by rule ${decision.rule.name} (rules[${index}]): ${decision.required} of ${decision.approvers.join(', ')}; ${window}`,
      );
  }
  if (trace.length) {
    lines.push('', 'rules, in order (the first match decides):');
    for (const rule of trace) {
      const mark = rule.result === 'decides' ? style.green('✓') : rule.result === 'no match' ? '✗' : style.dim('·');
      lines.push(
        `  ${mark} rules[${rule.index}] ${rule.name}: ${rule.result === 'decides' ? `${rule.why} → decides` : rule.result === 'not reached' ? style.dim('not reached') : rule.why}`,
      );
    }
  }
  const profile = policy.connections[connection]?.profiles[access];
  if (profile && decision.outcome !== 'denied') {
    lines.push(
      '',
      `profile ${connection}/${access}: ${profile.readOnly ? 'read-only transactions' : 'reads and writes'}; member of ${profile.memberOf.join(', ') || 'nothing'}`,
    );
    const guardrails = policy.guardrails.map(
      (g) =>
        `${g.name} (${g.statements.join(', ')}${g.when === 'no-where' ? ' with no WHERE' : ''}${g.tables ? ` on ${g.tables.join(', ')}` : ''} → ${g.action === 'block' ? 'blocked' : `held for ${g.approvers?.join(', ')}`})`,
    );
    if (guardrails.length) lines.push(`guardrails on each statement: ${guardrails.join('; ')}`);
  }
  return `${lines.join('\n')}\n`;
}
