// The request a piece of code runs for: its id, who and which grant it touched, and why it failed.
// Must never hold a token, SQL or a value: only what the request's one log line may show.

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import type { ErrorCode } from '../errors.ts';

export interface RequestScope {
  requestId: string;
  /** The subject the request acted as or for (identity principal, or the grant's subject). */
  subject?: string;
  /** The grant the request touched, when it touched one. */
  grantId?: string;
  /** The error code of the response, when it was an error. */
  errorCode?: ErrorCode;
  /** Why a 500 or 503 happened, for the log line only. */
  failure?: unknown;
}

const storage = new AsyncLocalStorage<RequestScope>();

/** Runs `work` as part of the request `scope` (everything it awaits sees the same scope). */
export function inRequestScope<T>(scope: RequestScope, work: () => T): T {
  return storage.run(scope, work);
}

/** The scope of the request being served, if any (the sweeper and the export loop have none). */
export function currentRequest(): RequestScope | undefined {
  return storage.getStore();
}

export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

/** Notes who and which grant the current request is about (first one wins: it is what the request was for). */
export function noteActor(actor: { subject?: string; grantId?: string }): void {
  const scope = storage.getStore();
  if (!scope) return;
  scope.subject ??= actor.subject;
  scope.grantId ??= actor.grantId;
}

/** Notes the error the current request answers with, and the cause of a 5xx, for its log line. */
export function noteError(code: ErrorCode, cause?: unknown): void {
  const scope = storage.getStore();
  if (!scope) return;
  scope.errorCode = code;
  if (cause !== undefined) scope.failure = cause;
}

const MAX_REQUEST_ID = 128;
// Safe in a header, a log line and a JSON string; long enough for UUIDs and AWS trace ids.
const SAFE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:=+/-]*$/;

/** The caller's x-request-id if it is sane (bounded, safe characters), else undefined. */
export function acceptRequestId(header: string | undefined | null): string | undefined {
  if (!header || header.length > MAX_REQUEST_ID || !SAFE_REQUEST_ID.test(header)) return undefined;
  return header;
}

/** A fresh request id: 16 random bytes, hex. */
export function newRequestId(): string {
  return randomBytes(16).toString('hex');
}
