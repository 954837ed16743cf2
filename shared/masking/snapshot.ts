// What the masking setup and the policy check read from a database's catalog, read as the admin.
// Must never read a row of a user table, and never interpolate a value into SQL (everything is a bound parameter).

import type { PgClient } from '../postgres/index.ts';
import { FORBIDDEN_MEMBERSHIPS, ROLE_PREFIX } from '../postgres/index.ts';
import { integer, integerArray, text, textArray } from './catalog-row.ts';
import { AIRLOCK_MASKING_SCHEMAS, type MaskingNames } from './names.ts';

export type RelationKind = 'r' | 'p' | 'v' | 'm' | 'f' | 'S';

export interface CatalogRelation {
  oid: number;
  schema: string;
  name: string;
  kind: RelationKind;
  rowSecurity: boolean;
  /** A view with `security_invoker`: what it reads is checked against whoever reads it. */
  invoker: boolean;
  /** The admin may grant these on it (it owns the relation or holds the grant option). */
  grantable: { select: boolean; insert: boolean; update: boolean; delete: boolean };
}

export interface CatalogColumn {
  attnum: number;
  name: string;
  typeOid: number;
}

/** A role the policy names (`memberOf`): whether it exists and whether a temporary role may belong to it. */
export interface CatalogRole {
  name: string;
  exists: boolean;
  elevated: boolean;
}

export interface HeldPrivilege {
  on: 'relation' | 'column' | 'schema';
  oid: number;
  attnum: number | null;
  privilege: string;
  grantee: string;
}

export interface MaskingSnapshot {
  relations: CatalogRelation[];
  schemas: Array<{ oid: number; name: string; grantable: boolean }>;
  /** Columns of the relations asked for (masked tables and their inheritance descendants). */
  columns: Map<number, CatalogColumn[]>;
  inherits: Array<{ child: number; parent: number }>;
  /** Which relation columns each view or materialized view reads (attnum 0: the whole row). */
  viewReads: Array<{ view: number; relation: number; attnum: number }>;
  foreignKeys: Array<{ relation: number; columns: number[]; references: number; referenced: number[] }>;
  roles: Map<string, CatalogRole>;
  /** Every role name of the server, read only when a named role is missing (for suggestions). */
  roleNames: string[];
  /** Privileges Airlock's own roles hold on relations, columns and schemas. */
  held: HeldPrivilege[];
  /** The masking views in this deployment's schema, with the description Airlock wrote on each. */
  maskViews: Array<{ oid: number; name: string; comment: string | null }>;
  /** The search_path a new role gets in this database, as schema names (`$user` kept). */
  searchPath: string[];
}

const RELATIONS = `
SELECT c.oid::int8, n.nspname::text, c.relname::text, c.relkind::text, c.relrowsecurity,
       coalesce(c.reloptions::text[], '{}'::text[]),
       has_table_privilege(c.oid, 'SELECT WITH GRANT OPTION'), has_table_privilege(c.oid, 'INSERT WITH GRANT OPTION'),
       has_table_privilege(c.oid, 'UPDATE WITH GRANT OPTION'), has_table_privilege(c.oid, 'DELETE WITH GRANT OPTION')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
  AND (n.nspname !~ $1 OR n.nspname = ANY($2::text[]))`;

const SCHEMAS = `
SELECT n.oid::int8, n.nspname::text, has_schema_privilege(n.oid, 'USAGE WITH GRANT OPTION')
FROM pg_namespace n
WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' AND (n.nspname !~ $1 OR n.nspname = ANY($2::text[]))`;

const COLUMNS = `
SELECT a.attrelid::int8, a.attnum::int4, a.attname::text, a.atttypid::int8
FROM pg_attribute a WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY 1, 2`;

const INHERITS = `SELECT inhrelid::int8, inhparent::int8 FROM pg_inherits`;

// A rule with a whole-row Var (`:varattno 0`) reads every column of what it depends on (see catalog.ts).
const VIEW_READS = `
SELECT r.ev_class::int8, d.refobjid::int8,
       CASE WHEN strpos(r.ev_action::text, ':varattno 0 ') > 0 THEN 0 ELSE d.refobjsubid::int4 END
FROM pg_rewrite r
JOIN pg_class v ON v.oid = r.ev_class AND v.relkind IN ('v', 'm')
JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
 AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
WHERE d.refobjsubid > 0 OR strpos(r.ev_action::text, ':varattno 0 ') > 0`;

const FOREIGN_KEYS = `
SELECT con.conrelid::int8, con.conkey::int4[], con.confrelid::int8, con.confkey::int4[]
FROM pg_constraint con WHERE con.contype = 'f' AND con.confrelid = ANY($1::oid[])`;

