// Temporary roles against the real embedded Postgres: mint, log in as them, revoke under load; mostly refusals.
// Must never leave a role behind: every grant id used here is revoked in afterAll.

import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { AirlockError, type ErrorCode, isAirlockError } from '../../shared/errors.ts';
import { newId } from '../../shared/ids.ts';
import { Profile } from '../../shared/policy/schema.ts';
import { connectClient, type PgClient } from '../../shared/postgres/driver.ts';
import { derivePassword } from '../../shared/postgres/password.ts';
import { quoteIdent } from '../../shared/postgres/quote.ts';
import { grantIdOfRole, roleLockKey, roleNameFor } from '../../shared/postgres/role-names.ts';
import { createRoleAdmin, ROLE_PREFIX, type RoleSpec } from '../../shared/postgres/roles.ts';
import { adminClient, adminTarget, catalogChange, uniqueName, wire } from '../support/infra.ts';

const ROLE_KEY = 'r'.repeat(32);
const NAMING = { roleKey: ROLE_KEY, prefix: ROLE_PREFIX };
const nameOf = (grantId: string) => roleNameFor(grantId, NAMING);
const READ = Profile.parse({ memberOf: ['pg_read_all_data'], readOnly: true });
const WRITE = Profile.parse({ memberOf: ['pg_read_all_data', 'pg_write_all_data'] });

let connects = 0;
const admin = createRoleAdmin({
  connect: async () => {
    connects += 1;
    return connectClient(await adminTarget(), wire());
  },
  roleKey: ROLE_KEY,
});

const minted = new Set<string>();
const extraRoles: string[] = [];

function spec(overrides: Partial<RoleSpec> = {}): RoleSpec {
  const grantId = overrides.grantId ?? newId();
  minted.add(nameOf(grantId));
  return {
    grantId,
    validUntil: new Date(Date.now() + 10 * 60_000),
    profile: READ,
    password: derivePassword(ROLE_KEY, grantId),
    statementTimeoutSeconds: 30,
    ...overrides,
  };
}

async function asAdmin<T>(work: (client: PgClient) => Promise<T>): Promise<T> {
  const client = await adminClient();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function connectAs(role: string, password: string): Promise<PgClient> {
  return connectClient({ ...(await adminTarget()), user: role, password }, wire());
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (reason: unknown) => reason,
  );
}

async function expectRefusal(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await failure(promise);
  expect(isAirlockError(error, code), `expected AirlockError ${code}, got ${String(error)}`).toBe(true);
}

async function roleRow(role: string) {
  return asAdmin(async (client) => {
    const result = await client.query<{
      rolvaliduntil: Date | null;
      rolconnlimit: number;
      rolcanlogin: boolean;
      rolinherit: boolean;
      rolconfig: string[] | null;
      member_of: string[];
    }>(
      `SELECT rolvaliduntil, rolconnlimit, rolcanlogin, rolinherit, rolconfig,
              ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) AS member_of
         FROM pg_roles r WHERE rolname = $1`,
      [role],
    );
    return result.rows[0];
  });
}

const adminRoleName = (prefix: string) => uniqueName(prefix).replace(/-/g, '_');

afterAll(async () => {
  for (const role of minted) await admin.revokeRole(role);
  await asAdmin(async (client) => {
    for (const role of extraRoles.reverse()) await client.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
  });
  expect((await admin.listRoles()).filter((info) => minted.has(info.role))).toEqual([]);
});

