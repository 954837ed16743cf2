// What masking needs in one database, computed from the policy and a catalog snapshot (no I/O): the masked
// columns, the views that read them, the masking views to keep, every privilege Airlock's roles should hold, and
// what in the policy does not match the database. Must never leave a masked column's raw value to a reader or writer.

import { createHash } from 'node:crypto';
import type { MaskStrategy, Policy } from '../policy/index.ts';
import { quoteIdent } from '../postgres/index.ts';
import { maskExpression } from './expressions.ts';
import type { MaskingNames } from './names.ts';
import type { CatalogRelation, MaskingSnapshot } from './snapshot.ts';

/** One problem of the policy against a database; `path` is where it sits in the policy file. */
export interface PolicyFinding {
  severity: 'error' | 'warning';
  path: string;
  message: string;
  /** A name absent from this database that may live in another connection's (see combineFindings). */
  absent?: string;
}

export interface MaskingConfig {
  connection: string;
  /** The policy's masked columns, names in lower case, with their index in `masking.columns`. */
  columns: Array<{ index: number; schema: string; table: string; column: string; strategy: MaskStrategy }>;
  /** Every profile of the connection with the roles it names. */
  profiles: Array<{ name: string; memberOf: string[] }>;
  guardrailTables: Array<{ path: string; schema: string | null; table: string }>;
  /** A name missing from a database is a typo when the policy has one connection (with several, it may live elsewhere). */
  singleConnection: boolean;
}

export function maskingConfig(policy: Policy, connection: string): MaskingConfig {
  const profiles = Object.entries(policy.connections[connection]?.profiles ?? {}).map(([name, profile]) => ({
    name,
    memberOf: profile.memberOf,
  }));
  return {
    connection,
    columns: policy.masking.columns.map((entry, index) => {
      const [schema = '', table = '', column = ''] = entry.column.toLowerCase().split('.');
      return { index, schema, table, column, strategy: entry.strategy };
    }),
    profiles,
    guardrailTables: policy.guardrails.flatMap((guardrail, index) =>
      (guardrail.tables ?? []).map((name, at) => {
        const parts = name.toLowerCase().split('.');
        return {
          path: `guardrails[${index}].tables[${at}]`,
          schema: parts.length === 2 ? (parts[0] ?? null) : null,
          table: parts[parts.length - 1] ?? '',
        };
      }),
    ),
    singleConnection: Object.keys(policy.connections).length === 1,
  };
}

/** The memberships Airlock replaces by its own roles on a connection with masked columns. */
export const REPLACED_MEMBERSHIPS = { pg_read_all_data: 'reader', pg_write_all_data: 'writer' } as const;

export interface MaskedColumn {
  relid: number;
  attnum: number;
  name: string;
  typeOid: number;
  strategy: MaskStrategy;
  /** Index in `masking.columns` of the entry that masks it (a descendant table's column shares its parent's). */
  source: number;
}

export interface MaskingView {
  name: string;
  base: CatalogRelation;
  sql: string;
  /** A hash of `sql`, kept in the view's description to tell whether it is current. */
  definition: string;
  comment: string;
  columnComments: Array<{ column: string; comment: string }>;
}

export type Privilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE' | 'USAGE';

export interface PrivilegeGrant {
  grantee: string;
  on: 'relation' | 'column' | 'schema';
  oid: number;
  attnum: number | null;
  privilege: Privilege;
}

/** Privileges to test for each role a temporary role would belong to: any of them held means raw access. */
export interface LeakSubject {
  relid: number;
  /** 0: any column (a view that reads masked columns). */
  attnum: number;
  privileges: Privilege[];
  /** What to name in a finding: `public.customers.ssn` or `view x.y`. */
  label: string;
  /** Where in the policy it comes from. */
  path: string;
  /** Writing it lets an agent hash chosen values (the `hash` strategy), so writing counts as reaching it. */
  hashed: boolean;
}

export interface MaskingModel {
  /** Whether any masked column of the policy exists in this database. */
  active: boolean;
  masked: Map<number, Map<number, MaskedColumn>>;
  /** Views and materialized views (not Airlock's) that read a masked column. */
  tainted: Set<number>;
  views: MaskingView[];
  desired: PrivilegeGrant[];
  leakSubjects: LeakSubject[];
  findings: PolicyFinding[];
  /** The search_path of a temporary role: the masking schema, then the database's default. */
  searchPath: string[];
}

