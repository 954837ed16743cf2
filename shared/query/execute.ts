// Running cleared statements as the grant's role: one transaction on a session of the role, each statement
// bounded by the window, its rows capped, masked and audited before COMMIT. Unmasked rows never leave.

import { createHash } from 'node:crypto';
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
import { derivePassword, type PgClient, type SessionPool } from '../postgres/index.ts';
import type { Authenticator } from './authenticate.ts';
import { statementEvent } from './events.ts';
import { classifyFailure, recordFailure } from './failure.ts';
import type { Statement } from './plan.ts';
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
}

interface Executed {
  fields: Array<{ name: string; tableID: number; columnID: number; dataTypeID: number }>;
  rows: unknown[][];
  rowCount: number;
  truncated: boolean;
  durationMs: number;
}

const CURSOR_CHUNK = 500;

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
      statements.map(({ sql, params, parsed }) => ({ sql, params, parsed })),
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

  const target = {
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
  let began = false;
  let current = 0;
  try {
    return await context.sessions.withSession(target, async (client) => {
      began = true;
      try {
        const outputs: Array<{ executed: Executed; masking: MaskingPlan; rows: unknown[][] }> = [];
        for (const [index, statement] of statements.entries()) {
          current = index;
          // Each statement gets its own timeout: the next one is bounded by what is left of the window. The first
          // goes out with the transaction's opening in one round trip.
          const guard = window.guardSql();
          const opening = index === 0 ? `${profile.readOnly ? 'BEGIN READ ONLY' : 'BEGIN'}; ${guard}` : guard;
          const executed = await context.phase('execute', () =>
            runOne(client, statement, index, opening, policy.limits),
          );
          outputs.push(
            await context.phase('mask', async () => {
              const masking = await buildMaskingPlan({
                fields: executed.fields,
                statement: statement.parsed,
                masking: policy.masking,
                catalog: catalogFor(context.catalog, catalogKey, runnerFor(client)),
              });
              const rows = applyMaskingPlan(masking, executed.rows, {
                hashKey: context.maskingKey,
                detectors: policy.masking.detectors,
              });
              return { executed, masking, rows };
            }),
          );
        }
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
            columns: await Promise.all(
              output.executed.fields.map(async (field, i) => ({
                name: field.name,
                type: await typeName(field.dataTypeID, runnerFor(client)),
                masked: output.masking.columns[i]?.strategy ?? null,
              })),
            ),
            rows: output.rows,
            rowCount: output.executed.rowCount,
            truncated: output.executed.truncated,
            auditId: event.id,
          });
        }
        if (profile.readOnly) {
          // A READ ONLY transaction has nothing to commit: the answer need not wait for it. The session's
          // next statement queues behind this COMMIT on the same connection.
          client.query('COMMIT').catch(() => {});
        } else {
          await context.phase('execute', () => client.query('COMMIT'));
        }
        return results;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  } catch (error) {
    if (began) throw await failed(current, error);
    // No session could be had: a window that ended since the token check (role locked, dropped, sessions cut) is no outage.
    const ended = await context.authenticator.endedSince(grant, 'before the statement could run');
    throw await failed(0, error, ended);
  }
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
  const ended = await context.authenticator.endedSince(grant, 'while the statement ran');
  return ended ?? new AirlockError('unavailable', 'Postgres is unavailable; nothing was committed', {}, { cause });
}

async function runOne(
  client: PgClient,
  statement: Statement,
  index: number,
  opening: string,
  limits: Policy['limits'],
): Promise<Executed> {
  const started = performance.now();
  const { maxRows, maxResultBytes: maxBytes } = limits;
  const { parsed } = statement;
  const useCursor = parsed.command === 'SelectStmt' && !parsed.writes;
  // Only Airlock's own text goes out as a simple query. The statement itself always travels in the extended
  // protocol, even without parameters: a simple-query message is split by the server's lexer, which session
  // settings (standard_conforming_strings) could make disagree with the parser's.
  await client.query(opening);
  if (!useCursor) {
    const result = await extended(client, parsed.sql, statement.params);
    const all = (result.rows ?? []) as unknown[][];
    const { rows, truncated } = capRows(all, maxRows, maxBytes);
    return {
      fields: result.fields ?? [],
      rows,
      rowCount: result.rowCount ?? all.length,
      truncated,
      durationMs: elapsed(started),
    };
  }
  // A cursor reads at most maxRows + 1 rows, so a huge result never reaches this process whole.
  // One cursor per statement of the transaction; COMMIT or ROLLBACK closes them all.
  const cursor = `airlock_result_${index}`;
  await extended(client, `DECLARE ${cursor} NO SCROLL CURSOR FOR ${parsed.sql}\n`, statement.params);
  let fields: Executed['fields'] = [];
  const rows: unknown[][] = [];
  let bytes = 0;
  let truncated = false;
  for (;;) {
    const chunk = await client.query({
      text: `FETCH FORWARD ${Math.min(CURSOR_CHUNK, maxRows + 1 - rows.length)} FROM ${cursor}`,
      rowMode: 'array',
    });
    fields = chunk.fields;
    for (const row of chunk.rows as unknown[][]) {
      bytes += rowBytes(row);
      if (rows.length >= maxRows || bytes > maxBytes) {
        truncated = true;
        break;
      }
      rows.push(row);
    }
    if (truncated || chunk.rows.length === 0 || rows.length > maxRows) break;
    if (chunk.rows.length < Math.min(CURSOR_CHUNK, maxRows + 1)) break;
  }
  return { fields, rows, rowCount: rows.length, truncated, durationMs: elapsed(started) };
}

/**
 * Sends a statement's own text in the extended protocol, with or without parameters: a named statement
 * (named by its text's hash, so a session parses each text once) always goes out as Parse/Bind/Execute/Sync.
 */
function extended(client: PgClient, text: string, values: unknown[]) {
  const name = `airlock_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
  return client.query({ name, text, values, rowMode: 'array' as const });
}

function runnerFor(client: PgClient): CatalogQuery {
  return async (sql, params) =>
    (await client.query({ text: sql, values: params, rowMode: 'array' })).rows as unknown[][];
}

function capRows(all: unknown[][], maxRows: number, maxBytes: number): { rows: unknown[][]; truncated: boolean } {
  const rows: unknown[][] = [];
  let bytes = 0;
  for (const row of all) {
    bytes += rowBytes(row);
    if (rows.length >= maxRows || bytes > maxBytes) return { rows, truncated: true };
    rows.push(row);
  }
  return { rows, truncated: false };
}

function rowBytes(row: unknown[]): number {
  let bytes = 8;
  for (const value of row) {
    if (value === null || value === undefined) bytes += 4;
    else if (typeof value === 'string') bytes += value.length;
    else if (typeof value === 'object') bytes += value instanceof Date ? 24 : (JSON.stringify(value)?.length ?? 8);
    else bytes += 8;
  }
  return bytes;
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 100) / 100;