describe('role names', () => {
  it('are deterministic, distinct, lower-case, at most 63 bytes, and keep the grant id out of pg_roles', () => {
    const ids = Array.from({ length: 200 }, () => newId());
    ids.push('0'.repeat(20), 'z'.repeat(20));
    const names = ids.map(nameOf);
    expect(new Set(names).size).toBe(ids.length);
    for (const [i, name] of names.entries()) {
      const id = ids[i]!;
      expect(name).toBe(nameOf(id));
      expect(name).toMatch(/^airlock_[0-9a-f]{32}$/);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
      // Nothing of the id is readable in the name: no run of 6 of its characters appears in it. (Runs of 4 appear
      // by chance in one run out of about 16: 32 random hex digits hold 29 runs of 4 of the 65,536 there are.)
      for (let at = 0; at + 6 <= id.length; at++) expect(name).not.toContain(id.slice(at, at + 6));
      expect(grantIdOfRole(name, NAMING)).toBe(id);
    }
    const tagged = roleNameFor(ids[0]!, { roleKey: ROLE_KEY, prefix: 'airlock_abcdefghijkl_' });
    expect(Buffer.byteLength(tagged)).toBeLessThanOrEqual(63);
    expect(grantIdOfRole(tagged, { roleKey: ROLE_KEY, prefix: 'airlock_abcdefghijkl_' })).toBe(ids[0]);
  });

  it('depend on the role key: another key names other roles and does not recognise these', () => {
    const id = newId();
    const other = { roleKey: 'k'.repeat(32), prefix: ROLE_PREFIX };
    expect(roleNameFor(id, other)).not.toBe(nameOf(id));
    expect(grantIdOfRole(nameOf(id), other)).toBeNull();
  });

  it('are refused for anything but a grant id, and unknown or foreign names map to no grant', () => {
    for (const bad of ['', 'ABCDEFGHIJKLMNOPQRST', 'grant-1234', 'x'.repeat(500), '!!!', `${newId()}x`]) {
      expect(() => roleNameFor(bad, NAMING)).toThrow(AirlockError);
    }
    for (const role of [
      'postgres',
      'airlock_',
      `airlock_${'0'.repeat(32)}`,
      `airlock_someoneelse_${newId()}`,
      `airlock_abc_${nameOf(newId()).slice('airlock_'.length)}`,
      `${nameOf(newId())}0`,
    ]) {
      expect(grantIdOfRole(role, NAMING)).toBeNull();
    }
  });

  it('still recognise the grant of a role named before names were keyed', () => {
    const id = newId();
    const legacy = `airlock_${id}_${createHash('sha256').update(id).digest('hex').slice(0, 12)}`;
    expect(grantIdOfRole(legacy, NAMING)).toBe(id);
    expect(grantIdOfRole(`airlock_${id}_000000000000`, NAMING)).toBeNull();
  });
});

