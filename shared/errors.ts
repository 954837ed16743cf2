// One error family for the whole code base: a stable `code` callers branch on, never the message.
// The HTTP status for each code lives in shared/http/present.ts and nowhere else.

export const ERROR_CODES = [
  'invalid_request',
  'sql_syntax',
  'multiple_statements',
  'statement_too_complex',
  'db_error',
  'unauthenticated',
  'grant_expired',
  'grant_revoked',
  'statement_blocked',
  'approval_required',
  'policy_denied',
  'locked',
  'forbidden',
  'not_found',
  'conflict',
  'gone',
  'too_large',
  'misdirected',
  'rate_limited',
  'unavailable',
  'invalid_config',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The public fields each code may carry beside `code` and `message` (the API's error body). */
export interface ErrorDetails {
  invalid_request: { issues?: string[] };
  sql_syntax: { position?: number };
  multiple_statements: { count?: number };
  statement_too_complex: { cost?: number; budget?: number; depth?: number; maxDepth?: number };
  db_error: { sqlstate?: string };
  unauthenticated: Record<string, never>;
  grant_expired: { sqlstate?: string };
  grant_revoked: Record<string, never>;
  statement_blocked: { guardrail?: string };
  approval_required: { guardrail?: string };
  policy_denied: Record<string, never>;
  locked: { lock?: { id: string; reason: string } };
  forbidden: Record<string, never>;
  not_found: Record<string, never>;
  conflict: { sqlstate?: string };
  gone: Record<string, never>;
  too_large: Record<string, never>;
  misdirected: Record<string, never>;
  rate_limited: { quota?: string; limit?: number; retryAfterSeconds?: number };
  unavailable: {
    sqlstate?: string;
    /** A lock that holds although not every grant it covers could be ended: what was done, what was not. */
    lock?: { id: string; reason: string };
    revoked?: string[];
    denied?: string[];
    failed?: string[];
    unlisted?: string[];
    /** A connection whose database does not match the policy: each mismatch, naming its path in the file. */
    findings?: string[];
  };
  invalid_config: { sqlstate?: string; issues?: string[] };
  internal: Record<string, never>;
}

export class AirlockError<C extends ErrorCode = ErrorCode> extends Error {
  override readonly name: string = 'AirlockError';
  readonly code: C;
  /** Extra fields for the API's error body, typed by code. */
  readonly details: ErrorDetails[C];

  constructor(code: C, message: string, details?: ErrorDetails[C], options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details ?? ({} as ErrorDetails[C]);
  }
}

export function isAirlockError<C extends ErrorCode = ErrorCode>(error: unknown, code?: C): error is AirlockError<C> {
  return error instanceof AirlockError && (code === undefined || error.code === code);
}

/** A quota is spent: `retryAfterSeconds` becomes the response's `retry-after` header. */
export function rateLimited(
  message: string,
  details: { quota: string; limit?: number; retryAfterSeconds: number },
): AirlockError<'rate_limited'> {
  const wait = details.retryAfterSeconds;
  const retryAfterSeconds = Number.isFinite(wait) ? Math.max(1, Math.ceil(wait)) : 1;
  return new AirlockError('rate_limited', message, { ...details, retryAfterSeconds });
}

/** Wraps a failure of a backing service so that callers fail closed with `unavailable`. */
export function unavailable(what: string, cause: unknown): AirlockError<'unavailable'> {
  return new AirlockError('unavailable', `${what} is unavailable; nothing was run`, {}, { cause });
}

/** The audit log could not record an event: whatever it was about must not happen (or must be rolled back). */
export class AuditUnavailable extends AirlockError<'unavailable'> {
  override readonly name = 'AuditUnavailable';
  constructor(message: string, cause?: unknown) {
    super('unavailable', message, {}, { cause });
  }
}

/** A genuine grant token whose window has passed: carries the grant it names, so the attempt can be recorded. */
export class GrantTokenExpired extends AirlockError<'grant_expired'> {
  override readonly name = 'GrantTokenExpired';
  readonly grantId: string;
  readonly subject: string;
  constructor(grant: { grantId: string; subject: string }) {
    super('grant_expired', 'the grant token has expired');
    this.grantId = grant.grantId;
    this.subject = grant.subject;
  }
}
