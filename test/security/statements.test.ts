// Attempts to write, escalate or reach server files through a READ grant, all on one grant (one pooled
// session, as an attacker would hold it). Each is checked for its refusal AND for the data it aimed at.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgClient } from '../../shared/postgres/driver.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { adminClient } from '../support/infra.ts';
import { expectErrorShape, type OpenGrant, openGrant, query, statementEvents, uniqueSchema } from './support.ts';

const S = uniqueSchema();

/** `ok` runs (it reads, or what looks like a write is text or a comment); the rest are refused this way. */
type Outcome = 'ok' | 'multiple_statements' | `blocked:${string}` | `db_error:${string}`;
const READ = 'blocked:access:read';

const CORPUS: Array<[string, Outcome]> = [
  // Stacked statements, comments and odd whitespace.
  ['SELECT 1; DELETE FROM orders', 'multiple_statements'],
  ['SELECT 1;DELETE FROM orders;', 'multiple_statements'],
  ['DELETE FROM orders; SELECT 1', 'multiple_statements'],
  ['SELECT 1 /* ; */ ; UPDATE orders SET total = 0', 'multiple_statements'],
  ['SELECT 1 -- trailing\n; DROP TABLE orders', 'multiple_statements'],
  ['COMMIT; DELETE FROM customers', 'multiple_statements'],
  ['ROLLBACK; BEGIN READ WRITE; DELETE FROM orders; COMMIT', 'multiple_statements'],
  [`SELECT $a$ $b$ $a$; DELETE FROM ${S}.ledger`, 'multiple_statements'],
  ['/* hi */ DELETE /* there */ FROM orders', READ],
  ['\t\n  DELETE\tFROM\norders\r\nWHERE id = 1', READ],
  ['/* outer /* inner */ still a comment */ DELETE FROM orders WHERE id = 1', READ],
  ['-- SELECT 1\nDELETE FROM orders WHERE id = 1', READ],
  ['DeLeTe FrOm OrDeRs WhErE iD = 1', READ],
  ['SELECT $$; DELETE FROM orders; $$', 'ok'],
  ['/* /* */ DELETE FROM orders; /* */ */ SELECT 1', 'ok'],
  ['SELECT 1 /* /* */ ; DELETE FROM orders */', 'ok'],
  ["SELECT 'DROP TABLE orders; DELETE FROM customers' AS text", 'ok'],
  // Plain writes and their unicode-escaped spellings.
  ["UPDATE orders SET status = 'x' WHERE id = 1", READ],
  ["INSERT INTO orders (customer_id, total, status) SELECT 1, 1, 'x'", READ],
  [`INSERT INTO ${S}.ledger (note) VALUES ('x')`, READ],
  ['MERGE INTO orders o USING (SELECT 1 AS id) s ON o.id = s.id WHEN MATCHED THEN DELETE', READ],
  ['TRUNCATE orders', READ],
  ['TRUNCATE ONLY customers CASCADE', READ],
  ['DELETE FROM U&"\\006frders" WHERE id = 1', READ],
  [`DELETE FROM U&"!006frders" UESCAPE '!' WHERE id = 1`, READ],
  ['DROP TABLE orders', READ],
  ['ALTER TABLE orders ADD COLUMN evil int', READ],
  // DO blocks.
  ['DO $$ BEGIN DELETE FROM orders; END $$', 'blocked:builtin:do'],
  ["DO LANGUAGE plpgsql $x$ BEGIN EXECUTE 'DELETE FROM orders'; END $x$", 'blocked:builtin:do'],
  ['DO $body$ BEGIN PERFORM 1; END $body$', 'blocked:builtin:do'],
  // Functions in FROM.
  ["SELECT * FROM lo_import('/etc/passwd')", 'blocked:builtin:function'],
  [`SELECT * FROM nextval('${S}.counter')`, READ],
  ["SELECT * FROM set_config('default_transaction_read_only', 'off', false)", 'blocked:builtin:set'],
  [`SELECT * FROM pg_catalog.setval('${S}.counter', 1)`, READ],
  ["SELECT * FROM dblink('dbname=shop', 'DELETE FROM orders') AS t(x int)", 'blocked:builtin:function'],
  [`SELECT * FROM ROWS FROM (nextval('${S}.counter'))`, READ],
  // EXPLAIN ANALYZE runs its statement; plain EXPLAIN only plans it (and the role may not even plan a DELETE).
  ['EXPLAIN ANALYZE DELETE FROM orders', READ],
  ['EXPLAIN (ANALYZE) UPDATE orders SET total = 0', READ],
  ["EXPLAIN (ANALYZE true, FORMAT json) INSERT INTO orders (customer_id, total, status) VALUES (1, 1, 'x')", READ],
  ['EXPLAIN (ANALYSE 1) DELETE FROM customers', READ],
  ["EXPLAIN (ANALYZE 'on') DELETE FROM orders", READ],
  ['EXPLAIN (ANALYZE off, ANALYZE on) DELETE FROM orders', READ],
  [`EXPLAIN ANALYZE SELECT nextval('${S}.counter')`, READ],
  ['EXPLAIN DELETE FROM orders', 'db_error:42501'],
  // Writable CTEs.
  ['WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING *) SELECT * FROM d', READ],
  ["WITH u AS (UPDATE customers SET email = 'x' RETURNING id) SELECT count(*) FROM u", READ],
  ["WITH i AS (INSERT INTO orders (customer_id, total, status) VALUES (1, 1, 'x') RETURNING id) SELECT 1", READ],
  [`WITH RECURSIVE a AS (SELECT 1), b AS (DELETE FROM ${S}.ledger RETURNING 1) SELECT * FROM a`, READ],
  ['SELECT * FROM (WITH d AS (DELETE FROM orders RETURNING 1) SELECT * FROM d) x', READ],
  // Row locks.
  ['SELECT * FROM orders WHERE id = 1 FOR UPDATE', READ],
  ['SELECT * FROM orders FOR NO KEY UPDATE SKIP LOCKED', READ],
  ['SELECT * FROM (SELECT * FROM orders FOR SHARE) s', READ],
  ['SELECT id FROM orders FOR KEY SHARE NOWAIT', READ],
  ['DECLARE c CURSOR FOR SELECT * FROM orders FOR UPDATE', READ],
  ['LOCK TABLE orders IN ACCESS EXCLUSIVE MODE', READ],
  // Large objects.
  ["SELECT lo_import('/etc/passwd')", 'blocked:builtin:function'],
  ["SELECT pg_catalog.lo_import('/etc/passwd', 4242)", 'blocked:builtin:function'],
  ["SELECT lo_export(0, '/tmp/airlock-x')", 'blocked:builtin:function'],
  ['SELECT lo_create(0)', READ],
  ["SELECT lo_from_bytea(0, '\\x41')", READ],
  ['SELECT lo_unlink(1)', READ],
  ["SELECT lowrite(lo_open(1, 131072), 'x')", READ],
  ["SELECT lo_put(1, 0, 'x')", READ],
  // dblink and friends.
  ["SELECT dblink_exec('dbname=shop', 'DELETE FROM orders')", 'blocked:builtin:function'],
  ["SELECT public.dblink_connect('x')", 'blocked:builtin:function'],
  ['CREATE EXTENSION dblink', READ],
  ["SELECT query_to_xml('DELETE FROM orders RETURNING *', true, false, '')", 'blocked:builtin:function'],
  // COPY.
  ['COPY orders FROM STDIN', 'blocked:builtin:copy'],
  ["COPY orders TO '/tmp/airlock-orders.csv'", 'blocked:builtin:copy'],
  ["COPY (SELECT * FROM customers) TO PROGRAM 'cat > /tmp/airlock-x'", 'blocked:builtin:copy'],
  ["COPY orders FROM '/etc/passwd'", 'blocked:builtin:copy'],
  ['COPY orders TO STDOUT', 'blocked:builtin:copy'],
  // PREPARE / EXECUTE / CALL.
  ['PREPARE p AS DELETE FROM orders', READ],
  ['PREPARE q AS SELECT 1', READ],
  ['EXECUTE p', READ],
  ['DEALLOCATE ALL', READ],
  [`CALL ${S}.wipe()`, READ],
  // SET / RESET and other session state.
  ['SET default_transaction_read_only = off', 'blocked:builtin:set'],
  ['SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE', 'blocked:builtin:set'],
  ['SET TRANSACTION READ WRITE', 'blocked:builtin:set'],
  ['RESET ALL', 'blocked:builtin:set'],
  ['SET statement_timeout = 0', 'blocked:builtin:set'],
  ['SET search_path = evil, public', 'blocked:builtin:set'],
  ['RESET transaction_read_only', 'blocked:builtin:set'],
  ['DISCARD ALL', 'blocked:builtin:set'],
  ['SET ROLE postgres', 'blocked:builtin:privilege'],
  ['SET LOCAL ROLE pg_write_all_data', 'blocked:builtin:privilege'],
  ['SET SESSION AUTHORIZATION postgres', 'blocked:builtin:privilege'],
  ['BEGIN READ WRITE', 'blocked:builtin:transaction'],
  ['COMMIT', 'blocked:builtin:transaction'],
  ['SAVEPOINT s', 'blocked:builtin:transaction'],
  // set_config in every spelling.
  ["SELECT set_config('transaction_read_only', 'off', true)", 'blocked:builtin:set'],
  ["SELECT pg_catalog.set_config('default_transaction_read_only', 'off', false)", 'blocked:builtin:set'],
  ["SELECT \"set_config\"('search_path', 'x', false)", 'blocked:builtin:set'],
  ["SELECT U&\"!0073et_config\" UESCAPE '!' ('statement_timeout', '0', false)", 'blocked:builtin:set'],
  ["SELECT set_config(x, 'off', false) FROM (VALUES ('transaction_read_only')) v(x)", 'blocked:builtin:role'],
  ["SELECT set_config('role', 'postgres', false)", 'blocked:builtin:role'],
  ["SELECT (SELECT set_config('statement_timeout', '0', false))", 'blocked:builtin:set'],
  // LISTEN / NOTIFY.
  ['LISTEN airlock_channel', READ],
  ["NOTIFY airlock_channel, 'x'", READ],
  ["SELECT pg_notify('airlock_channel', 'x')", READ],
  ['UNLISTEN *', READ],
  // Sequences.
  [`SELECT nextval('${S}.counter')`, READ],
  [`SELECT setval('${S}.counter', 100, false)`, READ],
  [`SELECT pg_catalog.nextval('${S}.ledger_id_seq'::regclass)`, READ],
  [`SELECT "nextval"('${S}.counter')`, READ],
  [`SELECT NEXTVAL('${S}.counter')`, READ],
  [`SELECT U&"\\006eextval"('${S}.counter')`, READ],
  [`VALUES (nextval('${S}.counter'))`, READ],
  [`SELECT (SELECT nextval('${S}.counter'))`, READ],
  [`WITH x AS MATERIALIZED (SELECT nextval('${S}.counter')) SELECT * FROM x`, READ],
  [`SELECT setval(pg_get_serial_sequence('${S}.ledger', 'id'), 1)`, READ],
  ["SELECT nextval('orders_id_seq')", READ],
  // New objects, temporary or not.
  ['CREATE TEMP TABLE t AS SELECT * FROM customers', READ],
  ['CREATE TEMPORARY TABLE t2 (id int)', READ],
  ['SELECT * INTO TEMP t3 FROM orders', READ],
  ['CREATE TEMP VIEW v AS SELECT 1', READ],
  ['CREATE TEMP SEQUENCE s', READ],
  ['CREATE TABLE public.owned (id int)', READ],
  ["CREATE OR REPLACE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'", READ],
  [`REFRESH MATERIALIZED VIEW ${S}.mv`, READ],
  ["COMMENT ON TABLE orders IS 'x'", READ],
  // Escalation: roles, grants, ownership, SECURITY DEFINER code.
  ['ALTER ROLE CURRENT_USER SET default_transaction_read_only = off', 'blocked:builtin:privilege'],
  ['ALTER ROLE CURRENT_USER WITH SUPERUSER', 'blocked:builtin:privilege'],
  ["ALTER USER CURRENT_USER PASSWORD 'x'", 'blocked:builtin:privilege'],
  ['GRANT pg_write_all_data TO CURRENT_USER', 'blocked:builtin:privilege'],
  ['CREATE ROLE airlock_evil LOGIN SUPERUSER', 'blocked:builtin:privilege'],
  ['GRANT SELECT ON customers TO PUBLIC', 'blocked:builtin:privilege'],
  ['REASSIGN OWNED BY CURRENT_USER TO postgres', 'blocked:builtin:privilege'],
  ['DROP OWNED BY CURRENT_USER', 'blocked:builtin:privilege'],
  ['ALTER TABLE orders OWNER TO CURRENT_USER', 'blocked:builtin:privilege'],
  ['ALTER DATABASE shop SET default_transaction_read_only = off', READ],
  ['ALTER SYSTEM SET default_transaction_read_only = off', 'blocked:builtin:set'],
  ['CREATE FUNCTION public.f() RETURNS void LANGUAGE sql SECURITY DEFINER AS $$ DELETE FROM orders $$', READ],
  ['CREATE PROCEDURE public.p() LANGUAGE sql AS $$ DELETE FROM orders $$', READ],
  [`ALTER FUNCTION ${S}.definer_wipe() SECURITY INVOKER`, READ],
  // An existing SECURITY DEFINER function that writes is opaque to the guard: the READ ONLY transaction stops it.
  [`SELECT ${S}.definer_wipe()`, 'db_error:25006'],
  [`SELECT * FROM ${S}.definer_wipe()`, 'db_error:25006'],
  // Password verifiers (pg_read_all_data opens pg_authid).
  ['SELECT rolname, rolpassword FROM pg_authid', 'blocked:builtin:catalog'],
  ['SELECT * FROM pg_catalog.pg_shadow', 'blocked:builtin:catalog'],
  ['TABLE pg_authid', 'blocked:builtin:catalog'],
  ['SELECT umoptions FROM pg_user_mapping', 'blocked:builtin:catalog'],
  // Maintenance, server control and server files.
  ['VACUUM orders', READ],
  ['ANALYZE orders', READ],
  ['CLUSTER orders USING orders_pkey', READ],
  ['REINDEX TABLE orders', READ],
  ['CHECKPOINT', READ],
  ["LOAD 'plpgsql'", 'blocked:builtin:load'],
  ['SELECT pg_terminate_backend(pg_backend_pid())', 'blocked:builtin:function'],
  ["SELECT pg_logical_emit_message(true, 'x', 'y')", 'blocked:builtin:function'],
  ['SELECT pg_reload_conf()', 'blocked:builtin:function'],
  ["SELECT pg_read_file('/etc/passwd')", 'blocked:builtin:function'],
  ["SELECT pg_catalog.pg_read_binary_file('postgresql.conf')", 'blocked:builtin:function'],
  ["SELECT pg_stat_file('/etc/passwd')", 'blocked:builtin:function'],
  ["SELECT * FROM pg_ls_dir('.')", 'blocked:builtin:function'],
];

