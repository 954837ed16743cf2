// Walks one libpg-query parse tree and says what the statement is and everything it touches.
// It must never guess in the permissive direction: an unknown node counts as a write.

import type { StatementKind } from '../policy/index.ts';
import type { ParsedStatement, RelationRef } from './statement.ts';

export type StatementAnalysis = Omit<ParsedStatement, 'sql' | 'fingerprint' | 'normalizedSql'>;

type JsonObject = Record<string, unknown>;

/*
 * Kind decisions (API.md lists the kinds; these are the choices where it is silent):
 * - SELECT … INTO creates a table: `ddl`, not `select`.
 * - SET ROLE / SESSION AUTHORIZATION (and their RESET), ownership changes (ALTER … OWNER TO) and
 *   user mappings (they hold remote credentials) are `privilege`.
 * - `set` covers SET/RESET of any other parameter, SET TRANSACTION, SET CONSTRAINTS, DISCARD and
 *   ALTER SYSTEM: everything that changes settings. SHOW changes nothing, so it is `other`.
 * - REFRESH MATERIALIZED VIEW, COMMENT, SECURITY LABEL and every CREATE/ALTER/DROP not listed
 *   below are `ddl`. VACUUM, ANALYZE, CLUSTER, REINDEX, CHECKPOINT, LOCK and LOAD are `other`
 *   (and writes). LISTEN/NOTIFY/PREPARE/EXECUTE/DEALLOCATE and cursors are `other`.
 */
const KIND_BY_NODE: Readonly<Record<string, StatementKind>> = {
  SelectStmt: 'select',
  InsertStmt: 'insert',
  UpdateStmt: 'update',
  DeleteStmt: 'delete',
  MergeStmt: 'merge',
  TruncateStmt: 'truncate',
  CopyStmt: 'copy',
  ExplainStmt: 'explain',
  CallStmt: 'call',
  DoStmt: 'do',
  TransactionStmt: 'transaction',
  VariableSetStmt: 'set',
  DiscardStmt: 'set',
  AlterSystemStmt: 'set',
  ConstraintsSetStmt: 'set',
  GrantStmt: 'privilege',
  GrantRoleStmt: 'privilege',
  CreateRoleStmt: 'privilege',
  AlterRoleStmt: 'privilege',
  AlterRoleSetStmt: 'privilege',
  DropRoleStmt: 'privilege',
  AlterDefaultPrivilegesStmt: 'privilege',
  ReassignOwnedStmt: 'privilege',
  DropOwnedStmt: 'privilege',
  AlterOwnerStmt: 'privilege',
  CreateUserMappingStmt: 'privilege',
  AlterUserMappingStmt: 'privilege',
  DropUserMappingStmt: 'privilege',
  CommentStmt: 'ddl',
  SecLabelStmt: 'ddl',
  IndexStmt: 'ddl',
  ViewStmt: 'ddl',
  RuleStmt: 'ddl',
  DefineStmt: 'ddl',
  CompositeTypeStmt: 'ddl',
  RenameStmt: 'ddl',
  RefreshMatViewStmt: 'ddl',
  ImportForeignSchemaStmt: 'ddl',
  CreatedbStmt: 'ddl',
  DropdbStmt: 'ddl',
  ReplicaIdentityStmt: 'ddl',
  CreateTrigStmt: 'ddl',
  CreatePLangStmt: 'ddl',
  CreateCastStmt: 'ddl',
  CreateConversionStmt: 'ddl',
  CreateTransformStmt: 'ddl',
  CreateAmStmt: 'ddl',
  ListenStmt: 'other',
  UnlistenStmt: 'other',
  NotifyStmt: 'other',
  PrepareStmt: 'other',
  ExecuteStmt: 'other',
  DeallocateStmt: 'other',
  DeclareCursorStmt: 'other',
  FetchStmt: 'other',
  ClosePortalStmt: 'other',
  VariableShowStmt: 'other',
  LoadStmt: 'other',
  VacuumStmt: 'other',
  ClusterStmt: 'other',
  ReindexStmt: 'other',
  CheckPointStmt: 'other',
  LockStmt: 'other',
};

