// Runs one command line against a command table: finds the command, parses its flags, runs it, and
// turns every failure into a message, a hint and a documented exit code. Must never print a token or a stack.

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
import { CliError, EXIT, usageError } from './exit.ts';

const VALUE_OPTIONS = new Set(
  Object.entries(GLOBAL_OPTIONS)
    .filter(([, spec]) => spec.type === 'string')
    .map(([name]) => `--${name}`),
);

/** `policy` and `dev`: first words shared by several commands. */
export function commandGroups(commands: readonly Command[]): Set<string> {
  return new Set(
    commands.filter((command) => command.name.includes(' ')).map((command) => command.name.split(' ')[0]!),
  );
}

function topHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return `airlock — just-in-time, least-privilege access to PostgreSQL

usage: airlock <command> [options]      airlock <command> --help

commands:
${commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join('\n')}

environment:
  AIRLOCK_URL            Airlock base URL (default http://127.0.0.1:8787); --url
  AIRLOCK_TOKEN          identity token; --token
  AIRLOCK_TOKEN_COMMAND  a command printing an identity token (e.g. a workload-identity helper)
  AIRLOCK_CONFIG_DIR     where grant tokens are kept (default ~/.config/airlock, file mode 0600)
  AIRLOCK_POLICY         the policy file for \`policy check\` and \`policy explain\`

exit codes: 0 ok · 1 error · 2 usage · 3 approval required or pending · 4 denied, blocked, expired or revoked · 130 interrupted
`;
}

/** The command named by the first words of argv (skipping global options and their values), and the rest. */
export function findCommand(
  commands: readonly Command[],
  args: string[],
): { command?: Command; rest: string[]; named: string[] } {
  const groups = commandGroups(commands);
  const words: number[] = [];
  for (let index = 0; index < args.length && words.length < 2; index++) {
    const arg = args[index]!;
    if (arg === '--') break;
    if (VALUE_OPTIONS.has(arg)) index++;
    else if (!arg.startsWith('-')) {
      if (words.length === 1 && !groups.has(args[words[0]!]!)) break;
      words.push(index);
    }
  }
  const named = words.map((index) => args[index]!);
  const command =
    commands.find((candidate) => candidate.name === named.join(' ')) ??
    commands.find((candidate) => candidate.name === named[0]);
  const used = command ? words.slice(0, command.name.split(' ').length) : [];
  return { command, rest: args.filter((_, index) => !used.includes(index)), named };
}

export async function runCli(args: string[], ctx: CliEnvironment, commands: readonly Command[]): Promise<number> {
  const { command, rest, named } = findCommand(commands, args);
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
        const topic =
          named[0] === 'help' ? findCommand(commands, args.slice(args.indexOf('help') + 1)).command : undefined;
        ctx.stdout.write(topic ? commandHelp(topic) : topHelp(commands));
        return named.length === 0 && !args.some((arg) => arg === '--help' || arg === '-h') ? EXIT.usage : EXIT.ok;
      }
      if (commandGroups(commands).has(named[0]!)) {
        const sub = commands.filter((candidate) => candidate.name.startsWith(`${named[0]} `));
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
    if (error instanceof ApiError) lines.push(...error.detailLines());
    if (error.hint) lines.push(`${style.dim('hint:')} ${error.hint}`);
    ctx.stderr.write(`${lines.join('\n')}\n`);
    return error.exitCode;
  }
  ctx.stderr.write(
    `${style.red('airlock:')} unexpected failure: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  return EXIT.error;
}