const TABLE_KINDS = new Set(['r', 'p', 'v', 'm', 'f']);

export function buildMaskingModel(config: MaskingConfig, snapshot: MaskingSnapshot, names: MaskingNames): MaskingModel {
  const findings: PolicyFinding[] = [];
  const ours = new Set([names.schema, names.privateSchema]);
  const byOid = new Map(snapshot.relations.map((relation) => [relation.oid, relation]));
  const tables = snapshot.relations.filter((relation) => TABLE_KINDS.has(relation.kind) && !ours.has(relation.schema));
  const qualified = (relation: CatalogRelation) => `${relation.schema}.${relation.name}`;
  const missing = (path: string, what: string, suggestion: string | undefined, typo: boolean) =>
    findings.push(
      typo || config.singleConnection
        ? {
            severity: 'error',
            path,
            message: `${what} does not exist${suggestion ? ` (did you mean ${suggestion}?)` : ''}`,
          }
        : {
            severity: 'warning',
            path,
            message: `${what} does not exist in connection ${config.connection}'s database`,
            absent: what,
          },
    );

  const masked = new Map<number, Map<number, MaskedColumn>>();
  const mask = (relation: CatalogRelation, column: MaskedColumn) => {
    const columns = masked.get(relation.oid) ?? new Map<number, MaskedColumn>();
    if (!columns.has(column.attnum)) columns.set(column.attnum, column);
    masked.set(relation.oid, columns);
  };
  for (const entry of config.columns) {
    const path = `masking.columns[${entry.index}].column`;
    const relation = tables.find(
      (r) => r.schema.toLowerCase() === entry.schema && r.name.toLowerCase() === entry.table,
    );
    if (!relation) {
      const inSchema = tables.filter((r) => r.schema.toLowerCase() === entry.schema).map((r) => r.name);
      const near = closest(entry.table, inSchema);
      missing(
        path,
        `${entry.schema}.${entry.table}.${entry.column}`,
        near && `${entry.schema}.${near}`,
        near !== undefined,
      );
      continue;
    }
    const columns = snapshot.columns.get(relation.oid) ?? [];
    const column = columns.find((c) => c.name.toLowerCase() === entry.column);
    if (!column) {
      const near = closest(
        entry.column,
        columns.map((c) => c.name),
      );
      missing(path, `${qualified(relation)}.${entry.column}`, near, true);
      continue;
    }
    if (relation.rowSecurity)
      findings.push({
        severity: 'error',
        path,
        message: `${qualified(relation)} has row-level security; its masking view would read it with the view owner's rights, not the agent's, so Airlock will not mask it`,
      });
    if (!relation.grantable.select)
      findings.push({
        severity: 'error',
        path,
        message: `the admin credential cannot grant SELECT on ${qualified(relation)} (it must own it or hold SELECT WITH GRANT OPTION), so its masking view cannot read it`,
      });
    const strategy = entry.strategy;
    // A child table or partition holds the same column's values: it is masked the same way.
    for (const relid of descendants(relation.oid, snapshot.inherits)) {
      const child = byOid.get(relid);
      const inChild = snapshot.columns.get(relid)?.find((c) => c.name.toLowerCase() === entry.column);
      if (child && inChild) mask(child, { ...inChild, relid, strategy, source: entry.index });
    }
  }

  for (const profile of config.profiles) {
    profile.memberOf.forEach((name, index) => {
      const path = `connections.${config.connection}.profiles.${profile.name}.memberOf[${index}]`;
      const role = snapshot.roles.get(name);
      if (!role?.exists) {
        const near = closest(name, snapshot.roleNames);
        findings.push({
          severity: 'error',
          path,
          message: `role ${name} does not exist${near ? ` (did you mean ${near}?)` : ''}`,
        });
      } else if (role.elevated)
        findings.push({
          severity: 'error',
          path,
          message: `role ${name} is privileged; a temporary role may not belong to it`,
        });
    });
  }

  for (const wanted of config.guardrailTables) {
    const found = tables.some(
      (r) =>
        r.name.toLowerCase() === wanted.table && (wanted.schema === null || r.schema.toLowerCase() === wanted.schema),
    );
    if (!found) {
      const candidates = tables.filter((r) => wanted.schema === null || r.schema.toLowerCase() === wanted.schema);
      const near = closest(
        wanted.table,
        candidates.map((r) => r.name),
      );
      const written = wanted.schema ? `${wanted.schema}.${wanted.table}` : wanted.table;
      missing(
        wanted.path,
        `table ${written}`,
        near && (wanted.schema ? `${wanted.schema}.${near}` : near),
        near !== undefined,
      );
    }
  }

  const maskedKey = (relid: number, attnum: number) => masked.get(relid)?.has(attnum) ?? false;
  for (const key of snapshot.foreignKeys) {
    key.referenced.forEach((attnum, position) => {
      const target = masked.get(key.references)?.get(attnum);
      const from = byOid.get(key.relation);
      const fromColumn = key.columns[position];
      if (!target || !from || fromColumn === undefined || maskedKey(key.relation, fromColumn)) return;
      findings.push({
        severity: 'error',
        path: `masking.columns[${target.source}].column`,
        message: `${qualified(from)} references ${qualified(byOid.get(key.references)!)}.${target.name} through a foreign key, so it holds the same values; mask it too`,
      });
    });
  }

  const tainted = taintedViews(snapshot, masked, ours, byOid);
  const active = masked.size > 0;
  const views = active ? maskingViews(snapshot, masked, names, findings, config.connection) : [];
  const searchPath = [names.schema, ...snapshot.searchPath];
  const desired = active ? desiredPrivileges(snapshot, masked, tainted, views, names, findings, config.connection) : [];
  return {
    active,
    masked,
    tainted,
    views,
    desired,
    leakSubjects: leakSubjects(masked, tainted, byOid),
    findings,
    searchPath,
  };
}

