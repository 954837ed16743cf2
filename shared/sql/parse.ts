// Parses SQL with the real PostgreSQL parser (libpg-query, WASM) into one ParsedStatement per statement.
// It must never judge SQL from its text: every fact here comes from the parse tree or the parser's scanner.

import { fingerprintSync, hasSqlDetails, loadModule, parseSync } from 'libpg-query';
import { AirlockError, unavailable } from '../errors.ts';
import type { StatementKind } from '../policy/schema.ts';
import { classifyStatement } from './classify.ts';
import { checkComplexity } from './complexity.ts';
import { normalizeStatement } from './normalize.ts';

export interface RelationRef {
  schema: string | null;
  name: string;
}

export interface ParsedStatement {
  /** This statement's own source text. */
  sql: string;
  /** The top-level statement's kind. */
  kind: StatementKind;
  /**
   * `kind` first, then the kind of every statement nested in it that runs: writable CTEs, the
   * SELECT of INSERT … SELECT, EXPLAIN ANALYZE's target, PREPARE's body (judged as if executed).
   * Guardrails match on any of these, so `WITH d AS (DELETE …) SELECT …` counts as a delete.
   */
  kinds: StatementKind[];
  /** The parser's node name for the top-level statement, e.g. `SelectStmt`, `VariableShowStmt`. */
  command: string;
  /** libpg-query fingerprint (hex): the same for the same statement with other literal values. */
  fingerprint: string;
  /** Literals replaced by $1, $2 …, comments removed, whitespace collapsed: safe for logs. */
  normalizedSql: string;
  /** Every RangeVar anywhere (CTE names included), de-duplicated. */
  relations: RelationRef[];
  /** Column references (qualifier as written); a bare name that is also a range name is in wholeRowRefs too. */
  columns: Array<{ table: string | null; name: string }>;
  /**
   * `*` (null), `t.*`, `(t).*` and bare `t` used as a value, where t names a table, alias or CTE; and
   * `t` of `… AS t(a, b)`, whose column aliases hide which columns they rename.
   */
  wholeRowRefs: Array<string | null>;
  /** Every function called, lower-case, schema-qualified as written. */
  functions: string[];
  /** Run-time parameters changed: SET/RESET names (any nesting) and set_config's first argument, lower-case; null when not a literal. */
  settings: Array<string | null>;
  /**
   * False when any UPDATE/DELETE in the tree lacks a WHERE; without one, whether the top-level
   * statement has a WHERE. A WHERE that names no column (`WHERE true`, `WHERE 1 = 1`) does not count.
   */
  hasWhere: boolean;
  /** Anything data- or schema-modifying anywhere in the tree (see classify.ts). */
  writes: boolean;
  explainAnalyze: boolean;
}

let loading: Promise<void> | undefined;
/** Set once the WASM parser overflowed its stack: it is left corrupted, so nothing is parsed here again. */
let poisoned = false;

/** False once the parser can no longer be trusted in this process (readiness checks report it). */
export const parserHealthy = () => !poisoned;

/** A stack overflow inside libpg-query (JS or WASM): never a syntax error, and it ends the parser's use. */
function overflowed(error: unknown): AirlockError | undefined {
  if (!(error instanceof RangeError)) return undefined;
  poisoned = true;
  return new AirlockError(
    'statement_too_complex',
    'the statement is too deeply nested to be parsed',
    {},
    { cause: error },
  );
}

async function ready(): Promise<void> {
  loading ??= loadModule().catch((cause: unknown) => {
    loading = undefined;
    throw unavailable('the SQL parser', cause);
  });
  return loading;
}

interface RawStatement {
  stmt?: unknown;
  stmt_location?: number;
  stmt_len?: number;
}

/** Every statement in `sql`, in order. */
export async function parseStatements(sql: string): Promise<ParsedStatement[]> {
  if (sql.includes('\0')) throw new AirlockError('invalid_request', 'SQL must not contain a NUL character');
  if (sql.trim() === '') throw new AirlockError('invalid_request', 'no SQL statement');
  await ready();
  if (poisoned)
    throw new AirlockError('unavailable', 'the SQL parser overflowed earlier and must be restarted; nothing was run');
  checkComplexity(sql);
  let raw: RawStatement[];
  try {
    raw = (parseSync(sql).stmts ?? []) as RawStatement[];
  } catch (error) {
    const tooDeep = overflowed(error);
    if (tooDeep) throw tooDeep;
    if (hasSqlDetails(error)) {
      // libpg-query turns PostgreSQL's 1-based cursorpos into a 0-based offset; the API reports 1-based.
      const position = (error.sqlDetails?.cursorPosition ?? 0) + 1;
      throw new AirlockError('sql_syntax', error.message, { position }, { cause: error });
    }
    throw new AirlockError(
      'sql_syntax',
      error instanceof Error ? error.message : 'the SQL could not be parsed',
      {},
      { cause: error },
    );
  }
  if (raw.length === 0) throw new AirlockError('invalid_request', 'no SQL statement');

  // stmt_location and stmt_len are byte offsets into the UTF-8 text.
  const bytes = Buffer.from(sql, 'utf8');
  return raw.map((entry) => {
    const start = entry.stmt_location ?? 0;
    const end = entry.stmt_len ? start + entry.stmt_len : bytes.length;
    const text = bytes.subarray(start, end).toString('utf8').trim();
    try {
      return {
        sql: text,
        fingerprint: fingerprintSync(text),
        normalizedSql: normalizeStatement(text),
        ...classifyStatement(entry.stmt),
      };
    } catch (error) {
      throw (
        overflowed(error) ??
        new AirlockError('internal', 'a parsed statement could not be analysed; nothing was run', {}, { cause: error })
      );
    }
  });
}

/** Exactly one statement; several are refused so that nothing unseen rides along. */
export async function parseOne(sql: string): Promise<ParsedStatement> {
  const statements = await parseStatements(sql);
  const [only] = statements;
  if (statements.length !== 1 || !only) {
    throw new AirlockError('multiple_statements', `expected one SQL statement, got ${statements.length}`, {
      count: statements.length,
    });
  }
  return only;
}
