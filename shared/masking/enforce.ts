// Masking in the database, kept in step with the policy and the catalog: masking views owned by a NOLOGIN role,
// a reader and a writer role that can never read a masked column's raw value, and the check of the policy against
// the database. Must never let a grant be issued while any of it is missing, stale or contradicted: it throws.

import { createHash } from 'node:crypto';
import { AirlockError, isAirlockError } from '../errors.ts';
import type { Policy } from '../policy/index.ts';
import type { PgClient } from '../postgres/index.ts';
import { quoteIdent, quoteLiteral } from '../postgres/index.ts';
import { emailPattern, hashKeyFingerprint, hashKeyPads } from './expressions.ts';
import {
  buildMaskingModel,
  describeFindings,
  type LeakSubject,
  type MaskingConfig,
  type MaskingModel,
  maskingConfig,
  type PolicyFinding,
  type PrivilegeGrant,
  REPLACED_MEMBERSHIPS,
} from './model.ts';
import { AIRLOCK_MASKING_SCHEMAS, type MaskingNames, maskingNames } from './names.ts';
import { type HeldPrivilege, loadMaskingSnapshot, loadOwnRoles, type MaskingSnapshot } from './snapshot.ts';

/** What a temporary role minted on this connection gets. */
export interface MaskingEnforcement {
  /** False when no masked column of the policy exists in this database: roles are minted exactly as before. */
  active: boolean;
  reader: string;
  writer: string;
  /** Schema names for the role's search_path, the masking schema first (`$user` as written). */
  searchPath: string[];
  /** Policy memberships Airlock grants through its own roles instead (`pg_read_all_data` → the reader). */
  replaces: Record<string, string>;
}

export interface MaskingEnforcerOptions {
  policy: Policy;
  connection: string;
  /** The deployment's role prefix; names derive from it (see names.ts). */
  prefix?: string;
  /** The masking key of the `hash` strategy (the query side's `maskingKey`). */
  hashKey: string | Uint8Array;
  /** How long the upkeep waits for a lock on a view an agent is reading (default 5 s). */
  lockTimeoutMs?: number;
}

export interface MaskingEnforcer {
  readonly names: MaskingNames;
  /**
   * Brings the database in step (when the policy or the catalog changed since the last upkeep) and checks the
   * policy against it; throws `unavailable` with the findings when a grant may not be issued on this connection.
   */
  ensure(client: PgClient): Promise<MaskingEnforcement>;
}

/** Changes when the shape of what Airlock creates changes, so that every database is brought up to it. */
const LAYOUT_VERSION = 1;
const UPKEEP_ATTEMPTS = 4;
/** How long an upkeep waits for another one (the lock) and runs at most. */
const UPKEEP_WAIT_MS = 60_000;
/** Errors a concurrent change of the catalog causes (an object dropped or created meanwhile, a concurrent GRANT). */
const RACES = new Set([
  '42P01',
  '42703',
  '3F000',
  '42704',
  '42710',
  '23505',
  '42P06',
  '42P07',
  '40001',
  '40P01',
  '55P03',
  'XX000',
]);

