// Exit codes and the CLI's one error type: every failure leaves with a message, a hint and a code
// a script can branch on. Must never print a token or a stack trace.

/** Documented in the README (Exit codes); scripts depend on these numbers. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  /** A human must act first: approval required or still pending. */
  pending: 3,
  /** Refused or ended: policy denied, statement blocked, grant denied, expired or revoked. */
  refused: 4,
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

/** The exit code for an API error code (API.md's table). */
export function exitCodeFor(code: string): ExitCode {
  switch (code) {
    case 'approval_required':
      return EXIT.pending;
    case 'policy_denied':
    case 'statement_blocked':
    case 'grant_expired':
    case 'grant_revoked':
      return EXIT.refused;
    default:
      return EXIT.error;
  }
}
