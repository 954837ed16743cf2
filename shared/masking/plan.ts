// The masking plan: decides, per result column, how it is masked (by Postgres, origin, view, lineage, detectors) and
// applies what Postgres did not. Must never fail open: when the plan cannot be computed or does not fit the rows, nothing
// is returned; and must never mask a value twice (a hash of a hash would change what agents see).

import { AirlockError } from '../errors.ts';
import type { Detector, MaskStrategy, Policy } from '../policy/index.ts';
import { createDetectorScan, maskDetected } from './detectors.ts';
import { createStrategy } from './strategies.ts';

/** A column of a Postgres RowDescription. */
export interface ResultField {
  name: string;
  tableID: number;
  columnID: number;
  dataTypeID: number;
}

export interface ColumnOrigin {
  schema: string;
  table: string;
  column: string;
  /** Set when this is a base column reached through a view or materialized view (`schema.view`). */
  via?: string;
  /** The view calls a function defined in the database: what it returns cannot be traced, so it counts as sensitive. */
  opaque?: boolean;
  /** Read through an Airlock masking view that already applies this strategy in Postgres. */
  enforced?: MaskStrategy;
}

export interface CatalogLookup {
  /**
   * Origin of each (tableID, columnID), key `${tableID}:${columnID}`. A table column maps to itself; a
   * view/matview column maps to itself plus the base-table columns it depends on (with `via` set);
   * [] when unknown.
   */
  resolve(fields: ReadonlyArray<{ tableID: number; columnID: number }>): Promise<Map<string, ColumnOrigin[]>>;
  /**
   * The relations a statement names (schema null = any schema): their column names, and for a
   * view/matview every base-table column its definition depends on (through nested views).
   */
  relationsInfo(
    relations: ReadonlyArray<{ schema: string | null; name: string }>,
  ): Promise<Array<{ schema: string; name: string; columns: string[]; dependsOn: ColumnOrigin[] }>>;
  /**
   * Whether any of these functions (names as written, lower-case) is defined in the database rather
   * than built in: its body may read a sensitive column, and Postgres reports no origin for its result.
   */
  callsDatabaseFunctions(names: readonly string[]): Promise<boolean>;
}

/** What the SQL analysis (shared/sql) says a statement references. */
export interface StatementFacts {
  relations: Array<{ schema: string | null; name: string }>;
  columns: Array<{ table: string | null; name: string }>;
  /** Every function called, lower-case, schema-qualified as written. */
  functions?: string[];
  /** `t.*`, `row_to_json(t)`, `SELECT *` (null): the qualifier as written. */
  wholeRowRefs: Array<string | null>;
  /** The parser's node name, e.g. `FetchStmt`: FETCH and EXECUTE return rows another statement defined. */
  command?: string;
}

/** Their rows come from a cursor or prepared statement declared earlier, whose references are not known here. */
const ROWS_DEFINED_ELSEWHERE: ReadonlySet<string> = new Set(['FetchStmt', 'ExecuteStmt']);

export interface MaskingPlanColumn {
  name: string;
  /** What the API reports: the whole-column strategy, or null (detector-only columns report null). */
  masked: MaskStrategy | 'detectors' | null;
  strategy: MaskStrategy | null;
  /** Text values are scanned by the content detectors (only when no whole-column strategy applies). */
  detectors: boolean;
  /** Postgres already applied `strategy` (a masking view): it is reported, not applied again. */
  enforced: boolean;
  reason: 'database' | 'origin' | 'view' | 'lineage' | 'none';
}

export interface MaskingPlan {
  columns: MaskingPlanColumn[];
}

type SensitiveColumns = Map<string, MaskStrategy>;

