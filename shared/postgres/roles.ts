// The admin side of temporary roles, Vault-style: mint one for a grant, revoke it, list them; nothing else.
// Must never put an unquoted identifier or a plaintext password into SQL, nor touch a role outside the prefix.

import { AirlockError, unavailable } from '../errors.ts';
import type { Profile } from '../policy/index.ts';
import { closeClient, type PgClient } from './driver.ts';
import { isConnectionLost } from './execute.ts';
import { scramVerifier } from './password.ts';
import { quoteIdent, quoteLiteral } from './quote.ts';
import { roleLockKey, roleNameFor } from './role-names.ts';

export const ROLE_PREFIX = 'airlock_';
/**
 * SCRAM iterations of a temporary role's verifier. Iterations only slow down guessing low-entropy
 * passwords; these are 256-bit HMAC outputs, and every login would otherwise pay ~130 ms of PBKDF2.
 */
const ROLE_SCRAM_ITERATIONS = 16;
const ROLE_NAME = /^airlock_[a-z0-9_]{1,55}$/;
const DEFAULT_IDLE_IN_TRANSACTION_SECONDS = 60;
const DEFAULT_LOCK_TIMEOUT_SECONDS = 5;
/**
 * Every admin statement waits at most this long for a lock, and runs at most this long. Minting and blocking
 * logins wait only on other admin transactions (role rows, memberships), which are bounded the same way.
 */
const ADMIN_LOCK_TIMEOUT_MS = 5000;
const ADMIN_STATEMENT_TIMEOUT_MS = 10_000;
/** A drop waits at most this long for a lock: grants' sessions can hold locks on the role's objects. */
const DROP_LOCK_TIMEOUT_MS = 2000;
/** What revokeRole spends on dropping (after logins are blocked and sessions ended) unless told otherwise. */
const DEFAULT_DROP_BUDGET_MS = 2000;
/** Large objects unlinked per transaction before DROP OWNED: it takes one lock per object, and the lock table is finite. */
const LARGE_OBJECT_BATCH = 1000;
/** SQLSTATEs after which a drop is left for later: a lock or the budget ran out, or a concurrent change won. */
const DEFERRED_DROP = new Set(['55P03', '57014', '40P01', '40001', 'XX000', '53200']);
/** Of those, what another session's work causes and its end cures: a drop step meeting one is tried again in budget. */
const CONTENDED = new Set(['55P03', '40P01', '40001', 'XX000']);
/** Tries of one drop step under contention: a session holding a lock the drop needs delays a sweep by 3 lock waits at most. */
const DROP_STEP_ATTEMPTS = 3;
/** Predefined roles that reach the server's files or shell: never a temporary role's to have. */
export const FORBIDDEN_MEMBERSHIPS = [
  'postgres',
  'pg_execute_server_program',
  'pg_read_server_files',
  'pg_write_server_files',
];
const TERMINATION_WAIT_MS = 2000;
const TERMINATION_POLL_MS = 25;

export interface RoleSpec {
  grantId: string;
  validUntil: Date;
  profile: Profile;
  password: string;
  statementTimeoutSeconds: number;
  /** Default 60. */
  idleInTransactionTimeoutSeconds?: number;
  /** How long the role's statements wait for a lock (the policy's `limits.lockTimeout`); default 5. */
  lockTimeoutSeconds?: number;
}

export interface RevokeResult {
  existed: boolean;
  terminated: number;
  dropped: boolean;
}

export interface RoleInfo {
  role: string;
  validUntil: Date | null;
  canLogin: boolean;
}

export interface RoleAdmin {
  /**
   * Whether a grant may be issued on this connection now: its masking is set up and in step, and the policy
   * matches the database (throws `unavailable` naming what does not). Call it before writing a grant.
   */
  prepareConnection(): Promise<void>;
  /** Creates the grant's role, or resets it to the spec when a retried activation finds it (`created: false`). */
  mintRole(spec: RoleSpec): Promise<{ role: string; created: boolean }>;
  /**
   * Blocks logins and ends the role's sessions without waiting on any lock, then drops everything it owns and
   * the role within `dropBudgetMs`. `dropped` is false when that has to wait (the role can no longer log in;
   * the sweeper finishes it); `existed` is false when it was already gone.
   */
  revokeRole(role: string, options?: { dropBudgetMs?: number }): Promise<RevokeResult>;
  /** Every role whose name starts with this deployment's prefix. */
  listRoles(): Promise<RoleInfo[]>;
}