const WRITING_KINDS: ReadonlySet<StatementKind> = new Set([
  'insert',
  'update',
  'delete',
  'merge',
  'truncate',
  'ddl',
  'privilege',
  'do',
  'call',
]);

/** `other` statements that change something: storage, locks, a message out, or a body we cannot see. */
const WRITING_COMMANDS: ReadonlySet<string> = new Set([
  'NotifyStmt',
  'ExecuteStmt',
  'VacuumStmt',
  'ClusterStmt',
  'ReindexStmt',
  'CheckPointStmt',
  'LockStmt',
  'LoadStmt',
  'AlterSystemStmt',
]);

/** Built-in functions that change data or send something out of the transaction. */
const WRITING_FUNCTIONS: ReadonlySet<string> = new Set([
  'nextval',
  'setval',
  'lo_import',
  'lo_export',
  'lo_create',
  'lo_creat',
  'lo_unlink',
  'lo_from_bytea',
  'lo_put',
  'lowrite',
  'lo_truncate',
  'lo_truncate64',
  'pg_notify',
  'pg_logical_emit_message',
]);

const ROLE_SETTINGS: ReadonlySet<string> = new Set(['role', 'session_authorization']);

function isNodeType(key: string): boolean {
  return /^[A-Z]/.test(key);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The one node inside a `{ "TypeName": {...} }` wrapper, if `value` is one. */
function unwrap(value: unknown): [string, JsonObject] | undefined {
  if (!isObject(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  const [type] = keys;
  const fields = type === undefined ? undefined : value[type];
  return type !== undefined && isNodeType(type) && isObject(fields) ? [type, fields] : undefined;
}

function stringValue(node: unknown): string | undefined {
  const wrapped = unwrap(node);
  if (wrapped?.[0] !== 'String') return undefined;
  const sval = wrapped[1].sval;
  return typeof sval === 'string' ? sval : '';
}

/** A string literal's value, or undefined for anything else (casts and expressions included). */
function stringLiteral(node: unknown): string | undefined {
  const wrapped = unwrap(node);
  if (wrapped?.[0] !== 'A_Const') return undefined;
  const sval = wrapped[1].sval;
  if (!isObject(sval)) return undefined;
  return typeof sval.sval === 'string' ? sval.sval : '';
}

/** The kind of one statement node, before looking inside it. */
function statementKind(type: string, fields: JsonObject): StatementKind {
  if (type === 'SelectStmt') return fields.intoClause === undefined ? 'select' : 'ddl';
  if (type === 'VariableSetStmt') {
    return ROLE_SETTINGS.has(String(fields.name ?? '').toLowerCase()) ? 'privilege' : 'set';
  }
  if (type === 'AlterTableStmt') {
    const changesOwner = asArray(fields.cmds).some((cmd) => unwrap(cmd)?.[1].subtype === 'AT_ChangeOwner');
    return changesOwner ? 'privilege' : 'ddl';
  }
  if (Object.hasOwn(KIND_BY_NODE, type)) return KIND_BY_NODE[type] ?? 'other';
  return /^(Create|Alter|Drop)/.test(type) ? 'ddl' : 'other';
}

/** EXPLAIN runs its statement only with ANALYZE; any ANALYZE that is not plainly false counts. */
function explainAnalyzes(fields: JsonObject): boolean {
  return asArray(fields.options).some((option) => {
    const def = unwrap(option);
    if (def?.[1].defname !== 'analyze') return false;
    const arg = unwrap(def[1].arg);
    if (!arg) return true;
    const [argType, argFields] = arg;
    if (argType === 'Integer') return (argFields.ival ?? 0) !== 0;
    if (argType === 'Boolean') return argFields.boolval === true;
    if (argType === 'String') return !['false', 'off', 'no', '0'].includes(String(argFields.sval ?? '').toLowerCase());
    return true;
  });
}

interface Frame {
  value: unknown;
  field: string;
  runs: boolean;
}

class TreeWalk {
  readonly kinds = new Set<StatementKind>();
  readonly relations = new Map<string, RelationRef>();
  readonly columns = new Map<string, { table: string | null; name: string }>();
  readonly wholeRowRefs = new Set<string | null>();
  readonly bareNames = new Set<string>();
  readonly rangeNames = new Set<string>();
  readonly functions = new Set<string>();
  readonly settings: Array<string | null> = [];
  readonly commands = new Set<string>();
  readonly whereOfChanges: boolean[] = [];
  writes = false;

  /** Depth-first, in source order, with an explicit stack: deeply nested SQL must not overflow the call stack. */
  walk(root: unknown): void {
    const stack: Frame[] = [{ value: root, field: '', runs: true }];
    for (let frame = stack.pop(); frame; frame = stack.pop()) {
      const { value, field, runs } = frame;
      const pending: Frame[] = [];
      if (Array.isArray(value)) {
        for (const item of value) pending.push({ value: item, field, runs });
      } else if (isObject(value)) {
        const wrapped = unwrap(value) ?? this.unwrapped(value, field);
        if (wrapped) this.node(wrapped[0], wrapped[1], runs, pending);
        else for (const [key, child] of Object.entries(value)) pending.push({ value: child, field: key, runs });
      }
      for (let i = pending.length - 1; i >= 0; i--) stack.push(pending[i] as Frame);
    }
  }

  /** Fields typed as one specific node (not `Node`) are serialized without the wrapper. */
  unwrapped(value: JsonObject, field: string): [string, JsonObject] | undefined {
    if (typeof value.relname === 'string') return ['RangeVar', value];
    if (typeof value.op === 'string' && value.op.startsWith('SETOP_')) return ['SelectStmt', value];
    if (field === 'funccall') return ['FuncCall', value];
    if (field === 'setstmt') return ['VariableSetStmt', value];
    return undefined;
  }

  node(type: string, fields: JsonObject, runs: boolean, pending: Frame[]): void {
    switch (type) {
      case 'RangeVar':
        this.relation(fields);
        break;
      case 'ColumnRef':
        this.columnRef(fields);
        break;
      case 'A_Indirection':
        this.indirection(fields);
        break;
      case 'FuncCall':
        this.funcCall(fields, runs);
        break;
      case 'CommonTableExpr':
        if (typeof fields.ctename === 'string') this.rangeNames.add(fields.ctename);
        break;
      case 'VariableSetStmt':
        this.settings.push(fields.kind === 'VAR_RESET_ALL' ? 'all' : String(fields.name ?? '').toLowerCase());
        break;
      default:
        break;
    }
    if (isObject(fields.alias) && typeof fields.alias.aliasname === 'string') {
      this.rangeNames.add(fields.alias.aliasname);
      // `customers AS c(i, n, e)` renames columns: `e` is email under a name the statement never spells.
      if (asArray(fields.alias.colnames).length > 0) this.wholeRowRefs.add(fields.alias.aliasname);
    }
    if (type.endsWith('Stmt')) this.statement(type, fields, runs);
    const explainedOnly = type === 'ExplainStmt' && !explainAnalyzes(fields);
    for (const [key, child] of Object.entries(fields)) {
      pending.push({ value: child, field: key, runs: runs && !(explainedOnly && key === 'query') });
    }
  }

  statement(type: string, fields: JsonObject, runs: boolean): void {
    this.commands.add(type);
    if (type === 'UpdateStmt' || type === 'DeleteStmt') this.whereOfChanges.push(filtersRows(fields.whereClause));
    if (!runs) return;
    const kind = statementKind(type, fields);
    // A nested SET is a stored default (ALTER DATABASE … SET): `settings` carries it, not `kinds`;
    // the top-level statement's own kind is added by classifyStatement.
    if (kind !== 'other' && type !== 'VariableSetStmt') this.kinds.add(kind);
    if (WRITING_KINDS.has(kind) || WRITING_COMMANDS.has(type) || !Object.hasOwn(KIND_BY_NODE, type)) this.writes = true;
    if (type === 'CopyStmt' && fields.is_from === true) this.writes = true;
    if (type === 'SelectStmt' && (asArray(fields.lockingClause).length > 0 || fields.intoClause !== undefined))
      this.writes = true;
  }

  relation(fields: JsonObject): void {
    const name = String(fields.relname);
    const schema = typeof fields.schemaname === 'string' ? fields.schemaname : null;
    this.relations.set(`${schema ?? ''}.${name}`, { schema, name });
    this.rangeNames.add(name);
  }

  columnRef(fields: JsonObject): void {
    const parts = asArray(fields.fields);
    const last = parts[parts.length - 1];
    const names = parts.map(stringValue);
    if (unwrap(last)?.[0] === 'A_Star') {
      const qualifier = names[names.length - 2];
      this.wholeRowRefs.add(qualifier ?? null);
      return;
    }
    const name = names[names.length - 1];
    if (name === undefined) return;
    const table = names.length >= 2 ? (names[names.length - 2] ?? null) : null;
    this.addColumn(table, name);
    if (names.length === 1) this.bareNames.add(name);
  }

  /** `(c).email` reads column email of c; `(c).*` reads all of it (c itself is seen as a bare name). */
  indirection(fields: JsonObject): void {
    const arg = unwrap(fields.arg);
    if (arg?.[0] !== 'ColumnRef') return;
    const argNames = asArray(arg[1].fields).map(stringValue);
    const table = argNames.length === 1 ? argNames[0] : undefined;
    if (table === undefined) return;
    const first = asArray(fields.indirection)[0];
    const field = stringValue(first);
    if (field !== undefined) this.addColumn(table, field);
    else if (unwrap(first)?.[0] === 'A_Star') this.wholeRowRefs.add(table);
  }

  addColumn(table: string | null, name: string): void {
    this.columns.set(`${table ?? ''}.${name}`, { table, name });
  }

  funcCall(fields: JsonObject, runs: boolean): void {
    const nameParts = asArray(fields.funcname).map((part) => (stringValue(part) ?? '').toLowerCase());
    const name = nameParts.join('.');
    const base = nameParts[nameParts.length - 1] ?? '';
    this.functions.add(name);
    if (base === 'set_config') {
      const setting = stringLiteral(asArray(fields.args)[0]);
      this.settings.push(setting === undefined ? null : setting.toLowerCase());
    }
    if (runs && WRITING_FUNCTIONS.has(base)) this.writes = true;
  }
}

/** Everything the guard and the masking planner need to know about one statement node. */
export function classifyStatement(stmt: unknown): StatementAnalysis {
  const top = unwrap(stmt);
  if (!top) throw new TypeError('expected a wrapped statement node');
  const [type, fields] = top;
  const kind = statementKind(type, fields);
  const walk = new TreeWalk();
  walk.kinds.add(kind);
  walk.walk(stmt);

  const whole = new Set(walk.wholeRowRefs);
  for (const name of walk.bareNames) if (walk.rangeNames.has(name)) whole.add(name);

  return {
    kind,
    kinds: [...walk.kinds],
    command: type,
    commands: [...walk.commands],
    relations: [...walk.relations.values()],
    columns: [...walk.columns.values()],
    wholeRowRefs: [...whole],
    functions: [...walk.functions],
    settings: walk.settings,
    hasWhere: walk.whereOfChanges.length > 0 ? walk.whereOfChanges.every(Boolean) : topLevelWhere(type, fields),
    writes: walk.writes,
    explainAnalyze: type === 'ExplainStmt' && explainAnalyzes(fields),
  };
}

/** Whether the statement itself (or what EXPLAIN/PREPARE/DECLARE wraps) has a WHERE clause. */
function topLevelWhere(type: string, fields: JsonObject): boolean {
  if (type === 'ExplainStmt' || type === 'PrepareStmt' || type === 'DeclareCursorStmt') {
    const inner = unwrap(fields.query);
    return inner ? topLevelWhere(inner[0], inner[1]) : false;
  }
  return filtersRows(fields.whereClause);
}

/**
 * A WHERE counts only if it can tell rows apart: it refers to a column or is `WHERE CURRENT OF`.
 * `WHERE true` or `WHERE 1 = 1` is treated as no WHERE, so it cannot slip past a no-where guardrail.
 */
function filtersRows(where: unknown): boolean {
  if (where === undefined) return false;
  const stack: unknown[] = [where];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) stack.push(...value);
    else if (isObject(value)) {
      if ('ColumnRef' in value || 'CurrentOfExpr' in value) return true;
      stack.push(...Object.values(value));
    }
  }
  return false;
}
