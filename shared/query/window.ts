// A grant's window as the query path enforces it: the time left, each statement's timeout, the check Postgres runs
// on its own clock before each statement, and what a timeout or that check means. Nothing runs past the window's end.

import { AirlockError } from '../errors.ts';
import type { GrantRecord } from '../grants/index.ts';
import { quoteLiteral } from '../postgres/index.ts';

/** Raised by Postgres itself (the window check below) when a statement would start after the window's end. */
export const WINDOW_ENDED_SQLSTATE = 'AL001';

export interface Window {
  readonly expiresAt: Date;
  /** The timeout of what runs next, in ms: the time left measured now, never more than the policy's; throws once ended. */
  nextTimeoutMs(): number;
  /**
   * The statements Airlock sends before each statement of a transaction: the standard_conforming_strings pin, the
   * lock and statement timeouts, and the check on Postgres's clock (plus transaction_timeout on Postgres 17+).
   */
  guardStatements(): string[];
  /** What a Postgres error means for the window: the window's end (grant_expired), or undefined. */
  explain(sqlstate: string): AirlockError | undefined;
}

export interface WindowOptions {
  statementTimeoutSeconds: number;
  /** How long a statement waits for a lock before it fails (limits.lockTimeout). */
  lockTimeoutSeconds: number;
  now: () => Date;
}

export function openWindow(grant: GrantRecord, options: WindowOptions): Window {
  if (!grant.expiresAt) throw new AirlockError('grant_expired', 'the grant has no window');
  const expiresAt = new Date(grant.expiresAt);
  const policyMs = options.statementTimeoutSeconds * 1000;
  /** Whether the last timeout handed out was the window's rest rather than the policy's limit. */
  let boundByWindow = false;
  // Postgres's clock decides, however late a busy process's message arrives: the statement is refused if the
  // window has ended, its timeout is what is left (never more than the policy's), and on Postgres 17+ the whole
  // transaction is cut off at the window's end.
  const check = [
    `DO $airlock$ DECLARE left_ms bigint := floor(extract(epoch FROM (${quoteLiteral(expiresAt.toISOString())}::timestamptz - clock_timestamp())) * 1000);`,
    `BEGIN IF left_ms <= 0 THEN RAISE EXCEPTION USING ERRCODE = '${WINDOW_ENDED_SQLSTATE}', MESSAGE = 'the grant window has ended'; END IF;`,
    `PERFORM pg_catalog.set_config('statement_timeout', least(left_ms, ${policyMs})::text, true);`,
    `IF current_setting('server_version_num')::int >= 170000 THEN PERFORM pg_catalog.set_config('transaction_timeout', left_ms::text, true); END IF;`,
    'END $airlock$',
  ].join(' ');

  const window: Window = {
    expiresAt,
    nextTimeoutMs() {
      const leftMs = expiresAt.getTime() - options.now().getTime();
      if (leftMs <= 0) throw new AirlockError('grant_expired', 'the grant window has ended');
      boundByWindow = leftMs <= policyMs;
      return Math.max(1, Math.floor(Math.min(policyMs, leftMs)));
    },
    guardStatements() {
      const lockMs = Math.max(1, Math.floor(options.lockTimeoutSeconds * 1000));
      return [
        // standard_conforming_strings pinned on: how Postgres reads string literals must match the parser.
        'SET LOCAL standard_conforming_strings = on',
        `SET LOCAL lock_timeout = ${lockMs}`,
        `SET LOCAL statement_timeout = ${window.nextTimeoutMs()}`,
        check,
      ];
    },
    explain(sqlstate) {
      if (sqlstate === WINDOW_ENDED_SQLSTATE) {
        return new AirlockError('grant_expired', 'the grant window ended before the statement could start');
      }
      if (sqlstate === '57014' && boundByWindow) {
        return new AirlockError('grant_expired', 'the grant window ended while the statement ran; it was cancelled', {
          sqlstate,
        });
      }
      if (sqlstate === '25P04') {
        return new AirlockError('grant_expired', 'the grant window ended while the transaction ran; it was cut off', {
          sqlstate,
        });
      }
      return undefined;
    },
  };
  return window;
}