// The same test as roles.ts's checkMemberships: a role that is, or belongs to, a privileged one.
const ROLES = `
SELECT w.name, r.oid IS NOT NULL,
       coalesce(starts_with(r.rolname, $3) OR EXISTS (
         SELECT 1 FROM pg_roles s
          WHERE (s.rolsuper OR s.rolcreaterole OR s.rolcreatedb OR s.rolreplication OR s.rolbypassrls OR s.rolname = ANY($2::text[]))
            AND pg_has_role(r.oid, s.oid, 'MEMBER')), false)
FROM unnest($1::text[]) AS w(name) LEFT JOIN pg_roles r ON r.rolname = w.name`;

// Whether the admin may act as the role (SET ROLE): Postgres 16 split that from membership.
const OWN_ROLES = `
SELECT r.rolname::text,
       CASE WHEN current_setting('server_version_num')::int >= 160000 THEN pg_has_role(r.oid, 'SET') ELSE pg_has_role(r.oid, 'MEMBER') END
FROM pg_roles r WHERE r.rolname = ANY($1::text[])`;

const HELD = `
SELECT 'relation', c.oid::int8, NULL::int4, a.privilege_type::text, g.rolname::text
FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a JOIN pg_roles g ON g.oid = a.grantee
WHERE c.relacl IS NOT NULL AND g.rolname = ANY($1::text[])
UNION ALL
SELECT 'column', t.attrelid::int8, t.attnum::int4, a.privilege_type::text, g.rolname::text
FROM pg_attribute t CROSS JOIN LATERAL aclexplode(t.attacl) a JOIN pg_roles g ON g.oid = a.grantee
WHERE t.attacl IS NOT NULL AND NOT t.attisdropped AND g.rolname = ANY($1::text[])
UNION ALL
SELECT 'schema', n.oid::int8, NULL::int4, a.privilege_type::text, g.rolname::text
FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a JOIN pg_roles g ON g.oid = a.grantee
WHERE n.nspacl IS NOT NULL AND g.rolname = ANY($1::text[])`;

const MASK_VIEWS = `
SELECT c.oid::int8, c.relname::text, obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'v'`;

// The database's own default, else the one for every database, else what this session started with.
const SEARCH_PATH = `
SELECT (SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
         WHERE d.datname = current_database() AND s.setrole = 0),
       (SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setdatabase = 0 AND s.setrole = 0),
       (SELECT reset_val FROM pg_settings WHERE name = 'search_path')`;

const ROLE_NAMES = `SELECT rolname::text FROM pg_roles ORDER BY 1`;

export interface SnapshotRequest {
  names: MaskingNames;
  /** Relations whose columns are wanted, as `schema.table` in lower case (their descendants come too). */
  tables: string[];
  /** Role names the policy's profiles name. */
  roles: string[];
}