/** `airlock_`, or `airlock_<tag>_` for a deployment that shares its database with another one. */
export function assertPrefix(prefix: string): void {
  if (!/^airlock_(?:[a-z0-9]{1,12}_)?$/.test(prefix))
    throw new AirlockError('invalid_config', `invalid role prefix "${prefix}" (airlock_ or airlock_<tag>_)`);
}

/**
 * The connection's masking, as the mint needs it (shared/masking/enforce.ts): when active, the policy's
 * `pg_read_all_data`/`pg_write_all_data` are replaced by Airlock's reader/writer and the role's search_path
 * starts with the masking schema.
 */
export interface RoleMasking {
  active: boolean;
  searchPath: string[];
  replaces: Record<string, string>;
}

export interface RoleAdminOptions {
  connect: () => Promise<PgClient>;
  /** Brings the connection's masking in step and says how to mint on it; absent: no masking in the database. */
  masking?: (client: PgClient) => Promise<RoleMasking>;
  /** Gives a client back for reuse (default: close it); `broken` clients must not be reused. */
  release?: (client: PgClient, broken: boolean) => void;
  /** This deployment's role prefix (default `airlock_`); listRoles sees only roles under it. */
  prefix?: string;
  /** Names roles and keys their locks (role-names.ts): the same key the grant service names roles with. */
  roleKey: string;
}

export function createRoleAdmin(options: RoleAdminOptions): RoleAdmin {
  const prefix = options.prefix ?? ROLE_PREFIX;
  assertPrefix(prefix);
  const release = options.release ?? ((client: PgClient) => void closeClient(client));
  const naming = { roleKey: options.roleKey, prefix };
  const bounded = new WeakSet<PgClient>();
  // Profile roles are re-checked at most once a minute per database, not on every mint.
  const checkedMemberships = new Map<string, number>();
  const checkMembershipsOnce = async (client: PgClient, memberOf: string[]) => {
    const key = memberOf.join(',');
    if ((checkedMemberships.get(key) ?? 0) > Date.now()) return;
    await checkMemberships(client, memberOf);
    checkedMemberships.set(key, Date.now() + MEMBERSHIP_CHECK_TTL_MS);
  };
  const withClient = async <T>(action: string, work: (client: PgClient) => Promise<T>): Promise<T> => {
    let client: PgClient;
    try {
      client = await options.connect();
    } catch (error) {
      throw databaseFailure(error, action);
    }
    let broken = false;
    try {
      if (!bounded.has(client)) {
        // Every admin statement is bounded: a lock a session holds, or a slow catalog, cannot hold an admin session.
        await client.query(
          `SET lock_timeout = ${ADMIN_LOCK_TIMEOUT_MS}; SET statement_timeout = ${ADMIN_STATEMENT_TIMEOUT_MS}`,
        );
        bounded.add(client);
      }
      return await work(client);
    } catch (error) {
      broken = isConnectionLost(error);
      throw databaseFailure(error, action);
    } finally {
      release(client, broken);
    }
  };

  return {
    async prepareConnection() {
      const masking = options.masking;
      if (masking) await withClient('set up masking', async (client) => void (await masking(client)));
    },

    async mintRole(spec) {
      const role = roleNameFor(spec.grantId, naming);
      assertRoleName(role);
      // A bad spec is refused before any connection is made.
      mintPlan(role, spec);
      return withClient('create roles', async (client) => {
        const plan = mintPlan(role, spec, options.masking ? await options.masking(client) : undefined);
        await checkMembershipsOnce(client, plan.checked);
        // One round trip to open: a lost mint fails closed (less access), so it need not wait for
        // the WAL flush; revocation below always commits synchronously.
        await client.query(
          `BEGIN; SET LOCAL synchronous_commit = off; ${lockStatement(options.roleKey, role)}; SAVEPOINT create_role`,
        );
        try {
          let created = true;
          try {
            await client.query([plan.create, ...plan.configure].join(';\n'));
          } catch (error) {
            // 23505: a CREATE outside our lock committed while ours waited on pg_authid's unique index.
            if (!['42710', '23505'].includes(sqlstateOf(error) ?? '')) throw error;
            await client.query('ROLLBACK TO SAVEPOINT create_role');
            await resetExistingRole(client, role, plan);
            await client.query(plan.configure.join(';\n'));
            created = false;
          }
          await grantDatabaseAccess(client, role);
          await client.query('COMMIT');
          return { role, created };
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        }
      });
    },

    async revokeRole(role, revokeOptions = {}) {
      assertRoleName(role);
      const budgetMs = revokeOptions.dropBudgetMs ?? DEFAULT_DROP_BUDGET_MS;
      positiveInteger(budgetMs, 'drop budget');
      return withClient('drop roles', async (client) => {
        const found = await client.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [role]);
        if (found.rowCount === 0) return { existed: false, terminated: 0, dropped: true };
        // The window closes first, and waits on nothing a session can hold: no advisory lock, and an
        // ALTER that a concurrent admin change (the only writer of this row) can only make fail, then retry.
        const blocked = await goneDuring(() =>
          retried(() => client.query(`ALTER ROLE ${quoteIdent(role)} NOLOGIN`), ['XX000', '40001']),
        );
        if (blocked) return { existed: true, terminated: 0, dropped: true };
        const terminated = await terminateSessions(client, role);
        const dropped = await dropRole(client, options.roleKey, role, Date.now() + budgetMs);
        return { existed: true, terminated, dropped };
      });
    },

    async listRoles() {
      return withClient('list roles', async (client) => {
        const result = await client.query<{ role: string; valid_until: Date | null; can_login: boolean }>(
          `SELECT rolname AS role, CASE WHEN isfinite(rolvaliduntil) THEN rolvaliduntil END AS valid_until, rolcanlogin AS can_login
             FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname`,
          [prefix],
        );
        return result.rows.map((row) => ({ role: row.role, validUntil: row.valid_until, canLogin: row.can_login }));
      });
    },
  };
}

