import { describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import type { ParsedStatement } from '../../shared/sql/index.ts';
import { parseOne, parseStatements } from '../../shared/sql/index.ts';

async function failure(sql: string): Promise<{ code: string; details: Record<string, unknown> }> {
  try {
    await parseStatements(sql);
  } catch (error) {
    if (isAirlockError(error)) return { code: error.code, details: error.details };
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(sql)} to be refused`);
}

describe('parseStatements', () => {
  it('slices each statement out of stacked SQL, multi-byte characters included', async () => {
    const statements = await parseStatements(
      "/* lead */ SELECT 'é' ;\n  DELETE FROM orders WHERE note = 'ü' ; SELECT 3",
    );
    expect(statements.map((s) => s.sql)).toEqual(["SELECT 'é'", "DELETE FROM orders WHERE note = 'ü'", 'SELECT 3']);
    expect(statements.map((s) => s.kind)).toEqual(['select', 'delete', 'select']);
  });

  it('refuses several statements in parseOne', async () => {
    await expect(parseOne('SELECT 1; SELECT 2')).rejects.toMatchObject({ code: 'multiple_statements' });
  });

  const syntax: Array<[string, number]> = [
    ['SELEC 1', 1],
    ['SELECT * FROM', 14],
    ['SELECT * FORM orders', 10],
    ["SELECT 'é' frm orders", 16],
    ['SELECT 1;\nSELECT * FROM WHERE', 25],
  ];
  it.each(syntax)('reports the 1-based position of a syntax error in %j', async (sql, position) => {
    expect(await failure(sql)).toEqual({ code: 'sql_syntax', details: { position } });
  });

  it('walks the deepest statement the complexity guard admits; a deeper one is refused before the parser', async () => {
    const nested = (depth: number) => `SELECT * FROM ${'(SELECT * FROM '.repeat(depth)}customers${') x'.repeat(depth)}`;
    expect((await parseOne(nested(70))).relations).toEqual([{ schema: null, name: 'customers' }]);
    expect((await failure(nested(1000))).code).toBe('statement_too_complex');
  });

  it.each(['', ' ', '-- nothing', '/* nothing */', ';', ' ; ; '])('refuses %j as no statement', async (sql) => {
    expect((await failure(sql)).code).toBe('invalid_request');
  });
});

describe('what a statement touches', () => {
  const cases: Array<[string, Partial<ParsedStatement>]> = [
    [
      'SELECT c.email, name FROM customers c',
      {
        relations: [{ schema: null, name: 'customers' }],
        columns: [
          { table: 'c', name: 'email' },
          { table: null, name: 'name' },
        ],
        wholeRowRefs: [],
      },
    ],
    [
      'SELECT * FROM public.customers',
      { relations: [{ schema: 'public', name: 'customers' }], wholeRowRefs: [null], columns: [] },
    ],
    ['SELECT c.* FROM customers c', { wholeRowRefs: ['c'] }],
    ['SELECT row_to_json(c) FROM customers c', { wholeRowRefs: ['c'], functions: ['row_to_json'] }],
    ['SELECT json_agg(customers) FROM customers', { wholeRowRefs: ['customers'] }],
    ['SELECT c::text FROM customers c', { wholeRowRefs: ['c'] }],
    ['SELECT (c).* FROM customers c', { wholeRowRefs: ['c'] }],
    [
      'SELECT (c).email FROM customers c',
      {
        columns: [
          { table: 'c', name: 'email' },
          { table: null, name: 'c' },
        ],
      },
    ],
    ['SELECT email FROM customers', { wholeRowRefs: [], columns: [{ table: null, name: 'email' }] }],
    ['SELECT count(*) FROM orders', { wholeRowRefs: [], functions: ['count'] }],
    ['SELECT pg_catalog.LOWER(name), "Upper"(x) FROM t', { functions: ['pg_catalog.lower', 'upper'] }],
    [
      'WITH recent AS (SELECT * FROM orders) SELECT r.total FROM recent r JOIN customers USING (id) WHERE r.id IN (SELECT order_id FROM refunds)',
      {
        relations: [
          { schema: null, name: 'recent' },
          { schema: null, name: 'customers' },
          { schema: null, name: 'refunds' },
          { schema: null, name: 'orders' },
        ],
      },
    ],
    [
      'SELECT * FROM orders o, orders p, public.orders',
      {
        relations: [
          { schema: null, name: 'orders' },
          { schema: 'public', name: 'orders' },
        ],
      },
    ],
    [
      'UPDATE customers SET email = lower(email) WHERE id = 1 RETURNING *',
      {
        kind: 'update',
        relations: [{ schema: null, name: 'customers' }],
        wholeRowRefs: [null],
        hasWhere: true,
        writes: true,
      },
    ],
    [
      "INSERT INTO archive SELECT * FROM orders WHERE status = 'x'",
      { kind: 'insert', kinds: ['insert', 'select'], hasWhere: false },
    ],
    [
      'WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone',
      { kind: 'select', kinds: ['select', 'delete'], hasWhere: false, writes: true },
    ],
    [
      'WITH gone AS (DELETE FROM orders WHERE id = 1 RETURNING *) SELECT * FROM gone',
      { kinds: ['select', 'delete'], hasWhere: true },
    ],
    ['SELECT * FROM orders WHERE id = 1', { hasWhere: true, writes: false }],
    ['SELECT * FROM orders', { hasWhere: false }],
    [
      'EXPLAIN ANALYZE DELETE FROM orders',
      { kind: 'explain', kinds: ['explain', 'delete'], explainAnalyze: true, writes: true, hasWhere: false },
    ],
    ['EXPLAIN DELETE FROM orders', { kind: 'explain', kinds: ['explain'], explainAnalyze: false, writes: false }],
    ['SELECT * FROM orders FOR KEY SHARE', { kind: 'select', writes: true }],
    ['SELECT * INTO t FROM orders', { kind: 'ddl', writes: true }],
    ["SELECT set_config('Role', 'x', false), set_config(name, 'y', true) FROM s", { settings: ['role', null] }],
    ['SET LOCAL search_path TO x', { kind: 'set', settings: ['search_path'], writes: false }],
    ['SHOW ALL', { kind: 'other', command: 'VariableShowStmt', writes: false }],
    ['SET SESSION AUTHORIZATION bob', { kind: 'privilege' }],
    ['ALTER TABLE orders ADD COLUMN note text', { kind: 'ddl', writes: true }],
    ["COPY orders FROM '/tmp/x'", { kind: 'copy', writes: true }],
    ['COPY orders TO STDOUT', { kind: 'copy', writes: false }],
    ['EXECUTE q', { kind: 'other', writes: true }],
    [
      'PREPARE q AS UPDATE orders SET total = 0',
      { kind: 'other', kinds: ['other', 'update'], hasWhere: false, writes: true },
    ],
    ['CALL p()', { kind: 'call', functions: ['p'], writes: true }],
    ['DO $$ begin end $$', { kind: 'do', writes: true }],
    ['BEGIN', { kind: 'transaction', writes: false }],
    [
      'TRUNCATE orders, customers',
      {
        kind: 'truncate',
        relations: [
          { schema: null, name: 'orders' },
          { schema: null, name: 'customers' },
        ],
      },
    ],
  ];
  it.each(cases)('%j', async (sql, expected) => {
    expect(await parseOne(sql)).toMatchObject(expected);
  });
});

describe('fingerprint and normalizedSql', () => {
  it('keeps the fingerprint across literal values and changes it with the shape', async () => {
    const a = await parseOne("SELECT * FROM customers WHERE email = 'a@b.c'");
    const b = await parseOne("select *  from customers\nwhere email = 'x@y.com' -- other");
    const c = await parseOne("SELECT * FROM customers WHERE name = 'a@b.c'");
    expect(a.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(c.fingerprint).not.toBe(a.fingerprint);
  });

  it('replaces literals with numbered parameters', async () => {
    expect((await parseOne("SELECT * FROM customers WHERE email = 'x@y.com' AND id = 5")).normalizedSql).toBe(
      'SELECT * FROM customers WHERE email = $1 AND id = $2',
    );
    expect((await parseOne('SELECT * FROM t WHERE a = $1 AND b = 7')).normalizedSql).toBe(
      'SELECT * FROM t WHERE a = $1 AND b = $2',
    );
    expect((await parseOne('SELECT a1,\n\t t2.b3 FROM t2   WHERE c4 = 4')).normalizedSql).toBe(
      'SELECT a1, t2.b3 FROM t2 WHERE c4 = $1',
    );
    // A quoted name is kept only when the statement declares it: without a catalog, it may be a quoted value.
    expect((await parseOne('SELECT "my  col" FROM t /* note */ ORDER BY 1')).normalizedSql).toBe(
      'SELECT $2 FROM t ORDER BY $1',
    );
    expect((await parseOne('SELECT x AS "Total" FROM t ORDER BY "Total"')).normalizedSql).toBe(
      'SELECT x AS "Total" FROM t ORDER BY "Total"',
    );
    expect((await parseOne(`SELECT id FROM customers WHERE ssn = "342-61-1387"`)).normalizedSql).toBe(
      'SELECT id FROM customers WHERE ssn = $1',
    );
  });

  const secrets: Array<[string, string]> = [
    ["SELECT * FROM customers WHERE email = 'x@y.com'", 'x@y.com'],
    ['SELECT * FROM customers WHERE card_number = 4111111111111111', '4111111111111111'],
    ["SELECT * FROM customers WHERE ssn = E'123-45-6789'", '123-45-6789'],
    ['SELECT $tag$s3cr3t$tag$', 's3cr3t'],
    ["SELECT U&'s3cr3t'", 's3cr3t'],
    ["SELECT X'DEADBEEF'", 'DEADBEEF'],
    ["SELECT B'1010101'", '1010101'],
    ['SELECT 1 /* card 4111111111111111 */', '4111111111111111'],
    ['SELECT * FROM customers -- ssn 123-45-6789', '123-45-6789'],
    ["COMMENT ON TABLE orders IS 's3cr3t-comment'", 's3cr3t'],
    ["CREATE TABLE t (a text DEFAULT 's3cr3t-default')", 's3cr3t'],
    ["PREPARE p AS SELECT * FROM customers WHERE ssn = '123-45-6789'", '123-45-6789'],
    ["EXECUTE p('123-45-6789')", '123-45-6789'],
    ["DO $$ BEGIN PERFORM 's3cr3t'; END $$", 's3cr3t'],
    ["COPY orders FROM '/s3cr3t/path'", 's3cr3t'],
    ["NOTIFY ch, 's3cr3t-payload'", 's3cr3t'],
    ["CREATE ROLE x PASSWORD 'hunter2'", 'hunter2'],
    ["SET search_path = 's3cr3t'", 's3cr3t'],
    ["ALTER SYSTEM SET cluster_name = 's3cr3t'", 's3cr3t'],
    ["CREATE VIEW v AS SELECT 's3cr3t' AS c", 's3cr3t'],
    ['SELECT * FROM orders ORDER BY 1 LIMIT 987654', '987654'],
  ];
  it.each(secrets)('%j keeps no literal in normalizedSql', async (sql, secret) => {
    const { normalizedSql } = await parseOne(sql);
    expect(normalizedSql).not.toContain(secret);
    expect(normalizedSql).not.toMatch(/--|\/\*/);
  });
});