/** `{"transaction": [...]}` bodies: one refused statement refuses all, nothing runs. */
const TRANSACTIONS: Array<[string, Outcome, Array<{ sql: string }>]> = [
  ['a read then a delete', READ, [{ sql: 'SELECT 1' }, { sql: `DELETE FROM ${S}.ledger` }]],
  ['COMMIT then a delete', 'blocked:builtin:transaction', [{ sql: 'COMMIT' }, { sql: 'DELETE FROM orders' }]],
  ['SET then a read', 'blocked:builtin:set', [{ sql: 'SET transaction_read_only = off' }, { sql: 'SELECT 1' }]],
  [
    'a read then a writing SECURITY DEFINER call',
    'db_error:25006',
    [{ sql: 'SELECT 1' }, { sql: `SELECT ${S}.definer_wipe()` }],
  ],
];

let stack: TestAirlock;
let admin: PgClient;
let grant: OpenGrant;
let before: Snapshot;

beforeAll(async () => {
  stack = await startTestAirlock();
  admin = await adminClient();
  await admin.query(`CREATE SCHEMA ${S}`);
  await admin.query(`CREATE TABLE ${S}.ledger (id serial PRIMARY KEY, note text)`);
  await admin.query(`INSERT INTO ${S}.ledger (note) VALUES ('a'), ('b'), ('c')`);
  await admin.query(`CREATE SEQUENCE ${S}.counter`);
  await admin.query(`SELECT nextval('${S}.counter')`);
  await admin.query(`CREATE PROCEDURE ${S}.wipe() LANGUAGE sql AS $$ DELETE FROM ${S}.ledger $$`);
  await admin.query(
    `CREATE FUNCTION ${S}.definer_wipe() RETURNS SETOF int LANGUAGE sql SECURITY DEFINER AS $$ DELETE FROM ${S}.ledger RETURNING 1 $$`,
  );
  await admin.query(`CREATE MATERIALIZED VIEW ${S}.mv AS SELECT 1 AS x`);
  grant = await openGrant(stack);
  before = await snapshot();
});
afterAll(async () => {
  await admin?.query(`DROP SCHEMA IF EXISTS ${S} CASCADE`);
  await admin?.end();
  await stack?.close();
});