// Everything upkeep depends on, hashed in the database: relations and schemas (and whether the admin may grant on
// them), the columns of masked tables and their descendants, inheritance, view definitions, foreign keys, the
// roles the policy names, and the default search_path. Other deployments' masking schemas are left out.
const PROBE = `
WITH lines(line) AS (
  SELECT concat_ws(' ', 'r', c.oid, n.nspname, c.relname, c.relkind, c.relrowsecurity, c.reloptions::text,
         has_table_privilege(c.oid, 'SELECT WITH GRANT OPTION'), has_table_privilege(c.oid, 'INSERT WITH GRANT OPTION'),
         has_table_privilege(c.oid, 'UPDATE WITH GRANT OPTION'), has_table_privilege(c.oid, 'DELETE WITH GRANT OPTION'))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
    AND (n.nspname !~ $1 OR n.nspname = ANY($2::text[]))
  UNION ALL
  SELECT concat_ws(' ', 'n', n.oid, n.nspname, has_schema_privilege(n.oid, 'USAGE WITH GRANT OPTION'))
  FROM pg_namespace n
  WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' AND (n.nspname !~ $1 OR n.nspname = ANY($2::text[]))
  UNION ALL
  SELECT concat_ws(' ', 'a', a.attrelid, a.attnum, a.attname, a.atttypid)
  FROM pg_attribute a
  WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid IN (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE lower(n.nspname || '.' || c.relname) = ANY($3::text[])
    UNION SELECT inhrelid FROM pg_inherits)
  UNION ALL
  SELECT concat_ws(' ', 'i', inhrelid, inhparent) FROM pg_inherits
  UNION ALL
  SELECT concat_ws(' ', 'v', r.ev_class, md5(r.ev_action::text))
  FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('v', 'm') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
    AND (n.nspname !~ $1 OR n.nspname = ANY($2::text[]))
  UNION ALL
  SELECT concat_ws(' ', 'f', con.oid, con.conrelid, con.conkey::text, con.confrelid, con.confkey::text)
  FROM pg_constraint con WHERE con.contype = 'f'
  UNION ALL
  SELECT concat_ws(' ', 'o', w.name, r.oid, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
         (SELECT array_agg(m.roleid ORDER BY m.roleid)::text FROM pg_auth_members m WHERE m.member = r.oid))
  FROM unnest($4::text[]) AS w(name) LEFT JOIN pg_roles r ON r.rolname = w.name
  UNION ALL
  SELECT concat_ws(' ', 's', s.setdatabase, s.setconfig::text) FROM pg_db_role_setting s WHERE s.setrole = 0
),
subjects AS (
  SELECT s.relid, s.attnum, s.ord::int4 AS ord, p.privilege
  FROM unnest($6::oid[], $7::int4[], $8::text[]) WITH ORDINALITY AS s(relid, attnum, privileges, ord)
  CROSS JOIN LATERAL unnest(string_to_array(s.privileges, ',')) AS p(privilege)
  WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = s.relid)
),
leaks AS (
  SELECT r.rolname::text AS role, s.ord AS subject, s.privilege
  FROM pg_roles r CROSS JOIN subjects s
  WHERE r.rolname = ANY($5::text[])
    AND CASE
      WHEN s.attnum = 0 THEN has_any_column_privilege(r.oid, s.relid, s.privilege)
      WHEN NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = s.relid AND a.attnum = s.attnum AND NOT a.attisdropped) THEN false
      ELSE has_column_privilege(r.oid, s.relid, s.attnum::int2, s.privilege)
    END
  UNION ALL
  SELECT 'PUBLIC', s.ord, s.privilege
  FROM subjects s
  WHERE EXISTS (SELECT 1 FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) x
                 WHERE c.oid = s.relid AND x.grantee = 0 AND x.privilege_type = s.privilege)
     OR EXISTS (SELECT 1 FROM pg_attribute a CROSS JOIN LATERAL aclexplode(a.attacl) x
                 WHERE a.attrelid = s.relid AND (s.attnum = 0 OR a.attnum = s.attnum) AND NOT a.attisdropped
                   AND x.grantee = 0 AND x.privilege_type = s.privilege)
)
SELECT (SELECT md5(string_agg(line, E'\\n' ORDER BY line)) FROM lines),
       (SELECT obj_description(n.oid, 'pg_namespace') FROM pg_namespace n WHERE n.nspname = $9),
       (SELECT coalesce(json_agg(json_build_array(role, subject, privilege)), '[]'::json) FROM leaks)`;

interface Probe {
  digest: string;
  stored: string | null;
  leaks: Array<{ role: string; subject: number; privilege: string }>;
}

interface Known {
  stamp: string;
  model: MaskingModel;
}

interface Scope {
  names: MaskingNames;
  config: MaskingConfig;
  /** Masked tables as `schema.table` (lower case): their columns are part of the digest. */
  tables: string[];
  /** Every role the connection's profiles name. */
  policyRoles: string[];
}

