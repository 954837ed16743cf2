// One error family for the whole code base: a stable `code` callers branch on, never the message.
// The HTTP status for each code lives in shared/http/errors.ts and nowhere else.

export type ErrorCode =
  | 'invalid_request'
  | 'sql_syntax'
  | 'statement_too_complex'
  | 'multiple_statements'
  | 'db_error'
  | 'unauthenticated'
  | 'grant_expired'
  | 'grant_revoked'
  | 'statement_blocked'
  | 'approval_required'
  | 'policy_denied'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'gone'
  | 'too_large'
  | 'misdirected'
  | 'rate_limited'
  | 'unavailable'
  | 'invalid_config'
  | 'internal';

export class AirlockError extends Error {
  override readonly name = 'AirlockError';
  readonly code: ErrorCode;
  /** Extra fields for the API's error body (issues, position, sqlstate, guardrail, approval). */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}

export function isAirlockError(error: unknown, code?: ErrorCode): error is AirlockError {
  return error instanceof AirlockError && (code === undefined || error.code === code);
}

/** Wraps a failure of a backing service so that callers fail closed with `unavailable`. */
export function unavailable(what: string, cause: unknown): AirlockError {
  return new AirlockError('unavailable', `${what} is unavailable; nothing was run`, {}, { cause });
}