/** Row data the corpus aims at: any change to orders, customers or the canary ledger changes it. */
async function rowData() {
  const { rows } = await admin.query(`SELECT
    (SELECT md5(string_agg(concat_ws(':', id, customer_id, total, status, created_at), ',' ORDER BY id)) FROM public.orders) AS orders,
    (SELECT md5(string_agg(concat_ws(':', id, name, email, phone, card_number, ssn, country, created_at), ',' ORDER BY id)) FROM public.customers) AS customers,
    (SELECT md5(string_agg(concat_ws(':', id, note), ',' ORDER BY id)) FROM ${S}.ledger) AS ledger`);
  return rows[0] as Record<string, string>;
}

type Snapshot = Awaited<ReturnType<typeof snapshot>>;

/** Everything a write or escalation could leave behind, seen by the admin and by the grant's own session. */
async function snapshot() {
  const role = stack.roleOf(grant.id);
  const one = async (sql: string, params: unknown[] = []) => (await admin.query(sql, params)).rows;
  // transaction_timeout is left out: Airlock sets it in every transaction to what is left of the window.
  const own = await query(stack, grant.token, {
    sql: `SELECT current_user::text, session_user::text, current_setting('transaction_read_only') AS read_only,
      (SELECT count(*)::int FROM pg_prepared_statements WHERE name NOT LIKE 'airlock\\_%') AS prepared, (SELECT count(*)::int FROM pg_listening_channels()) AS listening,
      (SELECT string_agg(name || '=' || setting, ';' ORDER BY name) FROM pg_settings WHERE name <> 'transaction_timeout') AS settings`,
  });
  expect(own.status, JSON.stringify(own.body)).toBe(200);
  return {
    rows: await rowData(),
    sequences:
      await one(`SELECT (SELECT row(last_value, is_called)::text FROM ${S}.counter) AS counter, (SELECT row(last_value, is_called)::text FROM ${S}.ledger_id_seq) AS ledger,
      (SELECT row(last_value, is_called)::text FROM public.customers_id_seq) AS customers`),
    // Other suites make scratch tables in public, so public is checked by name; anything the role made, by owner.
    objects: await one(
      `SELECT
      to_regclass('public.owned')::text AS owned_table, to_regprocedure('public.f()')::text AS function_f, to_regprocedure('public.p()')::text AS procedure_p,
      (SELECT count(*)::int FROM pg_class WHERE relnamespace = '${S}'::regnamespace) AS canary_relations,
      (SELECT count(*)::int FROM pg_proc WHERE pronamespace = '${S}'::regnamespace) AS canary_functions,
      (SELECT count(*)::int FROM pg_largeobject_metadata) AS large_objects,
      (SELECT count(*)::int FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = $1) AS owned_relations,
      (SELECT count(*)::int FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner WHERE r.rolname = $1) AS owned_functions,
      (SELECT count(*)::int FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE r.rolname = $1) AS owned_schemas,
      (SELECT count(*)::int FROM pg_largeobject_metadata m JOIN pg_roles r ON r.oid = m.lomowner WHERE r.rolname = $1) AS owned_large_objects,
      (SELECT count(*)::int FROM pg_roles WHERE rolname = 'airlock_evil') AS evil_roles`,
      [role],
    ),
    role: await one(
      `SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, r.rolreplication, r.rolconfig,
      ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) AS member_of,
      (SELECT count(*)::int FROM pg_db_role_setting s WHERE s.setrole = r.oid OR (s.setrole = 0 AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = 'shop'))) AS stored_settings
      FROM pg_roles r WHERE r.rolname = $1`,
      [role],
    ),
    session: own.body.rows[0] as unknown[],
  };
}