interface MintPlan {
  memberOf: string[];
  /** The policy's memberships the role keeps as written (not replaced by masking): checked before each mint. */
  checked: string[];
  create: string;
  /** Resets an existing role's login attributes; memberships are reconciled separately. */
  reset: string;
  configure: string[];
}

/** The SQL of a mint, as data; validates the spec first, since these statements cannot take parameters. */
function mintPlan(role: string, spec: RoleSpec, masking?: RoleMasking): MintPlan {
  const { profile } = spec;
  if (!(spec.validUntil instanceof Date) || Number.isNaN(spec.validUntil.getTime())) {
    throw new AirlockError('invalid_request', 'a role needs a valid expiry');
  }
  const statementTimeout = positiveInteger(spec.statementTimeoutSeconds, 'statement timeout');
  const idleTimeout = positiveInteger(
    spec.idleInTransactionTimeoutSeconds ?? DEFAULT_IDLE_IN_TRANSACTION_SECONDS,
    'idle-in-transaction timeout',
  );
  const lockTimeout = positiveInteger(spec.lockTimeoutSeconds ?? DEFAULT_LOCK_TIMEOUT_SECONDS, 'lock timeout');
  const connectionLimit = positiveInteger(profile.connectionLimit, 'connection limit');
  const replaces = masking?.active ? masking.replaces : {};
  const checked = [...new Set(profile.memberOf.filter((name) => !(name in replaces)))];
  const memberOf = [...new Set(profile.memberOf.map((name) => replaces[name] ?? name))];
  const ident = quoteIdent(role);
  const login = [
    'LOGIN',
    profile.noInherit ? 'NOINHERIT' : 'INHERIT',
    `PASSWORD ${quoteLiteral(scramVerifier(spec.password, { iterations: ROLE_SCRAM_ITERATIONS }))}`,
    `VALID UNTIL ${quoteLiteral(spec.validUntil.toISOString())}`,
    `CONNECTION LIMIT ${connectionLimit}`,
  ].join(' ');
  return {
    memberOf,
    checked,
    create: `CREATE ROLE ${ident} WITH ${login}${memberOf.length > 0 ? ` IN ROLE ${memberOf.map(quoteIdent).join(', ')}` : ''}`,
    reset: `ALTER ROLE ${ident} WITH ${login}`,
    configure: [
      `ALTER ROLE ${ident} SET statement_timeout = ${quoteLiteral(`${statementTimeout}s`)}`,
      `ALTER ROLE ${ident} SET idle_in_transaction_session_timeout = ${quoteLiteral(`${idleTimeout}s`)}`,
      // The second lock: a read grant's sessions start read-only whatever the statement says.
      ...(profile.readOnly ? [`ALTER ROLE ${ident} SET default_transaction_read_only = on`] : []),
      `ALTER ROLE ${ident} SET lock_timeout = ${quoteLiteral(`${lockTimeout}s`)}`,
      // Unqualified names reach the masking views first, so `SELECT * FROM customers` returns masked values.
      ...(masking?.active
        ? [`ALTER ROLE ${ident} SET search_path = ${masking.searchPath.map(quoteIdent).join(', ')}`]
        : []),
    ],
  };
}

