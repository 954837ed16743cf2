// Decides whether one parsed statement may run: built-in rules, the grant's access, its `allow`, then guardrails.
// It must never look at SQL text: only the ParsedStatement the real parser produced.

import type { Capability, Guardrail, StatementKind } from '../policy/index.ts';
import { missingCapability } from './capabilities.ts';
import type { ParsedStatement, RelationRef } from './statement.ts';

export type Verdict =
  | { action: 'allow' }
  | { action: 'block'; guardrail: string; reason: string }
  | { action: 'approve'; guardrail: string; approvers: string[]; required: number; reason: string };

export interface CheckOptions {
  /** The grant's profile is read-only: only pure reads pass. */
  readOnly: boolean;
  /** The policy's guardrails, in file order; the first match decides. */
  guardrails: Guardrail[];
  /** The profile's `allow`: capabilities refused unless named here (none when absent). */
  allow?: readonly Capability[];
}

/** Kinds that are refused whatever the policy says, with the built-in guardrail that refuses them. */
const BLOCKED_KINDS: ReadonlyArray<[StatementKind, string, string]> = [
  ['privilege', 'builtin:privilege', 'privilege and role changes are never run through Airlock'],
  [
    'transaction',
    'builtin:transaction',
    'transaction control is not accepted in a statement; send a "transaction" list instead',
  ],
  ['do', 'builtin:do', 'DO blocks are opaque to the guard and are never run'],
  ['copy', 'builtin:copy', 'COPY is not available: the query endpoint streams neither STDIN/STDOUT nor server files'],
  ['set', 'builtin:set', 'session settings cannot be changed: the grant controls them'],
];

const ROLE_SETTINGS: ReadonlySet<string> = new Set(['role', 'session_authorization']);

/** Read or write server files, reach outside the database, signal the server, or run SQL the guard cannot see. */
const FORBIDDEN_FUNCTIONS: ReadonlySet<string> = new Set([
  'pg_stat_file',
  'lo_import',
  'lo_export',
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_signal_backend',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_promote',
  'pg_logdir_ls',
  'pg_switch_wal',
  'pg_switch_xlog',
  'pg_backup_start',
  'pg_backup_stop',
  'pg_start_backup',
  'pg_stop_backup',
  'pg_log_backend_memory_contexts',
  'pg_replication_slot_advance',
  'pg_sync_replication_slots',
  'pg_logical_emit_message',
  'pg_import_system_collations',
  // Both run a query given as text (ts_rewrite in its two-argument form): its rows escape masking.
  'ts_stat',
  'ts_rewrite',
]);
const FORBIDDEN_PREFIXES: readonly string[] = [
  'pg_read_',
  'pg_ls_',
  'pg_file_',
  'dblink',
  'pg_create_',
  'pg_drop_replication_slot',
  'pg_copy_',
  'pg_logical_slot_',
  'pg_replication_origin_',
  'pg_wal_replay_',
  'pg_background_',
  // Statistics resets blind the monitoring every other session relies on.
  'pg_stat_reset',
  // These run a query string (or dump a whole table) the guard and the masking planner never see.
  'query_to_xml',
  'cursor_to_xml',
  'table_to_xml',
  'schema_to_xml',
  'database_to_xml',
];
/** Schemas whose functions schedule or run SQL elsewhere (pg_cron). */
const FORBIDDEN_SCHEMAS: readonly string[] = ['cron'];

/**
 * Catalogs closed to PUBLIC that pg_read_all_data opens anyway: password verifiers, remote credentials,
 * and column statistics, whose samples (most common values, histograms) carry row values past masking.
 */
const FORBIDDEN_CATALOGS: ReadonlySet<string> = new Set([
  'pg_authid',
  'pg_shadow',
  'pg_user_mapping',
  'pg_subscription',
  'pg_statistic',
  'pg_statistic_ext_data',
  'pg_stats',
  'pg_stats_ext',
  'pg_stats_ext_exprs',
]);

/** Statements that take a table lock of their own choosing (or a heavy one) on the relations they name. */
const HEAVY_LOCK_COMMANDS: ReadonlySet<string> = new Set(['LockStmt', 'VacuumStmt', 'ClusterStmt', 'ReindexStmt']);

/** pg_catalog, information_schema and TOAST relations; an unqualified pg_* name resolves to pg_catalog first. */
function isSystemRelation(relation: RelationRef): boolean {
  const schema = relation.schema?.toLowerCase();
  if (schema === undefined) return relation.name.toLowerCase().startsWith('pg_');
  return schema === 'pg_catalog' || schema === 'information_schema' || schema === 'pg_toast';
}

/** Kinds a read-only grant may run; SHOW (`other`) is allowed too, it reads a setting. */
const READ_KINDS: ReadonlySet<StatementKind> = new Set(['select', 'explain']);

export function checkStatement(stmt: ParsedStatement, options: CheckOptions): Verdict {
  return (
    builtin(stmt) ??
    access(stmt, options.readOnly) ??
    capability(stmt, options.allow ?? []) ??
    guardrails(stmt, options.guardrails) ?? { action: 'allow' }
  );
}

function block(guardrail: string, reason: string): Verdict {
  return { action: 'block', guardrail, reason };
}

