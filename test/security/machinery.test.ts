// Agents with ordinary grants against Airlock's own machinery, on the real stack: advisory locks on the keys
// revocation used, table locks against other grants, objects left past the window. Effects read as the admin.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeClient, connectClient, type PgClient } from '../../shared/postgres/driver.ts';
import { derivePassword } from '../../shared/postgres/password.ts';
import { quoteIdent } from '../../shared/postgres/quote.ts';
import { roleLockKey } from '../../shared/postgres/role-names.ts';
import { QueryKeysSecret, readSecret, SECRET_NAMES } from '../../shared/secrets/index.ts';
import { AUTO_WRITE_POLICY, adminQuery, type OpenGrant, openGrant, query, withLimits } from '../query/fixtures.ts';
import { DEMO_POLICY_TEXT, startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { adminTarget, secrets, uniqueName, wire } from '../support/infra.ts';

const POLICY = withLimits(
  AUTO_WRITE_POLICY,
  'maxRows: 1000, statementTimeout: 30s, approvalTimeout: 1h, lockTimeout: 1s',
);

let stack: TestAirlock;
let roleKey: string;
/** Sessions opened straight to Postgres as a grant's role: what a statement the guard let through could do. */
const sessions: PgClient[] = [];

beforeAll(async () => {
  stack = await startTestAirlock({ policyText: POLICY });
  roleKey = (await readSecret(secrets(), SECRET_NAMES.queryKeys, QueryKeysSecret)).roleKey;
});
afterAll(async () => {
  await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename LIKE $1`, [
    `${stack.rolePrefix.replace(/_/g, '\\_')}%`,
  ]);
  for (const session of sessions) void closeClient(session);
  await stack.airlock.sweep();
  await stack.close();
});

/** A session as the grant's role, past the guard: as if the policy allowed what it does. */
async function asRole(grant: OpenGrant): Promise<PgClient> {
  const session = await connectClient(
    { ...(await adminTarget()), user: stack.roleOf(grant.id), password: derivePassword(roleKey, grant.id) },
    wire(),
  );
  session.on('error', () => {});
  sessions.push(session);
  return session;
}

/** `work`'s result and how long it took; rejects after `ms` so that a hang fails the test instead of stalling it. */
async function timed<T>(ms: number, work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const value = await Promise.race([
      work(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
      }),
    ]);
    return { value, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

async function roleState(role: string): Promise<{ canLogin: boolean; sessions: number } | null> {
  const [row] = await adminQuery<{ can_login: boolean; sessions: number }>(
    `SELECT rolcanlogin AS can_login, (SELECT count(*)::int FROM pg_stat_activity WHERE usename = $1) AS sessions
       FROM pg_roles WHERE rolname = $1`,
    [role],
  );
  return row ? { canLogin: row.can_login, sessions: row.sessions } : null;
}

const revoke = (grant: OpenGrant) => stack.call('DELETE', `/v1/grants/${grant.id}`, { token: grant.identity });

describe('advisory locks', () => {
  it('are refused through /v1/query (403 builtin:advisory-lock, naming the allow entry), in every form', async () => {
    const victim = await openGrant(stack);
    const attacker = await openGrant(stack, { access: 'write' });
    for (const sql of [
      `SELECT pg_advisory_lock(hashtextextended('airlock:role:' || '${stack.roleOf(victim.id)}', 0))`,
      'SELECT pg_try_advisory_xact_lock(1)',
      'SELECT pg_advisory_unlock_all()',
    ]) {
      const response = await query(stack, attacker.token, { sql });
      expect(response.status).toBe(403);
      expect(response.body.error).toMatchObject({ code: 'statement_blocked', guardrail: 'builtin:advisory-lock' });
      expect(response.body.error.message).toContain('"advisory-locks" in allow');
    }
    const held = await adminQuery(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid IN
      (SELECT pid FROM pg_stat_activity WHERE usename = '${stack.roleOf(attacker.id)}')`);
    expect(held).toEqual([]);
  });

  it("an agent's lock on the key revocation used to take does not stall another grant's revocation", async () => {
    const victim = await openGrant(stack);
    const attacker = await openGrant(stack);
    const victimRole = stack.roleOf(victim.id);
    // pg_roles is readable by every role: the attacker takes the key it could compute from the victim's role name.
    await (await asRole(attacker)).query(`SELECT pg_advisory_lock(hashtextextended('airlock:role:' || $1, 0))`, [
      victimRole,
    ]);
    const { value: response, ms } = await timed(10_000, () => revoke(victim));
    expect(response.status).toBe(200);
    expect(response.body.grant.status).toBe('revoked');
    expect(ms).toBeLessThan(5000);
    expect(await roleState(victimRole)).toBeNull();
  });

  it('four self-revocations with held locks tie up no admin session: other grants and the sweeper go on', async () => {
    const subject = `agent:${uniqueName('locker')}`;
    const own = await Promise.all([1, 2, 3, 4].map(() => openGrant(stack, { subject })));
    for (const grant of own) {
      const role = stack.roleOf(grant.id);
      // Its own role's old key, and (as if it had leaked) the real one: the role's sessions end before anything waits.
      await (await asRole(grant)).query(
        `SELECT pg_advisory_lock(hashtextextended('airlock:role:' || $1, 0)), pg_advisory_lock($2::bigint)`,
        [role, roleLockKey(roleKey, role)],
      );
    }
    const bystander = await stack.token(`agent:${uniqueName('bystander')}`);
    const { value, ms } = await timed(10_000, () =>
      Promise.all([
        ...own.map(revoke),
        stack.call('POST', '/v1/grants', {
          token: bystander,
          body: { connection: 'shop', access: 'read', ttl: 300, reason: 'working next to an attacker' },
        }),
        stack.airlock.sweep(),
      ]),
    );
    console.log(`machinery: 4 revocations with held locks, a grant and a sweep together: ${ms} ms`);
    const responses = value.slice(0, 5) as Array<{ status: number }>;
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200, 201]);
    expect(ms).toBeLessThan(6000);
    for (const grant of own) expect(await roleState(stack.roleOf(grant.id))).toBeNull();
  });

  it('a lock on the real key, held elsewhere, still lets revocation block logins and end sessions at once', async () => {
    const victim = await openGrant(stack, { access: 'write' });
    const holder = await openGrant(stack);
    const victimRole = stack.roleOf(victim.id);
    const victimSession = await asRole(victim);
    await (await asRole(holder)).query('SELECT pg_advisory_lock($1::bigint)', [roleLockKey(roleKey, victimRole)]);
    const { value: response, ms } = await timed(10_000, () => revoke(victim));
    expect(response.status).toBe(200);
    expect(ms).toBeLessThan(5000);
    // The window is closed even though the drop waits: no login, no session, nothing the grant token can run.
    expect(await roleState(victimRole)).toEqual({ canLogin: false, sessions: 0 });
    await expect(victimSession.query('SELECT 1')).rejects.toBeDefined();
    expect((await query(stack, victim.token, { sql: 'SELECT 1' })).status).toBe(403);
    // Once the holder is gone, the sweeper finishes the drop.
    await revoke(holder);
    await stack.airlock.sweep();
    expect(await roleState(victimRole)).toBeNull();
  });
});

