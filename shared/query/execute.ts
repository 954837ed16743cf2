// Running cleared statements as the grant's role: one transaction on a session of the role, each statement sent with
// its window's guard in one round trip, its rows capped as they arrive, masked and audited before COMMIT.
// Unmasked rows never leave, and no statement runs without its event.

import type { QueryResult } from '../api/index.ts';
import type { AuditLog } from '../audit/index.ts';
import { AirlockError } from '../errors.ts';
import type { GrantRecord } from '../grants/index.ts';
import {
  applyMaskingPlan,
  buildMaskingPlan,
  type CatalogCache,
  type CatalogQuery,
  catalogConnectionKey,
  catalogFor,
  type MaskingPlan,
} from '../masking/index.ts';
import type { Policy } from '../policy/index.ts';
import {
  derivePassword,
  endTransaction,
  type GrantSessionTarget,
  isSessionLost,
  type PgClient,
  runPipeline,
  runStatement,
  type SessionPool,
  type StatementResult,
} from '../postgres/index.ts';
import type { Decided } from '../sql/index.ts';
import type { Authenticator } from './authenticate.ts';
import { changesBetween, firstOverrun, measuredSteps, type TableChange } from './effect.ts';
import { statementEvent } from './events.ts';
import { classifyFailure, recordFailure } from './failure.ts';
import type { StatementGate } from './gate.ts';
import { admitStatement, type Refusal, type Statement } from './plan.ts';
import type { Phase } from './profile.ts';
import { typeName } from './types.ts';
import type { Window } from './window.ts';

export interface ExecuteContext {
  policy: Policy;
  audit: AuditLog;
  sessions: SessionPool;
  authenticator: Pick<Authenticator, 'endedSince'>;
  roleKey: string;
  maskingKey: string;
  phase: Phase;
  /** The catalog answers of every connection, each keyed by its database and OID (two databases reuse OIDs). */
  catalog: CatalogCache;
  /** Holds a statement whose effect passed a guardrail's bounds, or consumes its approval. */
  gate: StatementGate;
  /** Keys the binding of a held statement to its exact text and parameters. */
  bindingKey: string;
}

interface Executed extends StatementResult {
  durationMs: number;
  sessionLost: boolean;
  /** What a measured statement changed (null when it could not be counted); absent when it was not measured. */
  changes?: TableChange[] | null;
}

/** A statement of the transaction a guardrail refused or held once its effect was measured: nothing is committed. */
export class StatementRefused extends Error {
  constructor(
    readonly culprit: number,
    readonly refusal: Refusal,
  ) {
    super(refusal.error.message);
  }
}

interface Output {
  executed: Executed;
  masking: MaskingPlan;
  rows: unknown[][];
  types: string[];
}

