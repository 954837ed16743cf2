// Temporary roles against the real embedded Postgres: mint, log in as them, revoke under load; mostly refusals.
// Must never leave a role behind: every grant id used here is revoked in afterAll.

import { afterAll, describe, expect, it } from 'vitest';
import { AirlockError, type ErrorCode, isAirlockError } from '../../shared/errors.ts';
import { Profile } from '../../shared/policy/schema.ts';
import { connectClient, type PgClient } from '../../shared/postgres/driver.ts';
import { derivePassword } from '../../shared/postgres/password.ts';
import { quoteIdent } from '../../shared/postgres/quote.ts';
import { createRoleAdmin, ROLE_PREFIX, type RoleSpec, roleNameFor } from '../../shared/postgres/roles.ts';
import { adminClient, adminTarget, uniqueName, wire } from '../support/infra.ts';

const ROLE_KEY = 'r'.repeat(32);
const READ = Profile.parse({ memberOf: ['pg_read_all_data'], readOnly: true });
const WRITE = Profile.parse({ memberOf: ['pg_read_all_data', 'pg_write_all_data'] });

let connects = 0;
const admin = createRoleAdmin({
  connect: async () => {
    connects += 1;
    return connectClient(await adminTarget(), wire());
  },
});

const minted = new Set<string>();
const extraRoles: string[] = [];

function spec(overrides: Partial<RoleSpec> = {}): RoleSpec {
  const grantId = overrides.grantId ?? uniqueName('grant');
  minted.add(roleNameFor(grantId));
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

describe('roleNameFor', () => {
  it('is deterministic, short, lower-case and distinct for ids that differ only in case or punctuation', () => {
    const ids = [
      '01J9ZQ3K8M5N7P2R4T6V8W0XYZ',
      '01j9zq3k8m5n7p2r4t6v8w0xyz',
      '01J9-ZQ3K-8M5N-7P2R-4T6V-8W0X-YZ',
      '9c2f0a4e-5d1b-4c3a-9f8e-7d6c5b4a3f21',
      '!!!',
      'x'.repeat(500),
    ];
    const names = ids.map((id) => roleNameFor(id));
    expect(new Set(names).size).toBe(ids.length);
    for (const [i, name] of names.entries()) {
      expect(name).toBe(roleNameFor(ids[i]!));
      expect(name).toMatch(/^airlock_[a-z0-9_]{1,55}$/);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    }
    expect(names[0]!.startsWith(`${ROLE_PREFIX}01j9zq3k8m5n7p2r4t6v8w0x_`)).toBe(true);
    expect(() => roleNameFor('')).toThrow(AirlockError);
  });
});

describe('mintRole', () => {
  it('creates a read role with expiry, limit, membership and read-only, timeout settings', async () => {
    const request = spec();
    const { role, created } = await admin.mintRole(request);
    expect(created).toBe(true);
    expect(role).toBe(roleNameFor(request.grantId));
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
      expect(await roleRow(roleNameFor(request.grantId))).toBeUndefined();
    }
  });

  it('refuses to reuse an existing role that carries attributes Airlock never grants', async () => {
    const request = spec();
    const role = roleNameFor(request.grantId);
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
    });
    const dropped = createRoleAdmin({
      connect: async () => {
        const client = await connectClient(await adminTarget(), wire());
        const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        await asAdmin((other) => other.query('SELECT pg_terminate_backend($1)', [pid]));
        return client;
      },
    });
    for (const offline of [refused, dropped]) {
      const request = spec();
      await expectRefusal(offline.mintRole(request), 'unavailable');
      await expectRefusal(offline.revokeRole(roleNameFor(request.grantId)), 'unavailable');
      await expectRefusal(offline.listRoles(), 'unavailable');
      expect(await roleRow(roleNameFor(request.grantId))).toBeUndefined();
    }
  });
});

describe('revokeRole', () => {
  it('drops a role that has an open session and owns a table, ending the session', async () => {
    const request = spec({ profile: WRITE });
    const { role } = await admin.mintRole(request);
    const table = adminRoleName('owned');
    await asAdmin((client) => client.query(`GRANT CREATE ON SCHEMA public TO ${quoteIdent(role)}`));
    const session = await connectAs(role, request.password);
    try {
      await session.query(`CREATE TABLE public.${quoteIdent(table)} (id int)`);
      await session.query('BEGIN');
      await session.query(`LOCK TABLE public.${quoteIdent(table)}`);
      expect(await admin.revokeRole(role)).toEqual({ existed: true, terminated: 1 });
      await failure(session.query('SELECT 1'));
    } finally {
      // A terminated client's end() never settles in the driver; do not wait for it.
      void session.end().catch(() => {});
    }
    expect(await roleRow(role)).toBeUndefined();
    await asAdmin(async (client) => {
      const owner = await client.query<{ owner: string; me: string }>(
        `SELECT tableowner AS owner, current_user AS me FROM pg_tables WHERE tablename = $1`,
        [table],
      );
      expect(owner.rows[0]!.owner).toBe(owner.rows[0]!.me);
      await client.query(`DROP TABLE public.${quoteIdent(table)}`);
    });
    expect(await failure(connectAs(role, request.password))).toMatchObject({ code: 'unavailable', sqlstate: '28P01' });
  });

  it('is idempotent, also when two revokers race', async () => {
    const { role } = await admin.mintRole(spec());
    expect(await admin.revokeRole(role)).toEqual({ existed: true, terminated: 0 });
    expect(await admin.revokeRole(role)).toEqual({ existed: false, terminated: 0 });

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