const MEMBERSHIP_CHECK_TTL_MS = 60_000;

/** memberOf comes from the reviewed policy, but a typo there must not hand out a superuser. */
async function checkMemberships(client: PgClient, memberOf: string[]): Promise<void> {
  if (memberOf.length === 0) return;
  const result = await client.query<{ name: string; elevated: boolean }>(
    `SELECT c.rolname AS name,
            starts_with(c.rolname, $3) OR EXISTS (
              SELECT 1 FROM pg_roles s
               WHERE (s.rolsuper OR s.rolcreaterole OR s.rolcreatedb OR s.rolreplication OR s.rolbypassrls OR s.rolname = ANY($2::text[]))
                 AND pg_has_role(c.oid, s.oid, 'MEMBER')) AS elevated
       FROM pg_roles c WHERE c.rolname = ANY($1::text[])`,
    [memberOf, FORBIDDEN_MEMBERSHIPS, ROLE_PREFIX],
  );
  const found = new Map(result.rows.map((row) => [row.name, row.elevated]));
  for (const name of memberOf) {
    if (!found.has(name)) throw new AirlockError('invalid_config', `profile role ${name} does not exist`);
    if (found.get(name))
      throw new AirlockError(
        'invalid_config',
        `profile role ${name} is privileged; a temporary role may not belong to it`,
      );
  }
}

/** A retried activation: bring the role back to the spec instead of creating a second one. */
async function resetExistingRole(client: PgClient, role: string, plan: MintPlan): Promise<void> {
  const existing = await client.query<{ elevated: boolean; member_of: string[] }>(
    `SELECT r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls AS elevated,
            ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid) AS member_of
       FROM pg_roles r WHERE r.rolname = $1`,
    [role],
  );
  const row = existing.rows[0];
  if (!row) throw new AirlockError('conflict', `role ${role} vanished while it was being minted`);
  if (row.elevated)
    throw new AirlockError(
      'invalid_config',
      `existing role ${role} has attributes Airlock never grants; refusing to reuse it`,
    );
  const ident = quoteIdent(role);
  // Attributes first: re-granted memberships take their inheritance from the role's INHERIT attribute.
  await client.query(
    [
      plan.reset,
      `ALTER ROLE ${ident} RESET ALL`,
      ...[...new Set(row.member_of)].map((name) => `REVOKE ${quoteIdent(name)} FROM ${ident}`),
      ...(plan.memberOf.length > 0 ? [`GRANT ${plan.memberOf.map(quoteIdent).join(', ')} TO ${ident}`] : []),
    ].join(';\n'),
  );
}

/** PUBLIC has CONNECT and USAGE on public by default; grant them only where that was revoked. */
async function grantDatabaseAccess(client: PgClient, role: string): Promise<void> {
  const access = await client.query<{ database: string; can_connect: boolean; public_usage: boolean | null }>(
    `SELECT current_database() AS database,
            has_database_privilege($1, current_database(), 'CONNECT') AS can_connect,
            (SELECT has_schema_privilege($1, n.oid, 'USAGE') FROM pg_namespace n WHERE n.nspname = 'public') AS public_usage`,
    [role],
  );
  const row = access.rows[0];
  if (!row) return;
  const grants = [
    ...(row.can_connect ? [] : [`GRANT CONNECT ON DATABASE ${quoteIdent(row.database)} TO ${quoteIdent(role)}`]),
    ...(row.public_usage === false ? [`GRANT USAGE ON SCHEMA public TO ${quoteIdent(role)}`] : []),
  ];
  if (grants.length > 0) await client.query(grants.join(';\n'));
}

/** Terminates the role's backends (in every database) until none is left or the wait is over. */
async function terminateSessions(client: PgClient, role: string): Promise<number> {
  const signalled = new Set<number>();
  const deadline = Date.now() + TERMINATION_WAIT_MS;
  for (;;) {
    const result = await client.query<{ pid: number; signalled: boolean }>(
      `SELECT pid, pg_terminate_backend(pid) AS signalled FROM pg_stat_activity WHERE usename = $1`,
      [role],
    );
    for (const row of result.rows) if (row.signalled) signalled.add(row.pid);
    if (result.rows.length === 0 || Date.now() >= deadline) return signalled.size;
    await new Promise((resolve) => setTimeout(resolve, TERMINATION_POLL_MS));
  }
}

