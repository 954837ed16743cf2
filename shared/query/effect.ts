// Guardrails judged by effect: the rows a statement changed, as Postgres counted them in the transaction (triggers,
// cascades, CTEs and MERGE included), against the bounds of the `no-where` guardrails it meets. Never judges text.

import type { PipelineStep, StatementResult } from '../postgres/index.ts';
import { type Decided, type EffectCheck, tableMatches } from '../sql/index.ts';

/** The savepoint a measured statement runs under, so that a statement over its bounds is undone alone. */
export const EFFECT_SAVEPOINT = 'airlock_effect';

/**
 * Rows updated and deleted so far in this transaction, per user table, with Postgres's estimate of the table's size
 * (its planner statistics or its live-row count, whichever is larger). Read as the grant's role: both are public.
 */
const CHANGES_SQL = [
  'SELECT s.schemaname, s.relname, (s.n_tup_upd + s.n_tup_del)::text,',
  'greatest(c.reltuples::float8, pg_catalog.pg_stat_get_live_tuples(s.relid)::float8, 0)',
  'FROM pg_catalog.pg_stat_xact_user_tables s JOIN pg_catalog.pg_class c ON c.oid = s.relid',
  'WHERE s.n_tup_upd + s.n_tup_del > 0',
].join(' ');

/** Tables one transaction may have changed before the measurement itself counts as over (fails closed). */
const MAX_TABLES = 10_000;

/** The steps that measure `statement`: a savepoint, the counts before, the statement with its limits, the counts after. */
export function measuredSteps(statement: PipelineStep): PipelineStep[] {
  const counts = { text: CHANGES_SQL, result: { maxRows: MAX_TABLES, maxBytes: 8 * 1024 * 1024 } };
  return [{ text: `SAVEPOINT ${EFFECT_SAVEPOINT}` }, counts, statement, counts];
}

export interface TableChange {
  schema: string;
  name: string;
  /** Rows updated or deleted by the measured statement. */
  rows: number;
  /** Postgres's estimate of the table's rows; 0 when it has none. */
  estimate: number;
}

/** What the measured statement changed: the difference of the counts after and before; null when they were cut. */
export function changesBetween(before: StatementResult, after: StatementResult): TableChange[] | null {
  if (before.truncated || after.truncated) return null;
  const key = (row: unknown[]) => `${String(row[0])}.${String(row[1])}`;
  const earlier = new Map(before.rows.map((row) => [key(row), Number(row[2])]));
  const changes: TableChange[] = [];
  for (const row of after.rows) {
    const rows = Number(row[2]) - (earlier.get(key(row)) ?? 0);
    if (rows > 0) changes.push({ schema: String(row[0]), name: String(row[1]), rows, estimate: Number(row[3]) || 0 });
  }
  return changes;
}

export interface Overrun {
  check: EffectCheck;
  /** Rows changed on the tables the check counts. */
  rows: number;
  /** The guardrail's decision, its reason stating what was measured. */
  verdict: Decided;
}

/** The first check the measured changes pass (in guardrail order), or undefined when all hold. */
export function firstOverrun(checks: readonly EffectCheck[], changes: TableChange[] | null): Overrun | undefined {
  for (const check of checks) {
    const counted = (changes ?? []).filter(
      (change) =>
        !check.tables?.length ||
        check.tables.some((table) => tableMatches(table, { schema: change.schema, name: change.name })),
    );
    const rows = counted.reduce((sum, change) => sum + change.rows, 0);
    // A table Postgres has no size for counts as exactly the rows changed: the whole of it.
    const share = (change: TableChange) => change.rows / Math.max(change.estimate, change.rows);
    const widest = counted.reduce<TableChange | undefined>(
      (top, change) => (top === undefined || share(change) > share(top) ? change : top),
      undefined,
    );
    const why =
      changes === null
        ? 'the rows it changed could not be counted'
        : rows > check.maxRows
          ? `it changed ${rows} rows (more than ${check.maxRows})`
          : check.maxFraction !== null && widest !== undefined && share(widest) > check.maxFraction
            ? `it changed ${widest.rows} rows of ${widest.schema}.${widest.name}, ${percent(share(widest))} of the table (more than ${percent(check.maxFraction)})`
            : undefined;
    if (why === undefined) continue;
    const verdict: Decided = { ...check.over, reason: `${check.over.reason}: ${why}; it was rolled back` };
    return { check, rows, verdict };
  }
  return undefined;
}

function percent(fraction: number): string {
  return `${Math.round(fraction * 1000) / 10}%`;
}