describe('mintRole', () => {
  it('creates a read role with expiry, limit, membership and read-only, timeout settings', async () => {
    const request = spec();
    const { role, created } = await admin.mintRole(request);
    expect(created).toBe(true);
    expect(role).toBe(nameOf(request.grantId));
    const row = await roleRow(role);
    expect(row).toBeDefined();
    expect(Math.floor(row!.rolvaliduntil!.getTime() / 1000)).toBe(Math.floor(request.validUntil.getTime() / 1000));
    expect(row!.rolconnlimit).toBe(READ.connectionLimit);
    expect(row!.rolcanlogin).toBe(true);
    expect(row!.rolinherit).toBe(true);
    expect(row!.member_of).toEqual(['pg_read_all_data']);
    expect(row!.rolconfig).toEqual(
      expect.arrayContaining([
        'statement_timeout=30s',
        'idle_in_transaction_session_timeout=60s',
        'default_transaction_read_only=on',
        'lock_timeout=5s',
      ]),
    );
    const password = await asAdmin(
      async (client) =>
        (await client.query<{ rolpassword: string }>(`SELECT rolpassword FROM pg_authid WHERE rolname = $1`, [role]))
          .rows[0]!.rolpassword,
    );
    expect(password).toMatch(/^SCRAM-SHA-256\$16:/);
  });

  it('lets the role read and refuses its writes (both locks: privileges and read-only sessions)', async () => {
    const request = spec();
    const { role } = await admin.mintRole(request);
    const session = await connectAs(role, request.password);
    try {
      const count = await session.query<{ n: number }>('SELECT count(*)::int AS n FROM customers');
      expect(count.rows[0]!.n).toBeGreaterThan(0);
      const settings = await session.query<{ timeout: string; read_only: string }>(
        `SELECT current_setting('statement_timeout') AS timeout, current_setting('default_transaction_read_only') AS read_only`,
      );
      expect(settings.rows[0]).toEqual({ timeout: '30s', read_only: 'on' });
      const insert = `INSERT INTO orders (customer_id, total, status) VALUES (1, 1, 'new')`;
      expect(await failure(session.query(insert))).toMatchObject({ code: '25006' });
      expect(await failure(session.query(`BEGIN READ WRITE; ${insert}`))).toMatchObject({ code: '42501' });
      await session.query('ROLLBACK');
    } finally {
      await session.end();
    }
  });

  it('gives a write role write access without read-only sessions', async () => {
    const request = spec({ profile: WRITE });
    const { role } = await admin.mintRole(request);
    expect((await roleRow(role))!.rolconfig).not.toContain('default_transaction_read_only=on');
    const session = await connectAs(role, request.password);
    try {
      await session.query('BEGIN');
      const inserted = await session.query(`INSERT INTO orders (customer_id, total, status) VALUES (1, 1, 'new')`);
      expect(inserted.rowCount).toBe(1);
      await session.query('ROLLBACK');
    } finally {
      await session.end();
    }
  });

  it('makes a noInherit role hold memberships without their privileges', async () => {
    const request = spec({ profile: { ...READ, noInherit: true } });
    const { role } = await admin.mintRole(request);
    const row = await roleRow(role);
    expect(row!.rolinherit).toBe(false);
    expect(row!.member_of).toEqual(['pg_read_all_data']);
    const session = await connectAs(role, request.password);
    try {
      expect(await failure(session.query('SELECT count(*) FROM customers'))).toMatchObject({ code: '42501' });
    } finally {
      await session.end();
    }
  });

  it('enforces the connection limit and VALID UNTIL', async () => {
    const limited = spec({ profile: { ...READ, connectionLimit: 1 } });
    const { role } = await admin.mintRole(limited);
    const first = await connectAs(role, limited.password);
    try {
      expect(await failure(connectAs(role, limited.password))).toMatchObject({
        code: 'unavailable',
        sqlstate: '53300',
      });
    } finally {
      await first.end();
    }
    const expired = spec({ validUntil: new Date(Date.now() - 1000) });
    const minted = await admin.mintRole(expired);
    expect(await failure(connectAs(minted.role, expired.password))).toMatchObject({
      code: 'unavailable',
      sqlstate: '28P01',
    });
  });

  it('is idempotent: a second mint resets the same role to the new spec', async () => {
    const first = spec({ profile: WRITE });
    const { role } = await admin.mintRole(first);
    const retry = {
      ...first,
      profile: READ,
      password: derivePassword('another-key'.repeat(3), first.grantId),
      validUntil: new Date(Date.now() + 20 * 60_000),
      statementTimeoutSeconds: 5,
    };
    expect(await admin.mintRole(retry)).toEqual({ role, created: false });
    const roles = await admin.listRoles();
    expect(roles.filter((info) => info.role === role)).toHaveLength(1);
    const row = await roleRow(role);
    expect(row!.member_of).toEqual(['pg_read_all_data']);
    expect(row!.rolvaliduntil!.getTime()).toBe(retry.validUntil.getTime());
    expect(row!.rolconfig).toEqual(
      expect.arrayContaining(['statement_timeout=5s', 'default_transaction_read_only=on']),
    );
    expect(await failure(connectAs(role, first.password))).toMatchObject({ code: 'unavailable', sqlstate: '28P01' });
    const session = await connectAs(role, retry.password);
    await session.end();
  });

  it('creates exactly one role when two activations race', async () => {
    const request = spec();
    const results = await Promise.all([admin.mintRole(request), admin.mintRole(request), admin.mintRole(request)]);
    expect(results.map((result) => result.created).sort()).toEqual([false, false, true]);
    expect((await admin.listRoles()).filter((info) => info.role === results[0]!.role)).toHaveLength(1);
  });

  it('refuses privileged, unknown or Airlock profile roles before creating anything', async () => {
    const superuser = adminRoleName('su');
    const viaSuperuser = adminRoleName('su_member');
    extraRoles.push(superuser, viaSuperuser);
    await asAdmin(async (client) => {
      await client.query(`CREATE ROLE ${quoteIdent(superuser)} SUPERUSER NOLOGIN`);
      await client.query(`CREATE ROLE ${quoteIdent(viaSuperuser)} NOLOGIN IN ROLE ${quoteIdent(superuser)}`);
    });
    const other = await admin.mintRole(spec());
    for (const memberOf of [
      ['postgres'],
      [superuser],
      ['pg_read_all_data', viaSuperuser],
      ['pg_execute_server_program'],
      ['pg_write_server_files'],
      ['no_such_role'],
      [other.role],
    ]) {
      const request = spec({ profile: { ...READ, memberOf } });
      await expectRefusal(admin.mintRole(request), 'invalid_config');
      expect(await roleRow(nameOf(request.grantId))).toBeUndefined();
    }
  });

  it('refuses to reuse an existing role that carries attributes Airlock never grants', async () => {
    const request = spec();
    const role = nameOf(request.grantId);
    await asAdmin((client) => client.query(`CREATE ROLE ${quoteIdent(role)} CREATEDB NOLOGIN`));
    await expectRefusal(admin.mintRole(request), 'invalid_config');
    expect((await roleRow(role))!.rolcanlogin).toBe(false);
  });

  it('refuses a bad spec without connecting', async () => {
    const before = connects;
    for (const bad of [
      { statementTimeoutSeconds: 0 },
      { statementTimeoutSeconds: 1.5 },
      { idleInTransactionTimeoutSeconds: -1 },
      { validUntil: new Date(Number.NaN) },
      { password: 'pässword' },
      { password: '' },
      { grantId: '' },
      { profile: { ...READ, connectionLimit: 0 } },
      { profile: { ...READ, memberOf: ['x'.repeat(64)] } },
    ] satisfies Partial<RoleSpec>[]) {
      await expectRefusal(admin.mintRole({ ...spec(), ...bad }), 'invalid_request');
    }
    expect(connects).toBe(before);
  });

  it('reports a database it cannot log in to, or a connection that drops, as unavailable', async () => {
    const refused = createRoleAdmin({
      connect: async () => connectClient({ ...(await adminTarget()), password: 'wrong' }, wire()),
      roleKey: ROLE_KEY,
    });
    const dropped = createRoleAdmin({
      connect: async () => {
        const client = await connectClient(await adminTarget(), wire());
        const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        await asAdmin((other) => other.query('SELECT pg_terminate_backend($1)', [pid]));
        return client;
      },
      roleKey: ROLE_KEY,
    });
    for (const offline of [refused, dropped]) {
      const request = spec();
      await expectRefusal(offline.mintRole(request), 'unavailable');
      await expectRefusal(offline.revokeRole(nameOf(request.grantId)), 'unavailable');
      await expectRefusal(offline.listRoles(), 'unavailable');
      expect(await roleRow(nameOf(request.grantId))).toBeUndefined();
    }
  });
});

