// The one place where an error code becomes an HTTP status and the API's error body.
// Unknown errors become a bare 500 with no message detail: never a stack, never a secret.

import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AirlockError, type ErrorCode } from '../errors.ts';

export const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  invalid_request: 400,
  sql_syntax: 400,
  statement_too_complex: 400,
  multiple_statements: 400,
  db_error: 400,
  unauthenticated: 401,
  grant_expired: 401,
  grant_revoked: 403,
  statement_blocked: 403,
  approval_required: 202,
  policy_denied: 403,
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

export interface ErrorBody {
  error: { code: ErrorCode; message: string; [field: string]: unknown };
  [field: string]: unknown;
}

/** `approval` travels beside `error`, as API.md shows; every other detail goes inside it. */
export function errorBody(error: AirlockError): ErrorBody {
  const { approval, ...details } = error.details;
  return { error: { code: error.code, message: error.message, ...details }, ...(approval ? { approval } : {}) };
}

export function toAirlockError(error: unknown): AirlockError {
  if (error instanceof AirlockError) return error;
  return new AirlockError('internal', 'internal error');
}

export function errorResponse(c: Context, error: unknown): Response {
  const airlockError = toAirlockError(error);
  const status = STATUS[airlockError.code];
  if (airlockError.code === 'internal' || airlockError.code === 'invalid_config') {
    // Log the cause for operators; the caller sees only the code.
    console.error(`[airlock] ${c.req.method} ${c.req.path}: ${describe(error)}`);
    return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
  }
  if (airlockError.code === 'unavailable')
    console.error(`[airlock] ${c.req.method} ${c.req.path}: ${describe(airlockError.cause ?? error)}`);
  return c.json(errorBody(airlockError), status);
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
