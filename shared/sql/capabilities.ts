// Capabilities a profile must name in `allow` before its grants may use them: session machinery other
// grants and Airlock rely on (locks, listeners, prepared state, maintenance). It must never allow by default.

import type { Capability } from '../policy/index.ts';
import type { ParsedStatement } from './statement.ts';

export interface CapabilityRule {
  capability: Capability;
  /** The built-in guardrail named in a refusal. */
  guardrail: string;
  /** What the statement does, for the refusal's message. */
  what: string;
  /** Parser node names of the statements that need it, at any nesting. */
  commands: readonly string[];
  /** Whether a called function (lower-case base name) needs it, and what such a call does. */
  calls?: { match: (base: string) => boolean; what: string };
}

/** As data, in the order refusals are reported. */
export const CAPABILITY_RULES: readonly CapabilityRule[] = [
  {
    capability: 'advisory-locks',
    guardrail: 'builtin:advisory-lock',
    what: 'pg_advisory_* and pg_try_advisory_* take and release advisory locks',
    commands: [],
    calls: {
      match: (base) => base.startsWith('pg_advisory_') || base.startsWith('pg_try_advisory_'),
      what: 'takes or releases an advisory lock',
    },
  },
  { capability: 'lock', guardrail: 'builtin:lock', what: 'LOCK TABLE holds a table lock', commands: ['LockStmt'] },
  {
    capability: 'prepared-statements',
    guardrail: 'builtin:prepared-statement',
    what: 'PREPARE, EXECUTE and DEALLOCATE keep statements in the session',
    commands: ['PrepareStmt', 'ExecuteStmt', 'DeallocateStmt'],
  },
  {
    capability: 'cursors',
    guardrail: 'builtin:cursor',
    what: 'DECLARE, FETCH, MOVE and CLOSE keep a cursor in the session',
    commands: ['DeclareCursorStmt', 'FetchStmt', 'ClosePortalStmt'],
  },
  {
    capability: 'listen',
    guardrail: 'builtin:listen',
    what: 'LISTEN, UNLISTEN and NOTIFY use the server’s notification channels',
    commands: ['ListenStmt', 'UnlistenStmt', 'NotifyStmt'],
    calls: { match: (base) => base === 'pg_notify', what: 'sends a notification' },
  },
  {
    capability: 'maintenance',
    guardrail: 'builtin:maintenance',
    what: 'VACUUM, ANALYZE, CLUSTER, REINDEX and CHECKPOINT take heavy locks or server-wide I/O',
    commands: ['VacuumStmt', 'ClusterStmt', 'ReindexStmt', 'CheckPointStmt'],
  },
];

/** SHOW only reads a setting: the one statement of kind `other` that needs no capability. */
const FREE_OTHER_COMMANDS: ReadonlySet<string> = new Set(['VariableShowStmt']);
const RULED_COMMANDS: ReadonlySet<string> = new Set(CAPABILITY_RULES.flatMap((rule) => rule.commands));

/**
 * The refusal for the first capability the statement needs and `allow` lacks, or undefined. A statement of
 * kind `other` that no capability covers is always refused.
 */
export function missingCapability(
  stmt: ParsedStatement,
  allow: readonly Capability[],
): { guardrail: string; reason: string } | undefined {
  for (const rule of CAPABILITY_RULES) {
    if (allow.includes(rule.capability)) continue;
    const command = stmt.commands.some((c) => rule.commands.includes(c));
    const call = stmt.functions.find((name) => rule.calls?.match(name.slice(name.lastIndexOf('.') + 1)));
    if (!command && call === undefined) continue;
    const subject = command || !rule.calls ? rule.what : `${call}() ${rule.calls.what}`;
    return {
      guardrail: rule.guardrail,
      reason: `${subject}; refused unless the grant's profile lists "${rule.capability}" in allow`,
    };
  }
  if (stmt.kind === 'other' && !FREE_OTHER_COMMANDS.has(stmt.command) && !RULED_COMMANDS.has(stmt.command))
    return {
      guardrail: 'builtin:other',
      reason: `${stmt.command.replace(/Stmt$/, '')} is not a statement Airlock runs, and no allow entry permits it`,
    };
  return undefined;
}