function descendants(root: number, inherits: ReadonlyArray<{ child: number; parent: number }>): number[] {
  const found = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const edge of inherits)
      if (found.has(edge.parent) && !found.has(edge.child)) {
        found.add(edge.child);
        grew = true;
      }
  }
  return [...found];
}

/**
 * Views and materialized views that read a masked column, directly or through other views: they run with their
 * owner's rights (a materialized view even stores the values), so a reader may never have them. Airlock's own
 * masking views read only masked forms out, and views over those are clean.
 */
function taintedViews(
  snapshot: MaskingSnapshot,
  masked: Map<number, Map<number, MaskedColumn>>,
  ours: Set<string>,
  byOid: Map<number, CatalogRelation>,
): Set<number> {
  const tainted = new Set<number>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const read of snapshot.viewReads) {
      if (tainted.has(read.view)) continue;
      const view = byOid.get(read.view);
      if (view && ours.has(view.schema)) continue;
      const reachesMasked =
        tainted.has(read.relation) ||
        (read.attnum === 0 ? masked.has(read.relation) : (masked.get(read.relation)?.has(read.attnum) ?? false));
      if (reachesMasked) {
        tainted.add(read.view);
        grew = true;
      }
    }
  }
  return tainted;
}

/**
 * One masking view per masked relation an unqualified name reaches: its schema is on the database's default
 * search_path and no schema before it has a relation of that name. Others are reached only by qualified
 * names, where column privileges refuse their masked columns.
 */
function maskingViews(
  snapshot: MaskingSnapshot,
  masked: Map<number, Map<number, MaskedColumn>>,
  names: MaskingNames,
  findings: PolicyFinding[],
  connection: string,
): MaskingView[] {
  const path = snapshot.searchPath.filter((schema) => schema !== '$user');
  const relationsIn = new Map<string, Set<string>>();
  for (const relation of snapshot.relations) {
    const set = relationsIn.get(relation.schema) ?? new Set<string>();
    set.add(relation.name);
    relationsIn.set(relation.schema, set);
  }
  const views: MaskingView[] = [];
  const keyTable = `${quoteIdent(names.privateSchema)}.${quoteIdent('hash_key')}`;
  for (const [relid, columns] of masked) {
    const base = snapshot.relations.find((relation) => relation.oid === relid);
    if (!base) continue;
    const at = path.indexOf(base.schema);
    const shadowed = path.slice(0, Math.max(at, 0)).some((schema) => relationsIn.get(schema)?.has(base.name));
    if (at < 0 || shadowed) {
      findings.push({
        severity: 'warning',
        path: `masking.columns[${[...columns.values()][0]?.source ?? 0}].column`,
        message: `${base.schema}.${base.name} is not what an unqualified name reaches on connection ${connection} (schema not on the search path, or shadowed): its masked columns are refused rather than served masked`,
      });
      continue;
    }
    const all = snapshot.columns.get(relid) ?? [];
    const select = all.map((column) => {
      const ref = `t.${quoteIdent(column.name)}`;
      const maskedColumn = columns.get(column.attnum);
      return maskedColumn
        ? `${maskExpression(maskedColumn.strategy, { ref, typeOid: column.typeOid }, { table: keyTable })} AS ${quoteIdent(column.name)}`
        : ref;
    });
    const qualifiedView = `${quoteIdent(names.schema)}.${quoteIdent(base.name)}`;
    const sql = `CREATE OR REPLACE VIEW ${qualifiedView} AS SELECT ${select.join(', ')} FROM ${quoteIdent(base.schema)}.${quoteIdent(base.name)} t`;
    const definition = createHash('sha256').update(sql).digest('hex').slice(0, 32);
    views.push({
      name: base.name,
      base,
      sql,
      definition,
      comment: JSON.stringify({ airlock: 'masking view', of: { schema: base.schema, table: base.name }, definition }),
      columnComments: [...columns.values()].map((column) => ({
        column: column.name,
        comment: JSON.stringify({ airlock: 'masked', strategy: column.strategy }),
      })),
    });
  }
  return views;
}