/**
 * Drops everything the role owns (large objects first, in batches), then the role, each step under the role's
 * lock and within the deadline. Nothing is handed to anyone: objects that depend on the role's go with them.
 * False when a lock, the deadline or a concurrent change stopped it; what committed stays done.
 */
async function dropRole(client: PgClient, roleKey: string, role: string, deadline: number): Promise<boolean> {
  const ident = quoteIdent(role);
  /** One transaction under the role's lock, bounded by what is left of the deadline; its statement's rows, or null when none is left. */
  const step = async (statement: string): Promise<Array<Record<string, unknown>> | null> => {
    for (let attempt = 1; ; attempt++) {
      const left = Math.floor(deadline - Date.now());
      if (left < 1) return null;
      try {
        const results = (await client.query(
          [
            'BEGIN',
            `SET LOCAL statement_timeout = ${left}`,
            `SET LOCAL lock_timeout = ${Math.min(left, DROP_LOCK_TIMEOUT_MS)}`,
            lockStatement(roleKey, role),
            statement,
            'COMMIT',
          ].join(';\n'),
        )) as unknown as Array<{ rows: Array<Record<string, unknown>> }>;
        return results[4]?.rows ?? [];
      } catch (error) {
        // Another admin session on this role (a second sweeper dropping it) or on the same catalog rows: once it
        // is done, the step can go through, so it is tried again while the budget lasts.
        if (attempt >= DROP_STEP_ATTEMPTS || !CONTENDED.has(sqlstateOf(error) ?? '') || deadline - Date.now() < 1)
          throw error;
        await client.query('ROLLBACK').catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 80));
      }
    }
  };
  try {
    for (;;) {
      const rows = await step(
        `SELECT count(lo_unlink(m.oid))::int AS unlinked FROM (SELECT oid FROM pg_largeobject_metadata
           WHERE lomowner = (SELECT oid FROM pg_roles WHERE rolname = ${quoteLiteral(role)}) LIMIT ${LARGE_OBJECT_BATCH}) m`,
      );
      if (rows === null) return false;
      if (Number(rows[0]?.unlinked ?? 0) < LARGE_OBJECT_BATCH) break;
    }
    return (await step(`DROP OWNED BY ${ident} CASCADE;\nDROP ROLE ${ident}`)) !== null;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    const sqlstate = sqlstateOf(error);
    if (sqlstate === '42704') return true;
    if (sqlstate && DEFERRED_DROP.has(sqlstate)) return false;
    throw error;
  }
}

/** Runs a statement again (at most twice more) when it fails with one of `sqlstates`. */
async function retried<T>(run: () => Promise<T>, sqlstates: string[]): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= 3 || !sqlstates.includes(sqlstateOf(error) ?? '')) throw error;
    }
  }
}

/** Runs a step; true when it failed only because the role is already gone. */
async function goneDuring(step: () => Promise<unknown>): Promise<boolean> {
  try {
    await step();
    return false;
  } catch (error) {
    if (sqlstateOf(error) === '42704') return true;
    throw error;
  }
}

function assertRoleName(role: string): void {
  if (!ROLE_NAME.test(role)) throw new AirlockError('invalid_request', `not an Airlock role name (${ROLE_PREFIX}…)`);
}

function positiveInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new AirlockError('invalid_request', `${what} must be a positive whole number`);
  return value;
}

/**
 * Mints and drops of one role take the same transaction lock, so concurrent retries see each other's work. Its
 * key is keyed with the role key: a session that reads the role's name in pg_roles cannot take it first.
 */
function lockStatement(roleKey: string, role: string): string {
  return `SELECT pg_advisory_xact_lock(${roleLockKey(roleKey, role)}::bigint)`;
}

function sqlstateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

function databaseFailure(error: unknown, action: string): AirlockError {
  if (error instanceof AirlockError) return error;
  const sqlstate = sqlstateOf(error);
  if (sqlstate === '42501') {
    return new AirlockError('invalid_config', `the admin credential may not ${action}`, { sqlstate }, { cause: error });
  }
  if (sqlstate === '2BP01') {
    return new AirlockError(
      'conflict',
      'the role still has objects or privileges in another database',
      { sqlstate },
      { cause: error },
    );
  }
  const failure = unavailable('Postgres', error);
  if (sqlstate) failure.details.sqlstate = sqlstate;
  return failure;
}
