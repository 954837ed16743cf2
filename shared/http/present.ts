// The one place where an error becomes what a caller sees: the HTTP status, the API's error body and headers.
// Every front door (HTTP routes, MCP tools, approval pages, the Lambda runtime) presents errors through it.
// Unknown errors become a bare 500 with no detail: never a stack, never a secret, never the cause's text.

import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ErrorBody } from '../api/index.ts';
import { AirlockError, type ErrorCode } from '../errors.ts';

export const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  invalid_request: 400,
  sql_syntax: 400,
  multiple_statements: 400,
  statement_too_complex: 400,
  db_error: 400,
  unauthenticated: 401,
  grant_expired: 401,
  grant_revoked: 403,
  statement_blocked: 403,
  approval_required: 202,
  policy_denied: 403,
  locked: 403,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  too_large: 413,
  misdirected: 421,
  rate_limited: 429,
  unavailable: 503,
  invalid_config: 500,
  internal: 500,
};

export interface Presentation {
  status: ContentfulStatusCode;
  body: ErrorBody;
  headers: Record<string, string>;
  /** The error the caller sees (internal causes replaced). */
  error: AirlockError;
  /** How loudly operators should hear of it; the cause goes to logs only, never to the caller. */
  severity: 'info' | 'error';
  cause?: unknown;
}

/** The AirlockError a thrown value stands for; anything unexpected is `internal`. */
export function toAirlockError(error: unknown): AirlockError {
  if (error instanceof AirlockError) return error;
  if (error instanceof HTTPException) {
    // Hono's own refusals of a body: a malformed JSON body, or one that is not JSON at all.
    if (error.status === 415) return new AirlockError('invalid_request', 'expected Content-Type: application/json');
    if (error.status === 400) return new AirlockError('invalid_request', 'the body is not valid JSON');
    if (error.status === 413) return new AirlockError('too_large', 'the request body is too large');
  }
  return new AirlockError('internal', 'internal error', {}, { cause: error });
}

export interface PresentContext {
  requestId?: string;
  /** RFC 9728 metadata URL named by every 401's WWW-Authenticate header. */
  resourceMetadata?: string;
}

export function presentError(thrown: unknown, context: PresentContext = {}): Presentation {
  let error = toAirlockError(thrown);
  // A configuration fault is the operator's to fix; the caller learns only that it is not theirs.
  const internal = error.code === 'internal' || error.code === 'invalid_config';
  const cause = internal || error.code === 'unavailable' ? (error.cause ?? thrown) : undefined;
  if (internal) error = new AirlockError('internal', 'internal error');
  const headers: Record<string, string> = {};
  if (STATUS[error.code] === 401) {
    headers['www-authenticate'] = context.resourceMetadata
      ? `Bearer resource_metadata="${context.resourceMetadata}"`
      : 'Bearer';
  }
  if (error.code === 'rate_limited') {
    const retryAfter = (error.details as { retryAfterSeconds?: number }).retryAfterSeconds;
    if (retryAfter !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfter)));
  }
  return {
    status: STATUS[error.code],
    body: errorBody(error, context.requestId),
    headers,
    error,
    severity: internal || error.code === 'unavailable' ? 'error' : 'info',
    cause,
  };
}

/** The API's error body of an error: its code, message and typed details (and the request id). */
export function errorBody(error: AirlockError, requestId?: string): ErrorBody {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details as Record<string, unknown>),
      ...(requestId ? { requestId } : {}),
    },
  };
}