function expectOutcome(response: { status: number; body: any }, outcome: Outcome, label: string) {
  const text = JSON.stringify(response.body);
  if (outcome === 'ok') {
    expect(response.status, `${label}: ${text.slice(0, 300)}`).toBe(200);
    return;
  }
  const error = expectErrorShape(response.status, text, label);
  const [kind, ...rest] = outcome.split(':');
  const detail = rest.join(':');
  if (kind === 'blocked')
    expect({ status: response.status, code: error.code, guardrail: error.guardrail }, label).toEqual({
      status: 403,
      code: 'statement_blocked',
      guardrail: detail,
    });
  else if (kind === 'db_error')
    expect({ status: response.status, code: error.code, sqlstate: error.sqlstate }, label).toEqual({
      status: 400,
      code: 'db_error',
      sqlstate: detail,
    });
  else expect({ status: response.status, code: error.code }, label).toEqual({ status: 400, code: outcome });
}

describe(`${CORPUS.length} statements through one read grant`, () => {
  it.each(CORPUS)('%j → %s, row data unchanged', async (sql, outcome) => {
    const data = await rowData();
    expectOutcome(await query(stack, grant.token, { sql }), outcome, sql);
    expect(await rowData()).toEqual(data);
  });

  it.each(TRANSACTIONS)('a transaction: %s → %s, row data unchanged', async (label, outcome, transaction) => {
    const data = await rowData();
    expectOutcome(await query(stack, grant.token, { transaction }), outcome, label);
    expect(await rowData()).toEqual(data);
  });

  it('left nothing behind: rows, sequences, objects, the role and its session are as before', async () => {
    const after = await snapshot();
    expect(after).toEqual(before);
    expect(after.session[0]).toBe(stack.roleOf(grant.id));
    expect(after.session[1]).toBe(after.session[0]);
    expect(after.session[2]).toBe('on');
  });

  it('audited every attempt: refusals as blocked, the database’s refusals as failed', async () => {
    const events = await statementEvents(stack, grant);
    const expected = [
      ...CORPUS.map(([, outcome]) => outcome),
      ...TRANSACTIONS.flatMap(([, outcome, list]) => list.map(() => outcome)),
    ];
    const decision = (outcome: Outcome) =>
      outcome === 'ok' ? 'executed' : outcome.startsWith('db_error') ? 'failed' : 'blocked';
    // Snapshots ran twice through the grant; the corpus sits between them.
    expect(events.map((event) => event.decision)).toEqual(['executed', ...expected.map(decision), 'executed']);
  });
});