export async function buildMaskingPlan(input: {
  fields: ResultField[];
  statement: StatementFacts;
  masking: Policy['masking'];
  catalog: CatalogLookup;
}): Promise<MaskingPlan> {
  const { fields, statement, masking, catalog } = input;
  const sensitive: SensitiveColumns = new Map(
    masking.columns.map((entry) => [entry.column.toLowerCase(), entry.strategy]),
  );
  const detectors = masking.detectors.length > 0;
  const unmasked = (name: string): MaskingPlanColumn => ({
    name,
    masked: null,
    strategy: null,
    detectors,
    enforced: false,
    reason: 'none',
  });
  const masked = (name: string, strategy: MaskStrategy, reason: MaskingPlanColumn['reason']): MaskingPlanColumn => ({
    name,
    masked: strategy,
    strategy,
    detectors: false,
    enforced: reason === 'database',
    reason,
  });
  if (sensitive.size === 0) return { columns: fields.map((field) => unmasked(field.name)) };

  try {
    const withTable = fields.filter((field) => field.tableID !== 0);
    const origins = withTable.length > 0 ? await catalog.resolve(withTable) : new Map<string, ColumnOrigin[]>();
    const originOf = (field: ResultField): ColumnOrigin[] => origins.get(`${field.tableID}:${field.columnID}`) ?? [];

    const needsLineage = fields.some((field) => field.tableID === 0 || originOf(field).length === 0);
    const lineageSensitive =
      needsLineage &&
      (ROWS_DEFINED_ELSEWHERE.has(statement.command ?? '') ||
        statementTouchesSensitive(statement, await catalog.relationsInfo(statement.relations), sensitive) ||
        (await catalog.callsDatabaseFunctions(statement.functions ?? [])));

    const columns = fields.map((field): MaskingPlanColumn => {
      const found = field.tableID === 0 ? [] : originOf(field);
      if (found.length === 0) return lineageSensitive ? masked(field.name, 'redact', 'lineage') : unmasked(field.name);
      const direct = strongest(
        found.filter((origin) => origin.via === undefined),
        sensitive,
      );
      // Masked by Postgres exactly as the policy says: applying it again would mask the masked value.
      if (direct && found.length === 1 && found[0]?.enforced === direct) return masked(field.name, direct, 'database');
      if (direct) return masked(field.name, direct, 'origin');
      if (found.some((origin) => origin.opaque)) return masked(field.name, 'redact', 'view');
      const throughView = strongest(
        found.filter((origin) => origin.via !== undefined),
        sensitive,
      );
      if (throughView) return masked(field.name, throughView, 'view');
      return unmasked(field.name);
    });
    return { columns };
  } catch (error) {
    throw new AirlockError(
      'unavailable',
      'the masking plan could not be computed; no rows were returned',
      {},
      { cause: error },
    );
  }
}

function originKey(origin: { schema: string; table: string; column: string }): string {
  return `${origin.schema}.${origin.table}.${origin.column}`.toLowerCase();
}

/** The one strategy all sensitive origins share, `redact` when they differ, null when none is sensitive. */
function strongest(origins: ColumnOrigin[], sensitive: SensitiveColumns): MaskStrategy | null {
  const strategies = new Set<MaskStrategy>();
  for (const origin of origins) {
    const strategy = sensitive.get(originKey(origin));
    if (strategy) strategies.add(strategy);
  }
  if (strategies.size === 0) return null;
  const [only] = strategies;
  return strategies.size === 1 && only ? only : 'redact';
}

/**
 * Whether an expression column may carry sensitive data: the statement names a sensitive column of
 * a referenced relation (qualifiers are ignored, as they may be aliases), takes a whole row or star
 * while a referenced relation has a sensitive column, or reads a view that depends on one.
 */
function statementTouchesSensitive(
  statement: StatementFacts,
  relations: Awaited<ReturnType<CatalogLookup['relationsInfo']>>,
  sensitive: SensitiveColumns,
): boolean {
  const names = new Set<string>();
  const addSensitiveOf = (schema: string | null, table: string): void => {
    for (const key of sensitive.keys()) {
      const [keySchema, keyTable, keyColumn] = key.split('.');
      if (keyColumn && keyTable === table.toLowerCase() && (schema === null || keySchema === schema.toLowerCase()))
        names.add(keyColumn);
    }
  };
  // From the policy by name too, so that a relation the catalog did not find still counts.
  for (const relation of statement.relations) addSensitiveOf(relation.schema, relation.name);
  for (const relation of relations) {
    addSensitiveOf(relation.schema, relation.name);
    if (relation.dependsOn.some((origin) => origin.opaque || sensitive.has(originKey(origin)))) return true;
  }
  if (names.size === 0) return false;
  if (statement.wholeRowRefs.length > 0) return true;
  return statement.columns.some((column) => names.has(column.name.toLowerCase()));
}

/** Masks `rows` (arrays in column order) by `plan`; returns new rows and never changes the input. */
export function applyMaskingPlan(
  plan: MaskingPlan,
  rows: unknown[][],
  options: { hashKey: Uint8Array | string; detectors: Detector[] },
): unknown[][] {
  const scan = options.detectors.length > 0 ? createDetectorScan(options.detectors) : null;
  const maskers = plan.columns.map((column): ((value: unknown) => unknown) | null => {
    if (column.enforced) return null;
    if (column.strategy) return createStrategy(column.strategy, { hashKey: options.hashKey });
    if (column.detectors && scan) return (value) => maskDetected(value, scan);
    return null;
  });
  const width = maskers.length;
  return rows.map((row) => {
    // A row the plan does not describe cannot be masked correctly, so it is not returned at all.
    if (row.length !== width)
      throw new AirlockError('internal', `a result row has ${row.length} columns; the masking plan has ${width}`);
    const masked = new Array<unknown>(width);
    for (let i = 0; i < width; i++) {
      const mask = maskers[i];
      masked[i] = mask ? mask(row[i]) : row[i];
    }
    return masked;
  });
}