describe('table locks', () => {
  it('LOCK TABLE on a write grant is refused (403 builtin:lock, naming the allow entry)', async () => {
    const writer = await openGrant(stack, { access: 'write' });
    const response = await query(stack, writer.token, {
      transaction: [{ sql: 'LOCK TABLE customers IN ACCESS EXCLUSIVE MODE' }, { sql: 'SELECT pg_sleep(3)' }],
    });
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: 'statement_blocked', guardrail: 'builtin:lock' });
    expect(response.body.error.message).toContain('"lock" in allow');
  });

  it('every grant session waits at most limits.lockTimeout for a lock: a reader beside a held lock fails fast', async () => {
    const writer = await openGrant(stack, { access: 'write' });
    const reader = await openGrant(stack);
    const shown = await query(stack, reader.token, { sql: 'SHOW lock_timeout' });
    expect(shown.body.rows).toEqual([['1s']]);
    // What `allow: [lock]` would let the writer do: hold ACCESS EXCLUSIVE on customers in an open transaction.
    const holding = await asRole(writer);
    await holding.query('BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE');
    try {
      const { value: response, ms } = await timed(15_000, () =>
        query(stack, reader.token, { sql: 'SELECT count(*) FROM customers' }),
      );
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'db_error', sqlstate: '55P03' });
      expect(ms).toBeLessThan(3000);
    } finally {
      await holding.query('ROLLBACK');
    }
    expect((await query(stack, reader.token, { sql: 'SELECT count(*)::int AS n FROM customers' })).body.rows).toEqual([
      [1000],
    ]);
  });
});