function scopeOf(names: MaskingNames, config: MaskingConfig): Scope {
  return {
    names,
    config,
    tables: [...new Set(config.columns.map((column) => `${column.schema}.${column.table}`))],
    policyRoles: [...new Set(config.profiles.flatMap((profile) => profile.memberOf))],
  };
}

/** The roles a temporary role may belong to on this connection: none may reach a raw value. */
function subjectRoles(scope: Scope, model: MaskingModel): string[] {
  return [
    ...(model.active ? [scope.names.reader, scope.names.writer] : []),
    ...scope.policyRoles.filter((role) => !(model.active && role in REPLACED_MEMBERSHIPS)),
  ];
}

/** One round trip: the catalog digest, the stamp of the last upkeep, and (given a model) every privilege that leaks. */
async function probe(client: PgClient, scope: Scope, model: MaskingModel | undefined): Promise<Probe> {
  const subjects = model?.leakSubjects ?? [];
  const result = await client.query({
    // Named: each admin session plans it once (the catalog joins cost more to plan than to run).
    name: 'airlock_masking_probe',
    text: PROBE,
    values: [
      AIRLOCK_MASKING_SCHEMAS,
      [scope.names.schema, scope.names.privateSchema],
      scope.tables,
      scope.policyRoles,
      model ? subjectRoles(scope, model) : [],
      subjects.map((subject) => subject.relid),
      subjects.map((subject) => subject.attnum),
      subjects.map((subject) => subject.privileges.join(',')),
      scope.names.privateSchema,
    ],
    rowMode: 'array',
  });
  const row = result.rows[0] as unknown[] | undefined;
  const leaks = Array.isArray(row?.[2]) ? (row[2] as unknown[][]) : [];
  return {
    digest: typeof row?.[0] === 'string' ? row[0] : '',
    stored: typeof row?.[1] === 'string' ? row[1] : null,
    leaks: leaks.map((leak) => ({ role: String(leak[0]), subject: Number(leak[1]), privilege: String(leak[2]) })),
  };
}

/** Each privilege that lets PUBLIC, Airlock's roles or a policy role reach a raw value, as a finding. */
function leakFindings(scope: Scope, model: MaskingModel, leaks: Probe['leaks']): PolicyFinding[] {
  const { names, config } = scope;
  const findings: PolicyFinding[] = [];
  for (const leak of leaks) {
    const subject: LeakSubject | undefined = model.leakSubjects[leak.subject - 1];
    if (!subject) continue;
    const verb = leak.privilege === 'SELECT' ? 'read' : 'write';
    const what =
      subject.hashed && verb === 'write'
        ? `${subject.label} (masked by hash: writing chosen values and reading their hashes reveals others')`
        : subject.label;
    if (leak.role === 'PUBLIC' || leak.role === names.reader || leak.role === names.writer) {
      findings.push({
        severity: 'error',
        path: subject.path,
        message: `${leak.role === 'PUBLIC' ? 'PUBLIC' : `${leak.role} (through a privilege Airlock did not grant)`} can ${verb} ${what}; revoke that privilege, or masking cannot hold`,
      });
      continue;
    }
    for (const profile of config.profiles)
      profile.memberOf.forEach((role, index) => {
        if (role === leak.role)
          findings.push({
            severity: 'error',
            path: `connections.${config.connection}.profiles.${profile.name}.memberOf[${index}]`,
            message: `role ${role} can ${verb} ${what}, which is masked; a temporary role may not belong to it`,
          });
      });
  }
  return dedupe(findings);
}

/**
 * The policy checked against one database, changing nothing: masked columns, profile roles and guardrail tables
 * exist, and no role a temporary role would belong to (nor PUBLIC) reaches a masked column's raw value.
 */
export async function checkPolicyAgainstDatabase(
  client: PgClient,
  options: { policy: Policy; connection: string; prefix?: string },
): Promise<PolicyFinding[]> {
  const scope = scopeOf(maskingNames(options.prefix), maskingConfig(options.policy, options.connection));
  const model = buildMaskingModel(
    scope.config,
    await loadMaskingSnapshot(client, { names: scope.names, tables: scope.tables, roles: scope.policyRoles }),
    scope.names,
  );
  const { leaks } = await probe(client, scope, model);
  return [...model.findings, ...leakFindings(scope, model, leaks)];
}