/** Runs the statements in one transaction and returns a result per statement; every failure is audited. */
export async function executeStatements(
  context: ExecuteContext,
  grant: GrantRecord,
  statements: Statement[],
  window: Window,
): Promise<QueryResult[]> {
  const { policy } = context;
  const profile = policy.connections[grant.connection]?.profiles[grant.access];
  if (!profile || !grant.target || !grant.expiresAt) {
    throw new AirlockError('unavailable', 'the grant’s connection is not configured here');
  }
  const failed = async (culprit: number, cause: unknown, result?: AirlockError) =>
    recordFailure(
      context.audit,
      grant,
      statements,
      culprit,
      result ?? (await explainFailure(context, grant, statements, window, cause)),
      cause,
    );
  try {
    window.nextTimeoutMs();
  } catch (error) {
    // The window ended while the statements were parsed and checked: refused, and recorded like any other.
    throw await failed(0, error);
  }

  const target: GrantSessionTarget = {
    grantId: grant.id,
    host: grant.target.host,
    port: grant.target.port,
    database: grant.target.database,
    user: grant.role,
    password: derivePassword(context.roleKey, grant.id),
    expiresAt: window.expiresAt,
    // The grant's share of its subject's sessions: its role's CONNECTION LIMIT.
    maxSessions: grant.sessionLimit ?? profile.connectionLimit,
  };
  const catalogKey = catalogConnectionKey(grant.target);
  /** The masking plan, masked rows and type names of a result, read on a session of the grant's role. */
  const mask = (client: PgClient, executed: Executed, statement: Statement) =>
    context.phase('mask', async (): Promise<Output> => {
      const run = runnerFor(client);
      const masking = await buildMaskingPlan({
        fields: executed.fields,
        statement: statement.parsed,
        masking: policy.masking,
        catalog: catalogFor(context.catalog, catalogKey, run),
      });
      const rows = applyMaskingPlan(masking, executed.rows, {
        hashKey: context.maskingKey,
        detectors: policy.masking.detectors,
      });
      const types = await Promise.all(executed.fields.map((field) => typeName(field.dataTypeID, run)));
      return { executed, masking, rows, types };
    });

  let began = false;
  let recorded = false;
  let current = 0;
  const gating = { policy, gate: context.gate, bindingKey: context.bindingKey };
  /** Statements held by their effect whose approval was found: spent just before COMMIT. */
  const spends: Array<[number, Decided, number]> = [];
  let cut: { executed: Executed; statement: Statement } | undefined;
  const outputs: Output[] = [];
  const audited = async () => {
    const results: QueryResult[] = [];
    for (const [index, output] of outputs.entries()) {
      const statement = statements[index]!;
      const event = await context.phase('audit', () =>
        statementEvent(context.audit, grant, statement.parsed, {
          decision: 'executed',
          rowCount: output.executed.rowCount,
          durationMs: output.executed.durationMs,
          truncated: output.executed.truncated,
          maskedColumns: output.masking.columns.filter((c) => c.strategy).map((c) => c.name),
          ...(statement.approvalId ? { approvalId: statement.approvalId } : {}),
        }),
      );
      results.push({
        columns: output.executed.fields.map((field, i) => ({
          name: field.name,
          type: output.types[i]!,
          masked: output.masking.columns[i]?.strategy ?? null,
        })),
        rows: output.rows,
        rowCount: output.executed.rowCount,
        truncated: output.executed.truncated,
        auditId: event.id,
      });
    }
    return results;
  };

  try {
    const results = await context.sessions.withSession(target, async (client) => {
      began = true;
      try {
        for (const [index, statement] of statements.entries()) {
          current = index;
          const last = index === statements.length - 1;
          const executed = await context.phase('execute', () =>
            runOne(client, statement, {
              // The first statement opens the transaction in the same round trip; each is bounded by what is left
              // of the window, checked on Postgres's clock. A read-only transaction's COMMIT rides with its last one.
              prelude: [
                ...(index === 0 ? [profile.readOnly ? 'BEGIN READ ONLY' : 'BEGIN'] : []),
                ...window.guardStatements(),
              ],
              // A write's deferred constraints are checked with its last statement, before any event is written:
              // the COMMIT that follows the audit has nothing left to refuse, so no statement gets two events.
              epilogue: last ? [profile.readOnly ? 'COMMIT' : 'SET CONSTRAINTS ALL IMMEDIATE'] : [],
              limits: policy.limits,
              disposableSession: profile.readOnly && last,
            }),
          );
          if (executed.changes !== undefined) {
            const overrun = firstOverrun(statement.effects ?? [], executed.changes);
            if (overrun) {
              // Held inside its savepoint: an approval of exactly this statement lets it stand; else all is rolled back.
              const admitted = await admitStatement(gating, grant, statement, overrun.verdict, {
                measured: overrun.rows,
                spend: false,
              });
              if (!admitted.run) throw new StatementRefused(index, admitted.refusal);
              spends.push([index, overrun.verdict, overrun.rows]);
            }
          }
          // A read that passed its caps by far had its session cut: what it kept is masked on a fresh session.
          if (executed.sessionLost) cut = { executed, statement };
          else outputs.push(await mask(client, executed, statement));
        }
        if (cut) return undefined;
        // Approvals found by measuring are spent once every statement has run within its bounds or been approved.
        for (const [index, verdict, rows] of spends) {
          const spent = await admitStatement(gating, grant, statements[index]!, verdict, { measured: rows });
          if (!spent.run) throw new StatementRefused(index, spent.refusal);
          statements[index] = { ...statements[index]!, approvalId: spent.approvalId };
        }
        // Every statement is audited before COMMIT: no change is committed without its event.
        const results = await audited();
        recorded = true;
        if (!profile.readOnly) await context.phase('execute', () => endTransaction(client, 'COMMIT'));
        return results;
      } catch (error) {
        if (!isSessionLost(client)) await endTransaction(client, 'ROLLBACK').catch(() => {});
        throw error;
      }
    });
    if (results) return results;
    const { executed, statement } = cut!;
    outputs.push(await context.sessions.withSession(target, (client) => mask(client, executed, statement)));
    return await audited();
  } catch (error) {
    if (error instanceof StatementRefused) throw error;
    // Each statement already has its `executed` event: a COMMIT lost with its session is not recorded twice.
    if (recorded) {
      // The grant's end (a revoke, a lock, the window) ends its sessions: that is the answer, with the doubt said.
      const ended = await context.authenticator.endedSince(grant, 'while the transaction committed');
      if (ended)
        throw new AirlockError(
          ended.code,
          `${ended.message}; whether the COMMIT took effect is unknown`,
          ended.details,
        );
      throw commitLost(error);
    }
    if (began) throw await failed(current, error);
    // No session could be had: a window that ended since the token check (role locked, dropped, sessions cut) is no outage.
    const ended = await context.authenticator.endedSince(grant, 'before the statement could run');
    throw await failed(0, error, ended);
  }
}