/**
 * What `pg_read_all_data` and `pg_write_all_data` would give, minus every masked column and every view that reads
 * one: the reader reads, the writer inserts, updates and deletes (never a masked column: writing chosen values
 * and reading their masked form back would reveal others', and a unique index would answer "exists?"). The
 * owner of the masking views reads and writes the masked relations; the views are read by the reader and written
 * by the writer, with only their plain columns updatable.
 */
function desiredPrivileges(
  snapshot: MaskingSnapshot,
  masked: Map<number, Map<number, MaskedColumn>>,
  tainted: Set<number>,
  views: MaskingView[],
  names: MaskingNames,
  findings: PolicyFinding[],
  connection: string,
): PrivilegeGrant[] {
  const grants: PrivilegeGrant[] = [];
  const add = (grantee: string, on: PrivilegeGrant['on'], oid: number, attnum: number | null, privilege: Privilege) =>
    grants.push({ grantee, on, oid, attnum, privilege });
  const ours = new Set([names.schema, names.privateSchema]);
  const ungrantable: string[] = [];
  for (const schema of snapshot.schemas) {
    if (schema.name === names.schema) {
      add(names.reader, 'schema', schema.oid, null, 'USAGE');
      add(names.writer, 'schema', schema.oid, null, 'USAGE');
    } else if (!ours.has(schema.name) && schema.grantable) {
      add(names.reader, 'schema', schema.oid, null, 'USAGE');
      add(names.writer, 'schema', schema.oid, null, 'USAGE');
    }
  }
  const maskedSchemas = new Set(
    [...masked.keys()].map((relid) => snapshot.relations.find((r) => r.oid === relid)?.schema),
  );
  for (const schema of snapshot.schemas)
    if (maskedSchemas.has(schema.name) && schema.grantable) add(names.owner, 'schema', schema.oid, null, 'USAGE');

  for (const relation of snapshot.relations) {
    if (ours.has(relation.schema)) continue;
    const can = relation.grantable;
    const writable = relation.kind !== 'm' && relation.kind !== 'S';
    if (!can.select) ungrantable.push(`${relation.schema}.${relation.name}`);
    if (relation.kind === 'S') {
      if (can.select) add(names.reader, 'relation', relation.oid, null, 'SELECT');
      if (can.update) add(names.writer, 'relation', relation.oid, null, 'UPDATE');
      continue;
    }
    const maskedColumns = masked.get(relation.oid);
    if (maskedColumns) {
      for (const [privilege, allowed] of [
        ['SELECT', can.select],
        ['INSERT', can.insert && writable],
        ['UPDATE', can.update && writable],
        ['DELETE', can.delete && writable],
      ] as const)
        if (allowed) add(names.owner, 'relation', relation.oid, null, privilege);
      for (const column of snapshot.columns.get(relation.oid) ?? []) {
        if (maskedColumns.has(column.attnum)) continue;
        if (can.select) add(names.reader, 'column', relation.oid, column.attnum, 'SELECT');
        if (can.insert && writable) add(names.writer, 'column', relation.oid, column.attnum, 'INSERT');
        if (can.update && writable) add(names.writer, 'column', relation.oid, column.attnum, 'UPDATE');
      }
      if (can.delete && writable) add(names.writer, 'relation', relation.oid, null, 'DELETE');
      continue;
    }
    // A view that reads a masked column runs with its owner's rights; a security_invoker one checks the reader's.
    if (tainted.has(relation.oid) && !relation.invoker) continue;
    if (can.select) add(names.reader, 'relation', relation.oid, null, 'SELECT');
    if (writable && can.insert) add(names.writer, 'relation', relation.oid, null, 'INSERT');
    if (writable && can.update) add(names.writer, 'relation', relation.oid, null, 'UPDATE');
    if (writable && can.delete) add(names.writer, 'relation', relation.oid, null, 'DELETE');
  }
  for (const view of views) {
    const existing = snapshot.relations.find((r) => r.schema === names.schema && r.name === view.name);
    if (!existing) continue;
    add(names.reader, 'relation', existing.oid, null, 'SELECT');
    for (const privilege of ['INSERT', 'UPDATE', 'DELETE'] as const)
      add(names.writer, 'relation', existing.oid, null, privilege);
  }
  if (ungrantable.length > 0)
    findings.push({
      severity: 'warning',
      path: `connections.${connection}`,
      message: `the admin credential cannot grant SELECT on ${ungrantable.slice(0, 5).join(', ')}${ungrantable.length > 5 ? ` and ${ungrantable.length - 5} more` : ''}: read profiles will not see ${ungrantable.length === 1 ? 'it' : 'them'}`,
    });
  return grants;
}