export function createMaskingEnforcer(options: MaskingEnforcerOptions): MaskingEnforcer {
  const names = maskingNames(options.prefix);
  const config = maskingConfig(options.policy, options.connection);
  const lockTimeoutMs = options.lockTimeoutMs ?? 5000;
  const pads = hashKeyPads(options.hashKey);
  const fingerprint = hashKeyFingerprint(options.hashKey);
  const configHash = createHash('sha256')
    .update(
      JSON.stringify({
        LAYOUT_VERSION,
        names,
        config,
        key: fingerprint,
        email: createHash('sha256').update(emailPattern()).digest('hex'),
      }),
    )
    .digest('hex');
  const stampOf = (digest: string) =>
    `airlock masking ${createHash('sha256').update(`${configHash}:${digest}`).digest('hex')}`;
  const scope = scopeOf(names, config);
  let known: Known | undefined;

  function refuse(findings: PolicyFinding[]): never {
    const errors = describeFindings(findings.filter((finding) => finding.severity === 'error'));
    throw new AirlockError(
      'unavailable',
      `connection ${options.connection} does not match the policy, so no grant is issued on it: ${errors.join('; ')}`,
      { findings: errors },
    );
  }

  function enforcement(model: MaskingModel): MaskingEnforcement {
    return {
      active: model.active,
      reader: names.reader,
      writer: names.writer,
      searchPath: model.searchPath,
      replaces: model.active ? { pg_read_all_data: names.reader, pg_write_all_data: names.writer } : {},
    };
  }

  async function snapshotOf(client: PgClient): Promise<MaskingSnapshot> {
    return loadMaskingSnapshot(client, { names, tables: scope.tables, roles: scope.policyRoles });
  }

  async function ensure(client: PgClient): Promise<MaskingEnforcement> {
    const first = await probe(client, scope, known?.model);
    const expected = stampOf(first.digest);
    if (known?.stamp === expected && (!known.model.active || first.stored === expected)) {
      const leaks = leakFindings(scope, known.model, first.leaks);
      if (leaks.length > 0) refuse(leaks);
      return enforcement(known.model);
    }
    const model = buildMaskingModel(config, await snapshotOf(client), names);
    if (model.findings.some((finding) => finding.severity === 'error')) refuse(model.findings);
    if (model.active && first.stored !== expected) {
      known = await upkeepWithRetries(client);
      return enforcement(known.model);
    }
    const verified = await probe(client, scope, model);
    const leaks = leakFindings(scope, model, verified.leaks);
    if (leaks.length > 0) refuse(leaks);
    known = { stamp: stampOf(verified.digest), model };
    return enforcement(model);
  }

  async function upkeepWithRetries(client: PgClient): Promise<Known> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await upkeep(client);
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        const sqlstate = sqlstateOf(error);
        if (attempt < UPKEEP_ATTEMPTS && sqlstate && RACES.has(sqlstate)) {
          await new Promise((resolve) => setTimeout(resolve, 25 + Math.random() * 100 * attempt));
          continue;
        }
        if (isAirlockError(error)) throw error;
        throw new AirlockError(
          'unavailable',
          `masking could not be set up on connection ${options.connection}${sqlstate ? ` (SQLSTATE ${sqlstate})` : ''}; no grant is issued on it (see docs/masking.md for what the admin credential needs)`,
          sqlstate ? { sqlstate } : {},
          { cause: error },
        );
      }
    }
  }

  async function upkeep(client: PgClient): Promise<Known> {
    const run = (sql: string) => client.query(sql);
    const asOwner = (statements: string[]) =>
      statements.length === 0
        ? Promise.resolve()
        : run([`SET LOCAL ROLE ${quoteIdent(names.owner)}`, ...statements, 'RESET ROLE'].join(';\n'));
    const owner = quoteIdent(names.owner);
    const privateSchema = quoteIdent(names.privateSchema);
    await run('BEGIN');
    // Definitions are stored by OID: resolving them with only pg_catalog on the path leaves nothing to shadow a built-in.
    await run(
      `SET LOCAL search_path = pg_catalog, pg_temp; SET LOCAL lock_timeout = ${UPKEEP_WAIT_MS}; SET LOCAL statement_timeout = ${UPKEEP_WAIT_MS}; SET LOCAL standard_conforming_strings = on`,
    );
    const existing = await loadOwnRoles(client, names);
    const setup: string[] = [];
    for (const role of [names.owner, names.reader, names.writer])
      if (!existing.roles.has(role)) setup.push(`CREATE ROLE ${quoteIdent(role)} NOLOGIN`);
    // The admin acts as the owner (SET ROLE) to own what it creates; since Postgres 16 that needs the SET option.
    if (!existing.canSetOwner)
      setup.push(`GRANT ${owner} TO CURRENT_USER${existing.serverVersion >= 160000 ? ' WITH SET TRUE' : ''}`);
    setup.push(
      `CREATE SCHEMA IF NOT EXISTS ${privateSchema} AUTHORIZATION ${owner}`,
      `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(names.schema)} AUTHORIZATION ${owner}`,
    );
    await run(setup.join(';\n'));
    // Upkeeps of one deployment queue on a table in a schema no temporary role may use, so no agent can take this lock.
    await asOwner([
      `CREATE TABLE IF NOT EXISTS ${privateSchema}.upkeep_lock ()`,
      `CREATE TABLE IF NOT EXISTS ${privateSchema}.hash_key (fingerprint text NOT NULL, ipad bytea NOT NULL, opad bytea NOT NULL)`,
      `LOCK TABLE ${privateSchema}.upkeep_lock IN EXCLUSIVE MODE`,
      // Another upkeep may hold the lock a while; a view an agent is reading must not hold this one for long.
      `SET LOCAL lock_timeout = ${lockTimeoutMs}`,
    ]);
    const snapshot = await snapshotOf(client);
    const model = buildMaskingModel(config, snapshot, names);
    if (model.findings.some((finding) => finding.severity === 'error')) refuse(model.findings);
    const locked = await probe(client, scope, model);
    if (locked.stored === stampOf(locked.digest)) {
      // Another instance brought it up to date while this one waited for the lock.
      const leaks = leakFindings(scope, model, locked.leaks);
      if (leaks.length > 0) refuse(leaks);
      await run('COMMIT');
      return { stamp: locked.stored, model };
    }

    const { revoke, grant, ownerRevoke, ownerGrant } = privilegeChanges(model.desired, snapshot, names);
    if (revoke.length > 0) await run(revoke.join(';\n'));
    const baseGrants = grant.filter((statement) => statement.grantee === names.owner);
    if (baseGrants.length > 0) await run(baseGrants.map((statement) => statement.sql).join(';\n'));

    await run(`SET LOCAL ROLE ${owner}`);
    const stored = await client.query({ text: `SELECT fingerprint FROM ${privateSchema}.hash_key`, rowMode: 'array' });
    const current = stored.rows.length === 1 ? (stored.rows[0] as unknown[])[0] : null;
    if (current !== fingerprint) {
      await run(`DELETE FROM ${privateSchema}.hash_key`);
      await client.query({
        text: `INSERT INTO ${privateSchema}.hash_key (fingerprint, ipad, opad) VALUES ($1, $2, $3)`,
        values: [fingerprint, pads.ipad, pads.opad],
      });
    }
    const viewGrants = await reconcileViews(client, model, snapshot);
    await run('RESET ROLE');
    await asOwner([...ownerRevoke, ...ownerGrant, ...viewGrants]);
    const roleGrants = grant.filter((statement) => statement.grantee !== names.owner);
    if (roleGrants.length > 0) await run(roleGrants.map((statement) => statement.sql).join(';\n'));

    const after = await probe(client, scope, model);
    const leaks = leakFindings(scope, model, after.leaks);
    if (leaks.length > 0) refuse(leaks);
    const stamp = stampOf(after.digest);
    await asOwner([`COMMENT ON SCHEMA ${privateSchema} IS ${quoteLiteral(stamp)}`]);
    await run('COMMIT');
    return { stamp, model };
  }

  /** Creates, replaces or drops masking views as the owner; returns the grants a new or re-created view needs. */
  async function reconcileViews(client: PgClient, model: MaskingModel, snapshot: MaskingSnapshot): Promise<string[]> {
    const grants: string[] = [];
    const wanted = new Set(model.views.map((view) => view.name));
    for (const stale of snapshot.maskViews.filter((view) => !wanted.has(view.name))) await dropView(client, stale.name);
    for (const view of model.views) {
      const current = snapshot.maskViews.find((existing) => existing.name === view.name);
      if (current && definitionOf(current.comment) === view.definition) continue;
      const qualified = `${quoteIdent(names.schema)}.${quoteIdent(view.name)}`;
      await client.query('SAVEPOINT airlock_view');
      try {
        await client.query(view.sql);
      } catch (error) {
        // A column renamed, dropped or retyped cannot be replaced in place: the view is made again.
        await client.query('ROLLBACK TO SAVEPOINT airlock_view');
        if (!['42P16', '42804'].includes(sqlstateOf(error) ?? '')) throw error;
        await dropView(client, view.name);
        await client.query(view.sql);
      }
      await client.query('RELEASE SAVEPOINT airlock_view');
      const columns = await client.query({
        text: `SELECT attname::text FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
        values: [qualified],
        rowMode: 'array',
      });
      const masked = new Map(view.columnComments.map((entry) => [entry.column, entry.comment]));
      await client.query(
        [
          `COMMENT ON VIEW ${qualified} IS ${quoteLiteral(view.comment)}`,
          ...(columns.rows as string[][]).map(
            ([column]) =>
              `COMMENT ON COLUMN ${qualified}.${quoteIdent(column!)} IS ${masked.has(column!) ? quoteLiteral(masked.get(column!)!) : 'NULL'}`,
          ),
        ].join(';\n'),
      );
      grants.push(
        `GRANT SELECT ON ${qualified} TO ${quoteIdent(names.reader)}`,
        `GRANT INSERT, UPDATE, DELETE ON ${qualified} TO ${quoteIdent(names.writer)}`,
      );
    }
    return grants;
  }

  async function dropView(client: PgClient, name: string): Promise<void> {
    try {
      await client.query(`DROP VIEW ${quoteIdent(names.schema)}.${quoteIdent(name)}`);
    } catch (error) {
      if (sqlstateOf(error) !== '2BP01') throw error;
      throw new AirlockError(
        'unavailable',
        `masking view ${names.schema}.${name} must be replaced but other objects depend on it; drop them (it is Airlock's)`,
        {},
        { cause: error },
      );
    }
  }

  return { names, ensure };
}

function definitionOf(comment: string | null): string | undefined {
  if (!comment) return undefined;
  try {
    const parsed: unknown = JSON.parse(comment);
    const definition = (parsed as { definition?: unknown } | null)?.definition;
    return typeof definition === 'string' ? definition : undefined;
  } catch {
    return undefined;
  }
}

interface Statement {
  grantee: string;
  sql: string;
}

/**
 * GRANT and REVOKE statements that take Airlock's roles from what they hold to what the model wants. The reader
 * and the writer lose anything else they were given; the owner's own objects (Airlock's schemas and views) are
 * granted by the owner, and a REVOKE always comes before the GRANTs (revoking a table privilege drops its columns').
 */
function privilegeChanges(desired: PrivilegeGrant[], snapshot: MaskingSnapshot, names: MaskingNames) {
  const ours = new Set([names.schema, names.privateSchema]);
  const relations = new Map(snapshot.relations.map((relation) => [relation.oid, relation]));
  const schemas = new Map(snapshot.schemas.map((schema) => [schema.oid, schema]));
  const columns = new Map<string, string>();
  for (const [relid, list] of snapshot.columns)
    for (const column of list) columns.set(`${relid}:${column.attnum}`, column.name);
  const keyOf = (grant: { grantee: string; on: string; oid: number; attnum: number | null; privilege: string }) =>
    `${grant.grantee}|${grant.on}|${grant.oid}|${grant.attnum ?? ''}|${grant.privilege}`;
  const wanted = new Map(desired.map((grant) => [keyOf(grant), grant]));
  const held = new Map(snapshot.held.map((grant) => [keyOf(grant), grant]));
  const isOurs = (on: string, oid: number) =>
    on === 'schema' ? ours.has(schemas.get(oid)?.name ?? '') : ours.has(relations.get(oid)?.schema ?? '');
  const managedByOwner = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'USAGE']);

  const toRevoke = [...held.values()].filter((grant) => {
    if (wanted.has(keyOf(grant))) return false;
    if (grant.grantee === names.owner) return managedByOwner.has(grant.privilege) && !isOurs(grant.on, grant.oid);
    return true;
  });
  const toGrant = [...wanted.values()].filter((grant) => !held.has(keyOf(grant)));

  const target = (grant: { on: string; oid: number }): string | undefined => {
    if (grant.on === 'schema') {
      const schema = schemas.get(grant.oid);
      return schema && `SCHEMA ${quoteIdent(schema.name)}`;
    }
    const relation = relations.get(grant.oid);
    if (!relation) return undefined;
    return `${relation.kind === 'S' ? 'SEQUENCE' : 'TABLE'} ${quoteIdent(relation.schema)}.${quoteIdent(relation.name)}`;
  };
  // One statement per (grantee, object, privilege); column privileges of one table and privilege in one list.
  const render = (verb: 'GRANT' | 'REVOKE', list: ReadonlyArray<HeldPrivilege | PrivilegeGrant>): Statement[] => {
    const groups = new Map<
      string,
      { grantee: string; on: string; oid: number; privilege: string; columns: string[] }
    >();
    for (const grant of list) {
      const key = `${grant.grantee}|${grant.on === 'column' ? 'relation' : grant.on}|${grant.oid}|${grant.privilege}|${grant.on === 'column'}`;
      const group = groups.get(key) ?? {
        grantee: grant.grantee,
        on: grant.on,
        oid: grant.oid,
        privilege: grant.privilege,
        columns: [],
      };
      if (grant.on === 'column') {
        const name = columns.get(`${grant.oid}:${grant.attnum}`);
        if (name !== undefined) group.columns.push(quoteIdent(name));
      }
      groups.set(key, group);
    }
    const statements: Statement[] = [];
    for (const group of groups.values()) {
      const on = target({ on: group.on === 'column' ? 'relation' : group.on, oid: group.oid });
      if (!on || (group.on === 'column' && group.columns.length === 0)) continue;
      const privilege = group.on === 'column' ? `${group.privilege} (${group.columns.join(', ')})` : group.privilege;
      statements.push({
        grantee: group.grantee,
        sql: `${verb} ${privilege} ON ${on} ${verb === 'GRANT' ? 'TO' : 'FROM'} ${quoteIdent(group.grantee)}`,
      });
    }
    return statements;
  };
  const revokeOurs = toRevoke.filter((grant) => isOurs(grant.on, grant.oid));
  const grantOurs = toGrant.filter((grant) => isOurs(grant.on, grant.oid));
  return {
    revoke: render(
      'REVOKE',
      toRevoke.filter((grant) => !isOurs(grant.on, grant.oid)),
    ).map((statement) => statement.sql),
    grant: render(
      'GRANT',
      toGrant.filter((grant) => !isOurs(grant.on, grant.oid)),
    ),
    ownerRevoke: render('REVOKE', revokeOurs).map((statement) => statement.sql),
    ownerGrant: render('GRANT', grantOurs).map((statement) => statement.sql),
  };
}

function dedupe(findings: PolicyFinding[]): PolicyFinding[] {
  const seen = new Set<string>();
  return findings.filter((finding) => {
    const key = `${finding.path}|${finding.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function sqlstateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