describe('revocation leaves nothing', () => {
  it('a large object made on a write grant is gone after DELETE, not handed to the admin', async () => {
    const writer = await openGrant(stack, { access: 'write' });
    const made = await query(stack, writer.token, { sql: "SELECT lo_from_bytea(0, '\\x41'::bytea)::int8 AS oid" });
    expect(made.status).toBe(200);
    const oid = String(made.body.rows[0][0]);
    expect(await adminQuery('SELECT 1 FROM pg_largeobject_metadata WHERE oid = $1::oid', [oid])).toHaveLength(1);
    expect((await revoke(writer)).status).toBe(200);
    expect(await adminQuery('SELECT 1 FROM pg_largeobject_metadata WHERE oid = $1::oid', [oid])).toEqual([]);
  });
});

describe('revocation leaves nothing, whatever a DDL-capable profile created', () => {
  const schema = uniqueName('hostile').replace(/-/g, '_');
  const creator = `${schema}_creator`;
  let ddl: TestAirlock;

  beforeAll(async () => {
    await adminQuery(
      `CREATE ROLE ${quoteIdent(creator)} NOLOGIN; CREATE SCHEMA ${quoteIdent(schema)}; GRANT USAGE, CREATE ON SCHEMA ${quoteIdent(schema)} TO ${quoteIdent(creator)}`,
    );
    const text = DEMO_POLICY_TEXT.replace(
      '      write: { memberOf: [pg_read_all_data, pg_write_all_data] }',
      `      write: { memberOf: [pg_read_all_data, pg_write_all_data] }\n      builder: { memberOf: [pg_read_all_data, pg_write_all_data, ${creator}] }`,
    )
      .replace(/ {2}- \{ name: no-ddl,[^\n]*\n/, '')
      .replace(
        'rules:\n',
        'rules:\n  - name: builders\n    when: { subject: "agent:builder*" }\n    connection: shop\n    access: builder\n    maxTtl: 30m\n',
      );
    ddl = await startTestAirlock({ policyText: text });
  });
  afterAll(async () => {
    await ddl.airlock.sweep();
    await ddl.close();
    await adminQuery(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE; DROP ROLE IF EXISTS ${quoteIdent(creator)}`);
  });

  const s = () => quoteIdent(schema);
  const kinds: Array<[string, () => string]> = [
    ['a table (and its serial sequence)', () => `CREATE TABLE ${s()}.t (id serial PRIMARY KEY, note text)`],
    [
      'a SECURITY DEFINER function',
      () => `CREATE FUNCTION ${s()}.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'`,
    ],
    ['a type', () => `CREATE TYPE ${s()}.pair AS (a int, b int)`],
    ['a sequence', () => `CREATE SEQUENCE ${s()}.seq`],
    ['a view', () => `CREATE VIEW ${s()}.v AS SELECT 1 AS one`],
    ['a temporary table', () => 'CREATE TEMP TABLE scratch_hostile (id int)'],
    ['a large object', () => "SELECT lo_from_bytea(0, '\\x42'::bytea)"],
  ];

  /** Every object the role owns in this database, by catalog and oid. */
  const ownedBy = (role: string) =>
    adminQuery<{ catalog: string; oid: string }>(
      `SELECT 'pg_class' AS catalog, c.oid::text AS oid FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = $1
       UNION ALL SELECT 'pg_proc', p.oid::text FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner WHERE r.rolname = $1
       UNION ALL SELECT 'pg_type', t.oid::text FROM pg_type t JOIN pg_roles r ON r.oid = t.typowner WHERE r.rolname = $1
       UNION ALL SELECT 'pg_largeobject_metadata', m.oid::text FROM pg_largeobject_metadata m JOIN pg_roles r ON r.oid = m.lomowner WHERE r.rolname = $1`,
      [role],
    );

  it.each(kinds)('%s: made through /v1/query, gone after DELETE (not handed to anyone)', async (_kind, create) => {
    const identity = await ddl.token(`agent:builder-${uniqueName('b')}`);
    const granted = await ddl.call('POST', '/v1/grants', {
      token: identity,
      body: { connection: 'shop', access: 'builder', ttl: 600, reason: 'builds things' },
    });
    expect(granted.status).toBe(201);
    const role = ddl.roleOf(granted.body.grant.id);
    const made = await ddl.call('POST', '/v1/query', { token: granted.body.token, body: { sql: create() } });
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    const objects = await ownedBy(role);
    expect(objects.length).toBeGreaterThan(0);
    const revoked = await ddl.call('DELETE', `/v1/grants/${granted.body.grant.id}`, { token: identity });
    expect(revoked.status).toBe(200);
    for (const { catalog, oid } of objects) {
      expect(await adminQuery(`SELECT 1 FROM ${catalog} WHERE oid = $1::oid`, [oid]), `${catalog} ${oid}`).toEqual([]);
    }
    expect(await adminQuery('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).toEqual([]);
  });
});