describe('revokeRole', () => {
  it('ends the open session, then drops the role and the table it owns: nothing is handed to the admin', async () => {
    const request = spec({ profile: WRITE });
    const { role } = await admin.mintRole(request);
    const table = adminRoleName('owned');
    await catalogChange(() =>
      asAdmin((client) => client.query(`GRANT CREATE ON SCHEMA public TO ${quoteIdent(role)}`)),
    );
    const session = await connectAs(role, request.password);
    try {
      await session.query(`CREATE TABLE public.${quoteIdent(table)} (id int)`);
      await session.query('BEGIN');
      await session.query(`LOCK TABLE public.${quoteIdent(table)}`);
      expect(await admin.revokeRole(role)).toEqual({ existed: true, terminated: 1, dropped: true });
      await failure(session.query('SELECT 1'));
    } finally {
      // A terminated client's end() never settles in the driver; do not wait for it.
      void session.end().catch(() => {});
    }
    expect(await roleRow(role)).toBeUndefined();
    expect(
      await asAdmin(
        async (client) => (await client.query(`SELECT 1 FROM pg_class WHERE relname = $1`, [table])).rowCount,
      ),
    ).toBe(0);
    expect(await failure(connectAs(role, request.password))).toMatchObject({ code: 'unavailable', sqlstate: '28P01' });
  });

  it('is idempotent, also when two revokers race', async () => {
    const { role } = await admin.mintRole(spec());
    expect(await admin.revokeRole(role)).toEqual({ existed: true, terminated: 0, dropped: true });
    expect(await admin.revokeRole(role)).toEqual({ existed: false, terminated: 0, dropped: true });

    const raced = await admin.mintRole(spec());
    const results = await Promise.all([
      admin.revokeRole(raced.role),
      admin.revokeRole(raced.role),
      admin.revokeRole(raced.role),
    ]);
    expect(results.some((result) => result.existed)).toBe(true);
    expect(await roleRow(raced.role)).toBeUndefined();
  });

  it('refuses any name outside the Airlock prefix without connecting', async () => {
    const before = connects;
    for (const name of [
      'postgres',
      'pg_read_all_data',
      'airlock_',
      'Airlock_abc',
      'airlock_ABC',
      'airlock_a"; DROP ROLE postgres; --',
      `airlock_${'a'.repeat(56)}`,
      ' airlock_abc',
    ]) {
      await expectRefusal(admin.revokeRole(name), 'invalid_request');
    }
    expect(connects).toBe(before);
    expect((await roleRow('postgres'))!.rolcanlogin).toBe(true);
  });
});

