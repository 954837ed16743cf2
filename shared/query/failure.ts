// When a run fails: what the caller is told (a pure table from SQLSTATE to the API's error), and the `failed`
// events that record it. Postgres's own text reaches the caller only through masking's message filter.

import type { AuditLog } from '../audit/index.ts';
import { AirlockError, AuditUnavailable, isAirlockError } from '../errors.ts';
import type { GrantRecord } from '../grants/index.ts';
import { maskDatabaseMessage, touchesMaskedTable } from '../masking/index.ts';
import type { Policy } from '../policy/index.ts';
import { isConnectionLost } from '../postgres/index.ts';
import { statementEvent } from './events.ts';
import type { Attempt } from './plan.ts';
import type { Window } from './window.ts';

/** A SQLSTATE as Postgres sends it, or undefined. */
export function sqlstateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * What a failure of a run means to the caller, when it can be told from the error alone: the window's end, or a
 * statement Postgres refused (db_error with its SQLSTATE). Undefined when the connection was lost: only a fresh
 * read of the grant can tell a revocation from an outage.
 */
export function classifyFailure(
  error: unknown,
  context: { window: Window; attempts: readonly Attempt[]; masking: Policy['masking'] },
): AirlockError | undefined {
  // A session that could not be had (its role dropped, its sessions ended) is a lost connection too: only the
  // grant can tell a revocation or the window's end from an outage. An audit outage is the answer itself.
  if (isAirlockError(error))
    return error.code === 'unavailable' && !(error instanceof AuditUnavailable) ? undefined : error;
  const sqlstate = sqlstateOf(error);
  if (sqlstate === undefined) return undefined;
  // Before the lost-session test: the transaction timeout at the window's end ends the session (FATAL 25P04).
  const windowEnd = context.window.explain(sqlstate);
  if (windowEnd) return windowEnd;
  if (isConnectionLost(error)) return undefined;
  return new AirlockError('db_error', databaseMessage(error as Error, sqlstate, context), { sqlstate });
}

/**
 * Postgres's message, unless it may quote a value from a row: masking must hold for errors too. A statement that
 * reads a masked table gets a fixed message for its SQLSTATE, never the server's text.
 */
function databaseMessage(
  error: Error,
  sqlstate: string,
  context: { attempts: readonly Attempt[]; masking: Policy['masking'] },
) {
  return maskDatabaseMessage(error.message, {
    positioned: typeof (error as { position?: unknown }).position === 'string',
    sql: context.attempts.map((attempt) => attempt.sql),
    params: context.attempts.flatMap((attempt) => attempt.params),
    detectors: context.masking.detectors,
    sqlstate,
    touchesMasked: context.attempts.some(
      (attempt) => attempt.parsed !== undefined && touchesMaskedTable(attempt.parsed.relations, context.masking),
    ),
  });
}

/**
 * Records a failed run, one `failed` event per statement (the culprit with its SQLSTATE, the rest rolled back),
 * and returns the error to answer with. An audit store that is down is itself the answer: nothing more can be recorded.
 */
export async function recordFailure(
  audit: AuditLog,
  grant: GrantRecord,
  attempts: readonly Attempt[],
  culprit: number,
  result: AirlockError,
  cause: unknown,
): Promise<AirlockError> {
  if (cause instanceof AuditUnavailable) return cause;
  const sqlstate = sqlstateOf(cause);
  for (const [index, attempt] of attempts.entries()) {
    await statementEvent(audit, grant, attempt.parsed, {
      decision: 'failed',
      error: {
        code: result.code,
        ...(index === culprit && sqlstate ? { sqlstate } : {}),
        ...(index !== culprit ? { message: 'the transaction was rolled back' } : {}),
      },
    });
  }
  return result;
}