/** Errors JavaScript raises for a mistake in code, never for a network or a database. */
function isProgrammingError(error: unknown): boolean {
  return (
    error instanceof TypeError ||
    error instanceof RangeError ||
    error instanceof ReferenceError ||
    error instanceof SyntaxError ||
    error instanceof EvalError
  );
}

/** Deferred checks passed before the audit, so a COMMIT that fails now lost its session: its outcome is unknown. */
function commitLost(cause: unknown): AirlockError {
  if (cause instanceof AirlockError && cause.code !== 'unavailable') return cause;
  return new AirlockError(
    'unavailable',
    'the database session was lost while the transaction committed; whether it took effect is unknown',
    {},
    { cause },
  );
}

/** The API's error for a failed run: from the error itself, or — when the session was lost — from a fresh read of the grant. */
async function explainFailure(
  context: ExecuteContext,
  grant: GrantRecord,
  statements: Statement[],
  window: Window,
  cause: unknown,
): Promise<AirlockError> {
  const known = classifyFailure(cause, { window, attempts: statements, masking: context.policy.masking });
  if (known) return known;
  // A fault in Airlock's own code is no outage: 500 internal, so it is not retried as one nor hidden among them.
  if (isProgrammingError(cause)) return new AirlockError('internal', 'internal error', {}, { cause });
  const ended = await context.authenticator.endedSince(grant, 'while the statement ran');
  return ended ?? new AirlockError('unavailable', 'Postgres is unavailable; nothing was committed', {}, { cause });
}

/**
 * One statement in one round trip: Airlock's own opening, the statement itself as an unnamed prepared statement (the
 * server parses exactly the text the parser judged; nothing named can be swapped under it), and the epilogue.
 */
async function runOne(
  client: PgClient,
  statement: Statement,
  options: { prelude: string[]; epilogue: string[]; limits: Policy['limits']; disposableSession: boolean },
): Promise<Executed> {
  const started = performance.now();
  const { parsed } = statement;
  if (statement.effects?.length) {
    const prelude = options.prelude.map((text) => ({ text }));
    const limits = { maxRows: options.limits.maxRows, maxBytes: options.limits.maxResultBytes };
    const steps = [
      ...prelude,
      ...measuredSteps({ text: parsed.sql, values: statement.params, result: limits }),
      ...options.epilogue.map((text) => ({ text })),
    ];
    const { results } = await runPipeline(client, steps);
    const [before, result, after] = results as [StatementResult, StatementResult, StatementResult];
    const durationMs = Math.round((performance.now() - started) * 100) / 100;
    return { ...result, sessionLost: false, changes: changesBetween(before, after), durationMs };
  }
  const result = await runStatement(client, {
    prelude: options.prelude.map((text) => ({ text })),
    statement: { text: parsed.sql, values: statement.params },
    epilogue: options.epilogue.map((text) => ({ text })),
    maxRows: options.limits.maxRows,
    maxBytes: options.limits.maxResultBytes,
    stopsEarly: parsed.command === 'SelectStmt' && !parsed.writes,
    disposableSession: options.disposableSession,
  });
  return { ...result, durationMs: Math.round((performance.now() - started) * 100) / 100 };
}

function runnerFor(client: PgClient): CatalogQuery {
  return async (sql, params) =>
    (await client.query({ text: sql, values: params, rowMode: 'array' })).rows as unknown[][];
}
