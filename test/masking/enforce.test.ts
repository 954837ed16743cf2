// Masking that Postgres enforces, against the real embedded Postgres: what a minted role can and cannot read or
// write, the key, upkeep as the catalog and the policy change, concurrent setup, and every refusal of a connection.
// Must never leave its tables, roles or masking schemas behind (each suite has its own prefix and names).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import { createMaskingEnforcer } from '../../shared/masking/enforce.ts';
import { hashKeyPads } from '../../shared/masking/expressions.ts';
import { maskingNames } from '../../shared/masking/names.ts';
import { createStrategy, REDACTED } from '../../shared/masking/strategies.ts';
import { quoteIdent } from '../../shared/postgres/quote.ts';
import { type RawCustomer, seededCustomers } from '../query/fixtures.ts';
import { adminClient, catalogChange } from '../support/infra.ts';
import {
  connectAs,
  dropMasking,
  dropMaskingRoles,
  freshName,
  freshPrefix,
  type MaskingAdmin,
  maskingAdmin,
  maskingKey,
  policyWith,
  READ,
  sqlstateOf,
  WRITE,
  withAdmin,
} from './support.ts';

let customers: Map<number, RawCustomer>;
let hashKey: string;
const opened: MaskingAdmin[] = [];
const tables: string[] = [];
const views: string[] = [];
const roles: string[] = [];
const prefixes: string[] = [];

async function open(policy = policyWith()): Promise<MaskingAdmin> {
  const admin = await maskingAdmin(policy);
  opened.push(admin);
  return admin;
}

/** A table in public (so an unqualified name reaches it), dropped after the suite. */
async function table(base: string, columns: string, rows = ''): Promise<string> {
  const name = freshName(base);
  tables.push(name);
  await withAdmin(async (client) => {
    await client.query(`CREATE TABLE public.${name} (${columns})`);
    if (rows) await client.query(`INSERT INTO public.${name} VALUES ${rows}`);
  });
  return name;
}