function builtin(stmt: ParsedStatement): Verdict | undefined {
  for (const [kind, guardrail, reason] of BLOCKED_KINDS) {
    if (stmt.kinds.includes(kind)) return block(guardrail, reason);
  }
  for (const setting of stmt.settings) {
    if (setting === null)
      return block('builtin:role', 'set_config with a computed parameter name could change the role');
    if (ROLE_SETTINGS.has(setting)) return block('builtin:role', `changing ${setting} is never allowed`);
  }
  if (stmt.command === 'LoadStmt') return block('builtin:load', 'LOAD loads server code and is never run');
  // Unqualified too: pg_catalog is searched first unless search_path names it later.
  const catalog = stmt.relations.find(
    (relation) =>
      (relation.schema === null || relation.schema === 'pg_catalog') && FORBIDDEN_CATALOGS.has(relation.name),
  );
  if (catalog)
    return block(
      'builtin:catalog',
      `${catalog.name} holds credentials or samples of column values and is never read through Airlock`,
    );
  // A lock or maintenance run on a system catalog stalls every session, Airlock's logins and revocations included.
  const system = stmt.commands.some((command) => HEAVY_LOCK_COMMANDS.has(command))
    ? stmt.relations.find(isSystemRelation)
    : undefined;
  if (system)
    return block(
      'builtin:catalog',
      `${system.name} is a system catalog: no grant locks or maintains it, whatever its profile allows`,
    );
  // pg_settings is writable by everyone: an UPDATE of it is set_config under another name.
  if (
    stmt.writes &&
    stmt.relations.some(
      (relation) => (relation.schema === null || relation.schema === 'pg_catalog') && relation.name === 'pg_settings',
    )
  ) {
    return block('builtin:set', 'session settings cannot be changed: the grant controls them');
  }
  for (const name of stmt.functions) {
    const parts = name.split('.');
    const base = parts[parts.length - 1] ?? name;
    if (base === 'set_config')
      return block('builtin:set', 'session settings cannot be changed: the grant controls them');
    const forbidden =
      FORBIDDEN_FUNCTIONS.has(base) ||
      FORBIDDEN_PREFIXES.some((prefix) => base.startsWith(prefix)) ||
      (parts.length > 1 && FORBIDDEN_SCHEMAS.includes(parts[parts.length - 2] ?? ''));
    if (forbidden)
      return block(
        'builtin:function',
        `${name}() reaches outside the database or runs unseen SQL and is never allowed`,
      );
  }
  return undefined;
}

/** After access: a read-only grant is told it cannot write, not that an allow entry would help. */
function capability(stmt: ParsedStatement, allow: readonly Capability[]): Verdict | undefined {
  const missing = missingCapability(stmt, allow);
  return missing ? block(missing.guardrail, missing.reason) : undefined;
}

function access(stmt: ParsedStatement, readOnly: boolean): Verdict | undefined {
  if (!readOnly) return undefined;
  if (!READ_KINDS.has(stmt.kind) && stmt.command !== 'VariableShowStmt') {
    return block('access:read', `a read-only grant cannot run ${describe(stmt)}`);
  }
  if (stmt.writes) return block('access:read', 'a read-only grant cannot run a statement that writes or locks');
  return undefined;
}

function describe(stmt: ParsedStatement): string {
  const names: Record<string, string> = { PrepareStmt: 'PREPARE', ExecuteStmt: 'EXECUTE', CallStmt: 'CALL' };
  return names[stmt.command] ?? `${stmt.kind} statements`;
}

function guardrails(stmt: ParsedStatement, list: Guardrail[]): Verdict | undefined {
  const guardrail = list.find((g) => matches(stmt, g));
  if (!guardrail) return undefined;
  const name = guardrail.name;
  const why = `guardrail "${name}" matches this ${stmt.kinds.filter((k) => guardrail.statements.includes(k)).join('/')} statement${guardrail.when === 'no-where' ? ' without WHERE' : ''}`;
  if (guardrail.action === 'block') return block(name, `${why} and blocks it`);
  const approvers = guardrail.approvers ?? [];
  // The policy schema requires approvers on approve guardrails; without any, nobody could approve.
  if (approvers.length === 0) return block(name, `${why} but names no approvers`);
  return {
    action: 'approve',
    guardrail: name,
    approvers,
    required: guardrail.required,
    reason: `${why} and needs approval`,
  };
}

function matches(stmt: ParsedStatement, guardrail: Guardrail): boolean {
  if (!guardrail.statements.some((kind) => stmt.kinds.includes(kind))) return false;
  // An empty `tables` list is read as "any table": a guardrail should not silently match nothing.
  if (
    guardrail.tables?.length &&
    !guardrail.tables.some((table) => stmt.relations.some((relation) => tableMatches(table, relation)))
  ) {
    return false;
  }
  return guardrail.when !== 'no-where' || !stmt.hasWhere;
}

/** `schema.table` matches that relation (unqualified relations are `public`); a bare `table` matches it in any schema. */
function tableMatches(table: string, relation: RelationRef): boolean {
  const [first, second] = table.toLowerCase().split('.');
  const name = relation.name.toLowerCase();
  if (second === undefined) return first === name;
  return first === (relation.schema ?? 'public').toLowerCase() && second === name;
}
