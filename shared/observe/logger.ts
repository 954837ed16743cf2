// The process log: pino JSON lines (or a pretty terminal stream), levels set by AIRLOCK_LOG, secrets redacted.
// Must never receive a token, SQL text, a parameter or a row value; causes go through describeCause().

import pino from 'pino';
import { isAirlockError } from '../errors.ts';
import type { LogLevel } from './level.ts';

export type Logger = pino.Logger;

/** Where lines go: anything with a synchronous `write(line)` (stdout, a pretty stream, a test's array). */
export interface LogDestination {
  write(line: string): unknown;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Default: stdout, written synchronously (a Lambda may be frozen right after it answers). */
  destination?: LogDestination;
  /** Fields on every line (e.g. the function's name). */
  base?: Record<string, string>;
}

/**
 * Field names that may carry a secret or a value if someone logs a whole object by mistake: replaced on
 * every line, at the top level and one level down. The code never logs them on purpose.
 */
const REDACTED_KEYS = [
  'authorization',
  'token',
  'password',
  'secret',
  'key',
  'sql',
  'params',
  'rows',
  'body',
  'headers',
];

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? null,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_KEYS.flatMap((key) => [key, `*.${key}`]), censor: '[redacted]' },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that drops every line. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export interface CauseSummary {
  name: string;
  message: string;
  /** A driver or system code (SQLSTATE, ECONNREFUSED, an AirlockError code), when there is one. */
  code?: string;
  cause?: CauseSummary;
}

const MAX_MESSAGE = 300;
// Quoted runs and `(...)=(...)` key details are where drivers echo values: they never reach a log line.
const QUOTED = /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g;
const KEY_DETAIL = /\([^()]*\)=\([^()]*\)/g;

/** What an error was, for operators: its name, a scrubbed message and its code, down a short cause chain. */
export function describeCause(error: unknown, depth = 0): CauseSummary {
  if (!(error instanceof Error))
    return { name: typeof error, message: error === undefined ? 'undefined' : 'non-error' };
  const code = isAirlockError(error) ? error.code : (error as { code?: unknown }).code;
  // Airlock's own messages name things, never values; anything else may quote what it was given.
  const summary: CauseSummary = {
    name: error.name,
    message: isAirlockError(error) ? error.message : scrub(error.message),
  };
  if (typeof code === 'string' || typeof code === 'number') summary.code = String(code);
  if (error.cause !== undefined && depth < 3) summary.cause = describeCause(error.cause, depth + 1);
  return summary;
}

function scrub(message: string): string {
  const plain = message.replace(QUOTED, '"…"').replace(KEY_DETAIL, '(…)=(…)');
  return plain.length > MAX_MESSAGE ? `${plain.slice(0, MAX_MESSAGE)}…` : plain;
}