/** Settles with `work`'s value, or rejects once `ms` have passed: a hang fails the test instead of stalling it. */
async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function terminate(session: PgClient): Promise<void> {
  const pid = (session as unknown as { processID?: number }).processID;
  if (pid) await asAdmin((client) => client.query('SELECT pg_terminate_backend($1)', [pid]));
  void session.end().catch(() => {});
}

async function ownedBy(role: string) {
  return asAdmin(async (client) => {
    const result = await client.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM pg_largeobject_metadata m JOIN pg_roles r ON r.oid = m.lomowner WHERE r.rolname = $1)::int
            + (SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = $1)::int AS n`,
      [role],
    );
    return result.rows[0]!.n;
  });
}

describe('revocation under hostile sessions', () => {
  it('bounds every admin session: a lock waits at most 5 s, a statement runs at most 10 s', async () => {
    const seen: PgClient[] = [];
    const watched = createRoleAdmin({
      connect: async () => {
        const client = await connectClient(await adminTarget(), wire());
        seen.push(client);
        return client;
      },
      release: () => {},
      roleKey: ROLE_KEY,
    });
    await watched.listRoles();
    const [client] = seen;
    try {
      const settings = await client!.query<{ lock: string; statement: string }>(
        `SELECT current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS statement`,
      );
      expect(settings.rows[0]).toEqual({ lock: '5s', statement: '10s' });
    } finally {
      await client!.end();
    }
  });

  it('is not stalled by another session holding the lock on the old, computable key of the role', async () => {
    const victim = await admin.mintRole(spec());
    const attackerSpec = spec();
    const attacker = await admin.mintRole(attackerSpec);
    const session = await connectAs(attacker.role, attackerSpec.password);
    try {
      // What an agent that can read pg_roles computed before: the key every revocation used to wait for.
      await session.query(`SELECT pg_advisory_lock(hashtextextended('airlock:role:' || $1, 0))`, [victim.role]);
      const started = Date.now();
      expect(await within(8000, admin.revokeRole(victim.role))).toEqual({
        existed: true,
        terminated: 0,
        dropped: true,
      });
      expect(Date.now() - started).toBeLessThan(3000);
      expect(await roleRow(victim.role)).toBeUndefined();
    } finally {
      await terminate(session);
    }
  });

  it('with its keyed lock held by another session, blocks logins and ends sessions at once and leaves the drop for later', async () => {
    const victimSpec = spec({ profile: WRITE });
    const victim = await admin.mintRole(victimSpec);
    const victimSession = await connectAs(victim.role, victimSpec.password);
    const holderSpec = spec();
    const holder = await admin.mintRole(holderSpec);
    const holding = await connectAs(holder.role, holderSpec.password);
    try {
      // As if the key had leaked (pg_locks shows a held advisory key to everyone): revocation must not depend on it.
      await holding.query('SELECT pg_advisory_lock($1::bigint)', [roleLockKey(ROLE_KEY, victim.role)]);
      const started = Date.now();
      const result = await within(8000, admin.revokeRole(victim.role));
      expect(Date.now() - started).toBeLessThan(5000);
      expect(result).toEqual({ existed: true, terminated: 1, dropped: false });
      expect((await roleRow(victim.role))!.rolcanlogin).toBe(false);
      await failure(victimSession.query('SELECT 1'));
      expect(await failure(connectAs(victim.role, victimSpec.password))).toMatchObject({ code: 'unavailable' });
    } finally {
      await terminate(holding);
      void victimSession.end().catch(() => {});
    }
    expect(await admin.revokeRole(victim.role)).toEqual({ existed: true, terminated: 0, dropped: true });
    expect(await roleRow(victim.role)).toBeUndefined();
  });

  it('meeting another admin session at work on the same role (a second sweeper), waits its turn within the budget', async () => {
    const request = spec();
    const { role } = await admin.mintRole(request);
    const other = await adminClient();
    try {
      await other.query('SELECT pg_advisory_lock($1::bigint)', [roleLockKey(ROLE_KEY, role)]);
      // Held past one lock wait (2 s), then let go: the drop goes through on its next try, not at the next sweep.
      const released = new Promise((resolve) => setTimeout(resolve, 2600)).then(() =>
        other.query('SELECT pg_advisory_unlock_all()'),
      );
      const started = Date.now();
      const result = await admin.revokeRole(role, { dropBudgetMs: 10_000 });
      await released;
      expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
      expect(result).toEqual({ existed: true, terminated: 0, dropped: true });
      expect(await roleRow(role)).toBeUndefined();
    } finally {
      await other.end();
    }
  });

  it('drops every large object the role made, however many, without handing one to the admin', async () => {
    const request = spec({ profile: WRITE });
    const { role } = await admin.mintRole(request);
    const session = await connectAs(role, request.password);
    try {
      // More large objects than one transaction can lock: DROP OWNED alone would fail with 53200.
      await session.query(`SELECT count(lo_from_bytea(0, '\\x41'::bytea)) FROM generate_series(1, 40000)`);
    } finally {
      await session.end();
    }
    expect(await ownedBy(role)).toBe(40000);
    const before = await asAdmin(
      async (client) =>
        (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_largeobject_metadata')).rows[0]!.n,
    );
    const started = Date.now();
    const first = await admin.revokeRole(role);
    const firstMs = Date.now() - started;
    expect(firstMs).toBeLessThan(6000);
    const result = first.dropped ? first : await admin.revokeRole(role, { dropBudgetMs: 60_000 });
    console.log(
      `roles: revoking a role with 40000 large objects: ${firstMs} ms (dropped ${first.dropped}) then ${Date.now() - started} ms in all`,
    );
    expect(result.dropped).toBe(true);
    expect(await roleRow(role)).toBeUndefined();
    const after = await asAdmin(
      async (client) =>
        (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_largeobject_metadata')).rows[0]!.n,
    );
    expect(before - after).toBe(40000);
  }, 120_000);

  it('drops what the role created in a schema it may create in, SECURITY DEFINER code and temporary objects included', async () => {
    const schema = adminRoleName('owned_schema');
    const creator = adminRoleName('creator');
    extraRoles.push(creator);
    await asAdmin((client) =>
      client.query(
        `CREATE ROLE ${quoteIdent(creator)} NOLOGIN; CREATE SCHEMA ${quoteIdent(schema)}; GRANT USAGE, CREATE ON SCHEMA ${quoteIdent(schema)} TO ${quoteIdent(creator)}`,
      ),
    );
    const request = spec({ profile: Profile.parse({ memberOf: ['pg_read_all_data', 'pg_write_all_data', creator] }) });
    const { role } = await admin.mintRole(request);
    const other = spec({ profile: Profile.parse({ memberOf: ['pg_read_all_data', creator] }) });
    const otherRole = (await admin.mintRole(other)).role;
    const s = quoteIdent(schema);
    const session = await connectAs(role, request.password);
    const otherSession = await connectAs(otherRole, other.password);
    try {
      await session.query(
        [
          `CREATE TABLE ${s}.t (id serial PRIMARY KEY, v text)`,
          `CREATE SEQUENCE ${s}.seq`,
          `CREATE TYPE ${s}.pair AS (a int, b int)`,
          `CREATE TYPE ${s}.mood AS ENUM ('ok', 'not')`,
          `CREATE VIEW ${s}.v AS SELECT id FROM ${s}.t`,
          `CREATE FUNCTION ${s}.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*)::int FROM ${s}.t'`,
          `CREATE PROCEDURE ${s}.p() LANGUAGE sql AS 'SELECT 1'`,
          `CREATE TEMP TABLE scratch (id int)`,
          `SELECT lo_from_bytea(0, '\\x41'::bytea)`,
        ].join(';\n'),
      );
      // Another grant builds on it: that goes too, or the role could not be dropped.
      await otherSession.query(`CREATE VIEW ${s}.built_on AS SELECT ${s}.f() AS n`);
      const definer = await asAdmin(
        async (client) =>
          (
            await client.query<{ owner: string; secdef: boolean }>(
              `SELECT pg_get_userbyid(proowner)::text AS owner, prosecdef AS secdef FROM pg_proc WHERE pronamespace = $1::regnamespace AND proname = 'f'`,
              [schema],
            )
          ).rows,
      );
      expect(definer).toEqual([{ owner: role, secdef: true }]);
      expect(await ownedBy(role)).toBeGreaterThanOrEqual(6);
      expect(await admin.revokeRole(role)).toEqual({ existed: true, terminated: 1, dropped: true });
    } finally {
      void session.end().catch(() => {});
      await otherSession.end();
    }
    const left = await asAdmin(async (client) => {
      const objects = await client.query<{ kind: string; name: string }>(
        `SELECT 'class' AS kind, relname::text AS name FROM pg_class WHERE relnamespace = $1::regnamespace
         UNION ALL SELECT 'proc', proname::text FROM pg_proc WHERE pronamespace = $1::regnamespace
         UNION ALL SELECT 'type', typname::text FROM pg_type WHERE typnamespace = $1::regnamespace
         UNION ALL SELECT 'temp', relname::text FROM pg_class WHERE relname = 'scratch' AND relpersistence = 't'`,
        [schema],
      );
      await client.query(`DROP SCHEMA ${s} CASCADE`);
      return objects.rows;
    });
    expect(left).toEqual([]);
    expect(await roleRow(role)).toBeUndefined();
    expect(await admin.revokeRole(otherRole)).toMatchObject({ existed: true, dropped: true });
  });
});

describe('listRoles', () => {
  it('lists minted roles with their expiry and login state, and forgets revoked ones', async () => {
    const request = spec();
    const { role } = await admin.mintRole(request);
    const listed = (await admin.listRoles()).find((info) => info.role === role);
    expect(listed).toEqual({ role, validUntil: request.validUntil, canLogin: true });
    expect((await admin.listRoles()).every((info) => info.role.startsWith(ROLE_PREFIX))).toBe(true);
    await admin.revokeRole(role);
    expect((await admin.listRoles()).some((info) => info.role === role)).toBe(false);
  });
});
