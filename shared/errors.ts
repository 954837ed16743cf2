// One error family for the whole code base: a stable `code` callers branch on, never the message.
// The HTTP status for each code lives in shared/http/errors.ts and nowhere else.

export type ErrorCode =
  | 'invalid_request'
  | 'sql_syntax'
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

/** A quota is spent: `retryAfterSeconds` becomes the response's `retry-after` header. */
export function rateLimited(message: string, details: { quota: string; limit?: number; retryAfterSeconds: number }) {
  const wait = details.retryAfterSeconds;
  const retryAfterSeconds = Number.isFinite(wait) ? Math.max(1, Math.ceil(wait)) : 1;
  return new AirlockError('rate_limited', message, { ...details, retryAfterSeconds });
}

/** Wraps a failure of a backing service so that callers fail closed with `unavailable`. */
export function unavailable(what: string, cause: unknown): AirlockError {
  return new AirlockError('unavailable', `${what} is unavailable; nothing was run`, {}, { cause });
}