/** Reads everything masking needs in a few catalog queries (no lock is taken; call it inside the caller's transaction). */
export async function loadMaskingSnapshot(client: PgClient, request: SnapshotRequest): Promise<MaskingSnapshot> {
  const { names } = request;
  const ours = [names.schema, names.privateSchema];
  const rows = async (sql: string, params: unknown[] = []) =>
    (await client.query({ text: sql, values: params, rowMode: 'array' })).rows as unknown[][];

  const relations = (await rows(RELATIONS, [AIRLOCK_MASKING_SCHEMAS, ours])).map(
    (row): CatalogRelation => ({
      oid: integer(row[0]),
      schema: text(row[1]),
      name: text(row[2]),
      kind: text(row[3]) as RelationKind,
      rowSecurity: row[4] === true,
      invoker: textArray(row[5]).some((option) => /^security_invoker=(true|on|yes|1)$/i.test(option)),
      grantable: { select: row[6] === true, insert: row[7] === true, update: row[8] === true, delete: row[9] === true },
    }),
  );
  const schemas = (await rows(SCHEMAS, [AIRLOCK_MASKING_SCHEMAS, ours])).map((row) => ({
    oid: integer(row[0]),
    name: text(row[1]),
    grantable: row[2] === true,
  }));
  const inherits = (await rows(INHERITS)).map((row) => ({ child: integer(row[0]), parent: integer(row[1]) }));

  const wanted = new Set(request.tables.map((table) => table.toLowerCase()));
  const roots = relations
    .filter((relation) => wanted.has(`${relation.schema}.${relation.name}`.toLowerCase()))
    .map((relation) => relation.oid);
  const relids = descendantsOf(roots, inherits);
  const columns = new Map<number, CatalogColumn[]>();
  for (const row of await rows(COLUMNS, [relids])) {
    const relid = integer(row[0]);
    const list = columns.get(relid) ?? [];
    list.push({ attnum: integer(row[1]), name: text(row[2]), typeOid: integer(row[3]) });
    columns.set(relid, list);
  }
  const viewReads = (await rows(VIEW_READS)).map((row) => ({
    view: integer(row[0]),
    relation: integer(row[1]),
    attnum: integer(row[2]),
  }));
  const foreignKeys = (await rows(FOREIGN_KEYS, [relids])).map((row) => ({
    relation: integer(row[0]),
    columns: integerArray(row[1]),
    references: integer(row[2]),
    referenced: integerArray(row[3]),
  }));
  const roles = new Map<string, CatalogRole>();
  for (const row of await rows(ROLES, [request.roles, FORBIDDEN_MEMBERSHIPS, ROLE_PREFIX])) {
    roles.set(text(row[0]), { name: text(row[0]), exists: row[1] === true, elevated: row[2] === true });
  }
  const roleNames = [...roles.values()].some((role) => !role.exists)
    ? (await rows(ROLE_NAMES)).map((row) => text(row[0]))
    : [];
  const held = (await rows(HELD, [[names.owner, names.reader, names.writer]])).map(
    (row): HeldPrivilege => ({
      on: text(row[0]) as HeldPrivilege['on'],
      oid: integer(row[1]),
      attnum: row[2] === null ? null : integer(row[2]),
      privilege: text(row[3]),
      grantee: text(row[4]),
    }),
  );
  const maskViews = (await rows(MASK_VIEWS, [names.schema])).map((row) => ({
    oid: integer(row[0]),
    name: text(row[1]),
    comment: row[2] === null ? null : text(row[2]),
  }));
  const [path] = await rows(SEARCH_PATH);
  const configured = [path?.[0], path?.[1]]
    .map((setting) => (setting === null || setting === undefined ? undefined : searchPathOf(textArray(setting))))
    .find((value) => value !== undefined);
  const searchPath = parseSearchPath(configured ?? (typeof path?.[2] === 'string' ? path[2] : '"$user", public'));
  return {
    relations,
    schemas,
    columns,
    inherits,
    viewReads,
    foreignKeys,
    roles,
    roleNames,
    held,
    maskViews,
    searchPath,
  };
}

/** Which of Airlock's own roles exist, whether the admin may SET ROLE to the owner, and the server's version number. */
export async function loadOwnRoles(
  client: PgClient,
  names: MaskingNames,
): Promise<{ roles: Set<string>; canSetOwner: boolean; serverVersion: number }> {
  const result = await client.query({
    text: OWN_ROLES,
    values: [[names.owner, names.reader, names.writer]],
    rowMode: 'array',
  });
  const rows = result.rows as unknown[][];
  const version = await client.query({ text: `SELECT current_setting('server_version_num')::int`, rowMode: 'array' });
  return {
    roles: new Set(rows.map((row) => text(row[0]))),
    canSetOwner: rows.some((row) => row[0] === names.owner && row[1] === true),
    serverVersion: integer((version.rows[0] as unknown[])[0]),
  };
}

/** `roots` and every relation that inherits from one of them (partitions, child tables), at any depth. */
export function descendantsOf(roots: readonly number[], inherits: ReadonlyArray<{ child: number; parent: number }>) {
  const found = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const edge of inherits) {
      if (found.has(edge.parent) && !found.has(edge.child)) {
        found.add(edge.child);
        grew = true;
      }
    }
  }
  return [...found];
}

function searchPathOf(settings: string[]): string | undefined {
  const entry = settings.find((setting) => setting.startsWith('search_path='));
  return entry?.slice('search_path='.length);
}

/** `"$user", public, "My Schema"` → `['$user', 'public', 'My Schema']`: quoted names kept, others folded to lower case. */
export function parseSearchPath(value: string): string[] {
  const names: string[] = [];
  let at = 0;
  while (at < value.length) {
    while (value[at] === ' ' || value[at] === ',') at++;
    if (at >= value.length) break;
    if (value[at] === '"') {
      let name = '';
      at++;
      while (at < value.length) {
        if (value[at] === '"' && value[at + 1] === '"') {
          name += '"';
          at += 2;
        } else if (value[at] === '"') {
          at++;
          break;
        } else name += value[at++];
      }
      names.push(name);
    } else {
      const end = value.indexOf(',', at);
      names.push(
        value
          .slice(at, end === -1 ? value.length : end)
          .trim()
          .toLowerCase(),
      );
      at = end === -1 ? value.length : end;
    }
  }
  return names.filter((name) => name !== '');
}
