// The `airlock` command line: finds the command, parses its flags, runs it, and turns every failure
// into a message, a hint and a documented exit code. Must never print a token or a stack trace.

import { readFile } from 'node:fs/promises';
import { type ApiClient, ApiError, createApiClient } from './api.ts';
import {
  type CliContext,
  type CliEnvironment,
  type Command,
  commandHelp,
  flag,
  GLOBAL_OPTIONS,
  parseCommand,
} from './args.ts';
import { ADMIN_COMMANDS } from './commands/admin.ts';
import { approvals, approve, deny } from './commands/approvals.ts';
import { audit, replay } from './commands/audit.ts';
import { devToken } from './commands/dev.ts';
import { grants, revoke, status } from './commands/grants.ts';
import { policyCheck, policyExplain } from './commands/policy.ts';
import { query } from './commands/query.ts';
import { request } from './commands/request.ts';
import { CliError, EXIT, usageError } from './exit.ts';
import { configDir, createGrantTokenStore, type GrantTokenStore } from './grant-tokens.ts';
import { type Output, styleFor } from './render.ts';

const COMMANDS: Command[] = [
  request,
  query,
  grants,
  status,
  revoke,
  audit,
  replay,
  policyCheck,
  policyExplain,
  devToken,
  approvals,
  approve,
  deny,
  ...ADMIN_COMMANDS,
];
const GROUPS = new Set(
  COMMANDS.filter((command) => command.name.includes(' ')).map((command) => command.name.split(' ')[0]!),
);
const VALUE_OPTIONS = new Set(
  Object.entries(GLOBAL_OPTIONS)
    .filter(([, spec]) => spec.type === 'string')
    .map(([name]) => `--${name}`),
);

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return `airlock — just-in-time, least-privilege access to PostgreSQL

usage: airlock <command> [options]      airlock <command> --help

commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join('\n')}

environment:
  AIRLOCK_URL            Airlock base URL (default http://127.0.0.1:8787); --url
  AIRLOCK_TOKEN          identity token; --token
  AIRLOCK_TOKEN_COMMAND  a command printing an identity token (e.g. a workload-identity helper)
  AIRLOCK_CONFIG_DIR     where grant tokens are kept (default ~/.config/airlock, file mode 0600)
  AIRLOCK_POLICY         the policy file for \`policy check\` and \`policy explain\`

exit codes: 0 ok · 1 error · 2 usage · 3 approval required or pending · 4 denied, blocked, expired or revoked
`;
}

/** The command named by the first words of argv (skipping global options and their values), and the rest. */
function findCommand(args: string[]): { command?: Command; rest: string[]; named: string[] } {
  const words: number[] = [];
  for (let index = 0; index < args.length && words.length < 2; index++) {
    const arg = args[index]!;
    if (arg === '--') break;
    if (VALUE_OPTIONS.has(arg)) index++;
    else if (!arg.startsWith('-')) {
      if (words.length === 1 && !GROUPS.has(args[words[0]!]!)) break;
      words.push(index);
    }
  }
  const named = words.map((index) => args[index]!);
  const command =
    COMMANDS.find((candidate) => candidate.name === named.join(' ')) ??
    COMMANDS.find((candidate) => candidate.name === named[0]);
  const used = command ? words.slice(0, command.name.split(' ').length) : [];
  return { command, rest: args.filter((_, index) => !used.includes(index)), named };
}

async function runCli(args: string[], ctx: CliEnvironment): Promise<number> {
  const { command, rest, named } = findCommand(args);
  try {
    if (!command) {
      if (args.includes('--version')) {
        const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
          version: string;
        };
        ctx.stdout.write(`airlock ${pkg.version}\n`);
        return EXIT.ok;
      }
      if (named.length === 0 || named[0] === 'help') {
        const topic = named[0] === 'help' ? findCommand(args.slice(args.indexOf('help') + 1)).command : undefined;
        ctx.stdout.write(topic ? commandHelp(topic) : topHelp());
        return named.length === 0 && !args.some((arg) => arg === '--help' || arg === '-h') ? EXIT.usage : EXIT.ok;
      }
      if (GROUPS.has(named[0]!)) {
        const sub = COMMANDS.filter((candidate) => candidate.name.startsWith(`${named[0]} `));
        const asked = args.includes('--help') || args.includes('-h');
        const width = Math.max(...sub.map((candidate) => candidate.name.length));
        const list = sub.map((candidate) => `  ${candidate.name.padEnd(width)}  ${candidate.summary}`).join('\n');
        (asked ? ctx.stdout : ctx.stderr).write(
          `usage: airlock ${named[0]} <${sub.map((candidate) => candidate.name.split(' ')[1]).join('|')}> [options]\n${list}\n`,
        );
        return asked ? EXIT.ok : EXIT.usage;
      }
      throw usageError(`unknown command "${named.join(' ')}"`, 'see: airlock --help');
    }
    const { flags, positionals } = parseCommand(command, rest);
    if (flag.bool(flags, 'help')) {
      ctx.stdout.write(commandHelp(command));
      return EXIT.ok;
    }
    let api: ApiClient | undefined;
    const scoped: CliContext = {
      ...ctx,
      api: () =>
        (api ??= createApiClient({ url: flag.string(flags, 'url'), token: flag.string(flags, 'token'), env: ctx.env })),
    };
    return await command.run({ flags, positionals, ctx: scoped });
  } catch (error) {
    return report(ctx, error);
  }
}

function report(ctx: CliEnvironment, error: unknown): number {
  const style = ctx.err;
  if (error instanceof CliError) {
    const code = error instanceof ApiError ? `${error.code}: ` : '';
    const lines = [`${style.red('airlock:')} ${code}${error.message}`];
    if (error instanceof ApiError) {
      const { issues, guardrail } = error.body.error as { issues?: unknown; guardrail?: unknown };
      if (Array.isArray(issues)) lines.push(...issues.map((issue) => `  ${String(issue)}`));
      if (typeof guardrail === 'string') lines.push(`  guardrail: ${guardrail}`);
    }
    if (error.hint) lines.push(`${style.dim('hint:')} ${error.hint}`);
    ctx.stderr.write(`${lines.join('\n')}\n`);
    return error.exitCode;
  }
  ctx.stderr.write(
    `${style.red('airlock:')} unexpected failure: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  return EXIT.error;
}

function nodeEnvironment(): CliEnvironment {
  const env = process.env;
  const output = (stream: NodeJS.WriteStream): Output => ({
    write: (text) => void stream.write(text),
    isTTY: stream.isTTY === true,
  });
  const stdout = output(process.stdout);
  const stderr = output(process.stderr);
  let tokens: GrantTokenStore | undefined;
  return {
    env,
    stdout,
    stderr,
    out: styleFor(stdout, env),
    err: styleFor(stderr, env),
    stdinIsTTY: process.stdin.isTTY === true,
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    tokens: () => (tokens ??= createGrantTokenStore({ dir: configDir(env) })),
    now: () => new Date(),
  };
}

process.exitCode = await runCli(process.argv.slice(2), nodeEnvironment());