function leakSubjects(
  masked: Map<number, Map<number, MaskedColumn>>,
  tainted: Set<number>,
  byOid: Map<number, CatalogRelation>,
): LeakSubject[] {
  const subjects: LeakSubject[] = [];
  for (const [relid, columns] of masked) {
    const relation = byOid.get(relid);
    for (const column of columns.values()) {
      const hashed = column.strategy === 'hash';
      subjects.push({
        relid,
        attnum: column.attnum,
        privileges: hashed ? ['SELECT', 'INSERT', 'UPDATE'] : ['SELECT'],
        label: `${relation?.schema}.${relation?.name}.${column.name}`,
        path: `masking.columns[${column.source}].column`,
        hashed,
      });
    }
  }
  for (const relid of tainted) {
    const relation = byOid.get(relid);
    if (!relation || relation.invoker) continue;
    subjects.push({
      relid,
      attnum: 0,
      privileges: ['SELECT'],
      label: `${relation.kind === 'm' ? 'materialized view' : 'view'} ${relation.schema}.${relation.name} (it reads masked columns)`,
      path: 'masking.columns',
      hashed: false,
    });
  }
  return subjects;
}

/** The closest of `candidates` to `word` (case-insensitive edit distance at most 2, or a third of its length). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const target = word.toLowerCase();
  const limit = Math.max(2, Math.floor(target.length / 3));
  let best: { name: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(target, candidate.toLowerCase());
    if (distance <= limit && (!best || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

/** Levenshtein distance with adjacent transpositions counted as one edit (`phnoe` → `phone`). */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++)
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        value = Math.min(value, d[i - 2]![j - 2]! + 1);
      d[i]![j] = value;
    }
  return d[a.length]![b.length]!;
}

/**
 * The findings of every connection of a policy: a name absent from one database may live in another, but one
 * absent from all of them is an error (a typo the per-connection check could not call one).
 */
export function combineFindings(
  connections: ReadonlyArray<{ connection: string; findings: PolicyFinding[] }>,
): PolicyFinding[] {
  const all = connections.flatMap((entry) => entry.findings);
  const absentEverywhere = new Map<string, string>();
  for (const finding of all) {
    if (finding.absent === undefined) continue;
    const everywhere = connections.every((entry) =>
      entry.findings.some((other) => other.path === finding.path && other.absent !== undefined),
    );
    if (everywhere) absentEverywhere.set(finding.path, finding.absent);
  }
  return [
    ...all.filter((finding) => finding.absent === undefined),
    ...[...absentEverywhere].map(
      ([path, what]): PolicyFinding => ({
        severity: 'error',
        path,
        message: `${what} does not exist in any connection's database`,
      }),
    ),
    ...all.filter((finding) => finding.absent !== undefined && !absentEverywhere.has(finding.path)),
  ];
}

/** Findings as one line each: `masking.columns[3].column: public.customers.phnoe does not exist (did you mean phone?)`. */
export function describeFindings(findings: readonly PolicyFinding[]): string[] {
  return findings.map((finding) => `${finding.path}: ${finding.message}`);
}
