// Commands as data: each declares its usage, options and positionals; parsing (node:util parseArgs,
// strict) and every `--help` text come from that one declaration.

import { parseArgs } from 'node:util';
import type { ApiClient } from './api.ts';
import { usageError } from './exit.ts';
import type { GrantTokenStore } from './grant-tokens.ts';
import type { Output, Style } from './render.ts';

/** What a shell may offer for a value: file names, or a fixed list of words. */
export type Completion = 'file' | readonly string[];

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder in help, e.g. `<duration>`. */
  value?: string;
  description: string;
  /** Values a shell completes for it; omitted: free text. */
  complete?: Completion;
}

/** The process around the CLI: environment, streams, the kept grant tokens, the clock. */
export interface CliEnvironment {
  env: Record<string, string | undefined>;
  stdout: Output;
  stderr: Output;
  /** Styles for stdout and stderr (plain unless that stream is a terminal). */
  out: Style;
  err: Style;
  readStdin(): Promise<string>;
  stdinIsTTY: boolean;
  tokens(): GrantTokenStore;
  now(): Date;
  /** Calls `handler` on Ctrl-C (SIGINT) instead of ending the process, until the returned function is called. */
  onInterrupt(handler: () => void): () => void;
}

/** What a command runs with: the environment plus the API client its --url and --token chose. */
export interface CliContext extends CliEnvironment {
  api(): ApiClient;
}

export type Flags = ReturnType<typeof parseArgs>['values'];

export interface CommandInput {
  flags: Flags;
  positionals: string[];
  ctx: CliContext;
}

export interface Command {
  /** `query`, or `policy check` for a subcommand. */
  name: string;
  summary: string;
  /** After `airlock <name>`, e.g. `<connection> [options]`. */
  usage: string;
  details?: string;
  options: Record<string, OptionSpec>;
  /** How many words follow the command, what one is called (for completion), and what a shell offers for it. */
  positionals: { min: number; max: number; name?: string; complete?: Completion };
  examples?: string[];
  run(input: CommandInput): Promise<number>;
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: {
    type: 'string',
    value: '<url>',
    description: 'Airlock base URL (env AIRLOCK_URL, default http://127.0.0.1:8787)',
  },
  token: {
    type: 'string',
    value: '<jwt>',
    description: 'identity token (env AIRLOCK_TOKEN, or AIRLOCK_TOKEN_COMMAND prints one)',
  },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};

export function parseCommand(command: Command, args: string[]): { flags: Flags; positionals: string[] } {
  const options = { ...GLOBAL_OPTIONS, ...command.options };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      options: Object.fromEntries(
        Object.entries(options).map(([name, spec]) => [
          name,
          {
            type: spec.type,
            ...(spec.short ? { short: spec.short } : {}),
            ...(spec.multiple ? { multiple: true } : {}),
          },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw usageError(
      (error as Error).message.replace(/\. To specify a positional argument.*$/s, ''),
      `see: airlock ${command.name} --help`,
    );
  }
  if (parsed.values.help) return { flags: parsed.values, positionals: parsed.positionals };
  const { min, max } = command.positionals;
  if (parsed.positionals.length < min)
    throw usageError(
      `missing argument: airlock ${command.name} ${command.usage}`,
      `see: airlock ${command.name} --help`,
    );
  if (parsed.positionals.length > max)
    throw usageError(
      `unexpected argument "${parsed.positionals[max]}"`,
      `see: airlock ${command.name} --help (quote SQL as one argument)`,
    );
  return { flags: parsed.values, positionals: parsed.positionals };
}

export function commandHelp(command: Command): string {
  const lines = [
    `airlock ${command.name} — ${command.summary}`,
    '',
    `usage: airlock ${command.name} ${command.usage}`.trimEnd(),
  ];
  if (command.details) lines.push('', command.details);
  const own = Object.entries(command.options);
  if (own.length) lines.push('', 'options:', ...optionLines(own));
  lines.push('', 'global options:', ...optionLines(Object.entries(GLOBAL_OPTIONS)));
  if (command.examples?.length) lines.push('', 'examples:', ...command.examples.map((example) => `  ${example}`));
  return `${lines.join('\n')}\n`;
}

function optionLines(entries: Array<[string, OptionSpec]>): string[] {
  const labels = entries.map(
    ([name, spec]) => `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`,
  );
  const width = Math.max(...labels.map((label) => label.length));
  return entries.map(
    ([, spec], index) =>
      `  ${labels[index]!.padEnd(width)}  ${spec.description}${spec.multiple ? ' (repeatable)' : ''}`,
  );
}

/** Typed readers of parsed flags. */
export const flag = {
  string: (flags: Flags, name: string): string | undefined => {
    const value = flags[name];
    return typeof value === 'string' ? value : undefined;
  },
  bool: (flags: Flags, name: string): boolean => flags[name] === true,
  list: (flags: Flags, name: string): string[] => {
    const value = flags[name];
    return Array.isArray(value)
      ? value.filter((item): item is string => typeof item === 'string')
      : typeof value === 'string'
        ? [value]
        : [];
  },
};
