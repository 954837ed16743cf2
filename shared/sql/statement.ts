// What the parser says about one statement: its kind, what it touches, and its safe-to-log forms.
// Plain types only, so the parser and the classifier both depend on them and not on each other.

import type { StatementKind } from '../policy/index.ts';

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
  /** `command` and the node name of every statement nested in it (EXPLAIN's target, PREPARE's body, rules' actions). */
  commands: string[];
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