async function expectUnavailable(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(isAirlockError(error, 'unavailable'), String(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected the connection to be refused');
}

beforeAll(async () => {
  customers = new Map((await seededCustomers()).map((customer) => [customer.id, customer]));
  hashKey = await maskingKey();
});

afterAll(async () => {
  for (const admin of opened) await admin.close();
  for (const prefix of opened.map((admin) => admin.prefix).concat(prefixes)) await dropMaskingRoles(prefix);
  await withAdmin(async (client) => {
    for (const name of views) await client.query(`DROP VIEW IF EXISTS public.${name} CASCADE`);
    for (const name of tables) await client.query(`DROP TABLE IF EXISTS public.${name} CASCADE`);
    for (const role of roles) await client.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
  });
});

describe('a read grant’s role', () => {
  let admin: MaskingAdmin;
  let role: string;
  let session: Awaited<ReturnType<MaskingAdmin['mint']>>['session'];
  beforeAll(async () => {
    admin = await open();
    ({ role, session } = await admin.mint(READ));
  });

  it('belongs to Airlock’s reader instead of pg_read_all_data, with the masking schema first on its search_path', async () => {
    const names = maskingNames(admin.prefix);
    const [row] = await withAdmin(
      async (client) =>
        (
          await client.query(
            `SELECT rolconfig, ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid) AS member_of
               FROM pg_roles r WHERE rolname = $1`,
            [role],
          )
        ).rows,
    );
    expect(row.member_of).toEqual([names.reader]);
    expect(row.rolconfig).toContain(`search_path=${names.schema}, "$user", public`);
  });

  it('reads every masked column of `customers` in its masked form, exactly as output masking wrote it', async () => {
    const result = await session.query('SELECT id, name, email, phone, card_number, ssn FROM customers ORDER BY id');
    expect(result.rows).toHaveLength(customers.size);
    const email = createStrategy('email', { hashKey });
    const hash = createStrategy('hash', { hashKey });
    const last4 = createStrategy('last4', { hashKey });
    for (const row of result.rows) {
      const raw = customers.get(row.id)!;
      expect(row).toEqual({
        id: raw.id,
        name: raw.name,
        email: email(raw.email),
        phone: hash(raw.phone),
        card_number: last4(raw.card_number),
        ssn: REDACTED,
      });
    }
  });

  it('is refused by Postgres every raw masked column named through its table (42501), and keeps the rest', async () => {
    for (const sql of [
      'SELECT ssn FROM public.customers',
      'SELECT * FROM public.customers',
      'SELECT id FROM public.customers WHERE ssn LIKE $1',
      'SELECT id FROM public.customers ORDER BY card_number',
      'SELECT count(*) FROM public.customers GROUP BY email',
      'SELECT row_to_json(c) FROM public.customers c',
      'TABLE public.customers',
      'COPY public.customers (ssn) TO STDOUT',
    ])
      expect(await sqlstateOf(session.query(sql, sql.includes('$1') ? ['7%'] : [])), sql).toBe('42501');
    const kept = await session.query('SELECT id, name, country FROM public.customers ORDER BY id LIMIT 2');
    expect(kept.rows).toHaveLength(2);
    const orders = await session.query('SELECT count(*)::int AS n FROM orders');
    expect(orders.rows[0].n).toBeGreaterThan(0);
  });

  it('cannot read the hash key, and no view, function or description shows it', async () => {
    const names = maskingNames(admin.prefix);
    expect(await sqlstateOf(session.query(`SELECT * FROM ${quoteIdent(names.privateSchema)}.hash_key`))).toBe('42501');
    const pads = hashKeyPads(hashKey);
    const secrets = [hashKey, pads.ipad.toString('hex'), pads.opad.toString('hex')];
    const texts = await withAdmin(async (client) => [
      ...(
        await client.query(
          `SELECT pg_get_viewdef(c.oid) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
          [names.schema],
        )
      ).rows.map((row) => row.t as string),
      ...(await client.query(`SELECT coalesce(prosrc, '') AS t FROM pg_proc`)).rows.map((row) => row.t as string),
      ...(await client.query(`SELECT description AS t FROM pg_description`)).rows.map((row) => row.t as string),
    ]);
    expect(texts.length).toBeGreaterThan(1);
    for (const secret of secrets) expect(texts.filter((text) => text.includes(secret))).toEqual([]);
  });

  it('sees no statistics of a masked column in pg_stats', async () => {
    await withAdmin((client) => client.query('ANALYZE public.customers'));
    const stats = await session.query(
      `SELECT attname::text FROM pg_stats WHERE schemaname = 'public' AND tablename = 'customers' ORDER BY 1`,
    );
    const seen = stats.rows.map((row) => row.attname);
    expect(seen).toContain('name');
    for (const masked of ['email', 'phone', 'card_number', 'ssn']) expect(seen).not.toContain(masked);
  });

  it('a predicate, an ordering or an error only ever sees the masked value', async () => {
    const probe = await session.query(
      `SELECT count(*)::int AS n FROM customers WHERE substr(replace(ssn, '-', ''), 1, 1) = '7'`,
    );
    expect(probe.rows[0].n).toBe(0);
    const cast = await sqlstateOf(session.query(`SELECT chr(replace(ssn, '-', '')::int) FROM customers LIMIT 1`));
    expect(cast).toBe('22P02');
    const ordered = await session.query('SELECT ssn FROM customers ORDER BY ssn LIMIT 3');
    expect(ordered.rows.map((row) => row.ssn)).toEqual([REDACTED, REDACTED, REDACTED]);
  });
});

describe('a write grant’s role', () => {
  let admin: MaskingAdmin;
  let session: Awaited<ReturnType<MaskingAdmin['mint']>>['session'];
  let scratch: string;
  beforeAll(async () => {
    scratch = await table('scratch', 'id int, v text', '(1, NULL)');
    admin = await open();
    ({ session } = await admin.mint(WRITE));
  });

  it('updates rows through the masking view and reads back only masked values', async () => {
    const result = await session.query(
      'UPDATE customers SET name = name WHERE id <= 3 RETURNING id, email, ssn, phone',
    );
    expect(result.rows).toHaveLength(3);
    for (const row of result.rows) {
      expect(row.ssn).toBe(REDACTED);
      expect(row.email).toBe(createStrategy('email', { hashKey })(customers.get(row.id)!.email));
    }
  });

  it('cannot read, write or copy a masked column (42501), and a copy through the view holds the masked form', async () => {
    for (const sql of [
      `UPDATE public.customers SET ssn = '000-00-0000' WHERE id = 1`,
      `UPDATE public.customers SET name = name WHERE ssn = '000-00-0000'`,
      `INSERT INTO public.customers (name, phone) VALUES ('x', '+1 555 0100')`,
      `UPDATE public.${scratch} SET v = (SELECT replace(ssn, '-', '') FROM public.customers WHERE id = 1)`,
      `INSERT INTO public.${scratch} (id, v) SELECT id, card_number FROM public.customers`,
      `UPDATE public.customers SET name = 'x' WHERE id = 1 RETURNING ssn`,
    ])
      expect(await sqlstateOf(session.query(sql)), sql).toBe('42501');
    await session.query(`UPDATE ${scratch} SET v = (SELECT replace(ssn, '-', '') FROM customers WHERE id = 1)`);
    await session.query(`INSERT INTO ${scratch} (id, v) SELECT id, card_number FROM customers WHERE id <= 5`);
    const copied = await session.query(`SELECT v FROM ${scratch} ORDER BY id`);
    const raw = [...customers.values()].flatMap((customer) => [customer.ssn.replace(/-/g, ''), customer.card_number]);
    for (const { v } of copied.rows) expect(raw).not.toContain(v);
    expect(copied.rows[0].v).toBe('[REDACTED]'.replace(/-/g, ''));
  });
});

describe('upkeep', () => {
  it('a table created after the setup is readable once the connection is prepared again', async () => {
    const admin = await open();
    const { session } = await admin.mint(READ);
    const later = await table('later', 'id int, note text', `(1, 'hello')`);
    expect(await sqlstateOf(session.query(`SELECT note FROM ${later}`))).toBe('42501');
    await admin.admin.prepareConnection();
    expect((await session.query(`SELECT note FROM ${later}`)).rows).toEqual([{ note: 'hello' }]);
  });

  it('a masked column the database does not have yet refuses the connection, then is masked once it exists', async () => {
    const name = freshName('secrets');
    tables.push(name);
    const admin = await open(policyWith({ masked: [[`public.${name}.secret`, 'redact']] }));
    const message = await expectUnavailable(admin.admin.prepareConnection());
    expect(message).toContain(`masking.columns[4].column: public.${name}.secret does not exist`);
    await withAdmin((client) =>
      client.query(
        `CREATE TABLE public.${name} (id int, secret text); INSERT INTO public.${name} VALUES (1, 's3cr3t')`,
      ),
    );
    const { session } = await admin.mint(READ);
    expect((await session.query(`SELECT id, secret FROM ${name}`)).rows).toEqual([{ id: 1, secret: REDACTED }]);
    expect(await sqlstateOf(session.query(`SELECT secret FROM public.${name}`))).toBe('42501');

    // A column added to a masked table appears in its masking view; a column dropped disappears from it.
    await withAdmin((client) => client.query(`ALTER TABLE public.${name} ADD COLUMN note text DEFAULT 'n'`));
    await admin.admin.prepareConnection();
    expect((await session.query(`SELECT * FROM ${name}`)).rows).toEqual([{ id: 1, secret: REDACTED, note: 'n' }]);
    await withAdmin((client) => client.query(`ALTER TABLE public.${name} DROP COLUMN id CASCADE`));
    await admin.admin.prepareConnection();
    expect((await session.query(`SELECT * FROM ${name}`)).rows).toEqual([{ secret: REDACTED, note: 'n' }]);
  });

  it('a changed strategy re-creates the masking view; the database follows the policy', async () => {
    const name = await table('strategy', 'id int, contact text', `(1, 'ada@example.com')`);
    const prefix = freshPrefix();
    prefixes.push(prefix);
    const key = await maskingKey();
    const asEmail = createMaskingEnforcer({
      policy: policyWith({ masked: [[`public.${name}.contact`, 'email']] }),
      connection: 'shop',
      prefix,
      hashKey: key,
    });
    const asRedact = createMaskingEnforcer({
      policy: policyWith({ masked: [[`public.${name}.contact`, 'redact']] }),
      connection: 'shop',
      prefix,
      hashKey: key,
    });
    const view = `${quoteIdent(maskingNames(prefix).schema)}.${quoteIdent(name)}`;
    await withAdmin(async (client) => {
      await asEmail.ensure(client);
      expect((await client.query(`SELECT contact FROM ${view}`)).rows).toEqual([{ contact: 'a***@example.com' }]);
      await asRedact.ensure(client);
      expect((await client.query(`SELECT contact FROM ${view}`)).rows).toEqual([{ contact: REDACTED }]);
    });
    await dropMasking(prefix);
  });

  it('two instances setting up one database at once agree on one set of views and roles', async () => {
    const prefix = freshPrefix();
    prefixes.push(prefix);
    const key = await maskingKey();
    const enforcers = [1, 2, 3].map(() =>
      createMaskingEnforcer({ policy: policyWith(), connection: 'shop', prefix, hashKey: key }),
    );
    const clients = await Promise.all(enforcers.map(() => adminClient()));
    try {
      const results = await Promise.all(enforcers.map((enforcer, i) => enforcer.ensure(clients[i]!)));
      for (const result of results) expect(result.active).toBe(true);
      const names = maskingNames(prefix);
      const views = await clients[0]!.query(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'v'`,
        [names.schema],
      );
      expect(views.rows.map((row) => row.relname)).toEqual(['customers']);
    } finally {
      for (const client of clients) await client.end();
    }
    await dropMasking(prefix);
  });

  it('a connection without masked columns mints roles exactly as before (pg_read_all_data, no search_path)', async () => {
    const policy = policyWith();
    policy.masking.columns = [];
    const admin = await open(policy);
    const { role } = await admin.mint(READ);
    const [row] = await withAdmin(
      async (client) =>
        (
          await client.query(
            `SELECT rolconfig, ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid) AS member_of
               FROM pg_roles r WHERE rolname = $1`,
            [role],
          )
        ).rows,
    );
    expect(row.member_of).toEqual(['pg_read_all_data']);
    expect((row.rolconfig as string[]).some((setting) => setting.startsWith('search_path='))).toBe(false);
  });
});

describe('a connection is refused (503) when masking cannot hold', () => {
  it('PUBLIC can read a masked column', async () => {
    const name = await table('public_read', 'id int, secret text', `(1, 'x')`);
    const admin = await open(policyWith({ masked: [[`public.${name}.secret`, 'hash']] }));
    await catalogChange(() => withAdmin((client) => client.query(`GRANT SELECT (secret) ON public.${name} TO PUBLIC`)));
    const message = await expectUnavailable(admin.admin.prepareConnection());
    expect(message).toContain(`masking.columns[4].column: PUBLIC can read public.${name}.secret`);
    await catalogChange(() =>
      withAdmin((client) => client.query(`REVOKE SELECT (secret) ON public.${name} FROM PUBLIC`)),
    );
    await admin.admin.prepareConnection();
  });

  it('a profile role can read a masked column, or write a hashed one', async () => {
    const name = await table('role_read', 'id int, secret text', `(1, 'x')`);
    const reader = freshName('app_reader');
    const writer = freshName('app_writer');
    roles.push(reader, writer);
    await withAdmin(async (client) => {
      await client.query(`CREATE ROLE ${reader} NOLOGIN; GRANT SELECT ON public.${name} TO ${reader}`);
      await client.query(`CREATE ROLE ${writer} NOLOGIN; GRANT UPDATE (secret) ON public.${name} TO ${writer}`);
    });
    const admin = await open(
      policyWith({
        masked: [[`public.${name}.secret`, 'hash']],
        profiles: {
          read: { memberOf: ['pg_read_all_data', reader], readOnly: true },
          write: { memberOf: [writer] },
        },
      }),
    );
    const message = await expectUnavailable(admin.admin.prepareConnection());
    expect(message).toContain(
      `connections.shop.profiles.read.memberOf[1]: role ${reader} can read public.${name}.secret, which is masked`,
    );
    expect(message).toContain(
      `connections.shop.profiles.write.memberOf[0]: role ${writer} can write public.${name}.secret`,
    );
    await expect(admin.mint(READ)).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('a profile role belongs to pg_read_all_data', async () => {
    const indirect = freshName('all_reader');
    roles.push(indirect);
    await withAdmin((client) => client.query(`CREATE ROLE ${indirect} NOLOGIN IN ROLE pg_read_all_data`));
    const admin = await open(
      policyWith({ profiles: { read: { memberOf: [indirect], readOnly: true }, write: { memberOf: [] } } }),
    );
    const message = await expectUnavailable(admin.admin.prepareConnection());
    expect(message).toContain(`role ${indirect} can read public.customers.ssn, which is masked`);
  });

  it('a view that reads a masked column is never granted, unless it checks the reader’s rights (security_invoker)', async () => {
    const owned = freshName('v_contacts');
    const invoker = freshName('v_invoker');
    const plain = freshName('v_plain');
    views.push(owned, invoker, plain);
    await withAdmin(async (client) => {
      await client.query(`CREATE VIEW public.${owned} AS SELECT id, email FROM public.customers`);
      await client.query(
        `CREATE VIEW public.${invoker} WITH (security_invoker = true) AS SELECT id, email FROM public.customers`,
      );
      await client.query(`CREATE VIEW public.${plain} AS SELECT id, name FROM public.customers`);
    });
    const admin = await open();
    const { session } = await admin.mint(READ);
    // The view itself is refused: its owner could read the raw column for anyone it is granted to.
    await expect(session.query(`SELECT id FROM ${owned}`)).rejects.toMatchObject({
      code: '42501',
      message: `permission denied for view ${owned}`,
    });
    // Granted, since Postgres checks the reader's own rights on what it reads: the raw column is refused there.
    await expect(session.query(`SELECT id FROM ${invoker}`)).rejects.toMatchObject({
      code: '42501',
      message: 'permission denied for table customers',
    });
    expect((await session.query(`SELECT id, name FROM ${plain} ORDER BY id LIMIT 1`)).rows).toEqual([
      { id: 1, name: customers.get(1)!.name },
    ]);
  });

  it('the admin credential cannot grant on a masked table, or cannot create roles: 503, nothing created', async () => {
    const weak = freshName('weak_admin');
    roles.push(weak);
    await withAdmin((client) => client.query(`CREATE ROLE ${weak} LOGIN PASSWORD 'weak-admin-password-1234'`));
    const prefix = freshPrefix();
    const enforcer = createMaskingEnforcer({ policy: policyWith(), connection: 'shop', prefix, hashKey });
    const client = await connectAs(weak, 'weak-admin-password-1234');
    try {
      expect(await expectUnavailable(enforcer.ensure(client))).toContain(
        'masking.columns[0].column: the admin credential cannot grant SELECT on public.customers',
      );
      await catalogChange(() =>
        withAdmin((admin) => admin.query(`GRANT SELECT ON public.customers TO ${weak} WITH GRANT OPTION`)),
      );
      expect(await expectUnavailable(enforcer.ensure(client))).toContain(
        'masking could not be set up on connection shop (SQLSTATE 42501)',
      );
    } finally {
      await client.end();
      await catalogChange(() =>
        withAdmin((admin) => admin.query(`REVOKE ALL ON public.customers FROM ${weak} CASCADE`)),
      );
    }
    const left = await withAdmin(
      async (admin) =>
        (await admin.query('SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)', [prefix])).rows,
    );
    expect(left).toEqual([]);
  });
});
