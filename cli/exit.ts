// Exit codes and the CLI's one error type: every failure leaves with a message, a hint and a code
// a script can branch on. Must never print a token or a stack trace.

import type { ErrorCode } from '../shared/errors.ts';

/** Documented in docs/cli.md (Exit codes); scripts depend on these numbers. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  /** A human must act first: approval required or still pending. */
  pending: 3,
  /** Refused or ended: policy denied, locked, forbidden, statement blocked, grant denied, expired or revoked. */
  refused: 4,
  /** Ctrl-C: the shell's 128 + SIGINT. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.error,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export const usageError = (message: string, hint?: string) => new CliError(message, EXIT.usage, hint);

/** Every API error code has its exit code here: a code added to the API does not build until it is mapped. */
export const EXIT_FOR_CODE: Record<ErrorCode, ExitCode> = {
  invalid_request: EXIT.error,
  sql_syntax: EXIT.error,
  multiple_statements: EXIT.error,
  statement_too_complex: EXIT.error,
  db_error: EXIT.error,
  unauthenticated: EXIT.error,
  grant_expired: EXIT.refused,
  grant_revoked: EXIT.refused,
  statement_blocked: EXIT.refused,
  approval_required: EXIT.pending,
  policy_denied: EXIT.refused,
  locked: EXIT.refused,
  forbidden: EXIT.refused,
  not_found: EXIT.error,
  conflict: EXIT.error,
  gone: EXIT.error,
  too_large: EXIT.error,
  misdirected: EXIT.error,
  rate_limited: EXIT.error,
  unavailable: EXIT.error,
  invalid_config: EXIT.error,
  internal: EXIT.error,
};

/** The exit code for the error code of an API answer; one this CLI does not know (a newer server's) is an error. */
export function exitCodeFor(code: string): ExitCode {
  return Object.hasOwn(EXIT_FOR_CODE, code) ? EXIT_FOR_CODE[code as ErrorCode] : EXIT.error;
}
