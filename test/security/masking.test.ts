// Ways to read a sensitive column through a read grant: aliases, casts, functions, aggregates, JSON, arrays,
// subqueries, views, set operations, windows, encodings, errors. No seeded email, phone, card number or SSN,
// nor an obvious transform of one (upper/lower case, reversed, base64, hex, md5, digits only), may come back.
// The grant's role reads masked columns only through Airlock's masking views (Postgres masks them), so a
// statement either runs on masked values or is refused by Postgres (`refused: 'db_error'`, SQLSTATE 42501 for
// a raw column named through its table, a view or matview that reads one, or a function that does);
// security/masking-oracles.test.ts covers predicates, ordering, errors and timing.
// A hash of a value (md5, sha256, hashtext) is masked whole here by output masking too, because a hash of a
// low-entropy value (an SSN, a phone number) is reversible by enumeration, not merely an equality leak.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import {
  createLeakScan,
  expectErrorShape,
  type OpenGrant,
  openGrant,
  query,
  seededSensitive,
  uniqueSchema,
  withAdmin,
} from './support.ts';

const V = uniqueSchema();
const FIRST5 = 'WHERE id <= 5';

interface Expectation {
  /** Columns that may come back unmasked (ids, counters); every other column must be masked. */
  clear?: string[];
  /** Refused instead of answered: nothing of the value may be in the error either. */
  refused?: 'db_error' | 'builtin:catalog';
  /** Runs, on masked values that no longer match what the statement looks for: no rows. */
  rows?: 'none';
}

const CASES: Array<[string, string, Expectation?]> = [
  // Aliases, names, casts.
  [
    'column and table aliases',
    `SELECT c.email AS e, c.phone AS p, c.card_number AS n, c.ssn AS s FROM customers AS c WHERE c.id <= 5`,
  ],
  [
    'quoted, schema-qualified names (the raw table: refused by Postgres)',
    `SELECT "public"."customers"."ssn", public.customers.phone FROM public.customers ${FIRST5}`,
    { refused: 'db_error' },
  ],
  ['unicode-escaped identifiers', `SELECT U&"\\0073sn" || '' AS s, U&"!0070hone" UESCAPE '!' FROM customers ${FIRST5}`],
  ['casts', `SELECT ssn::varchar(20) AS a, email::bpchar AS b, phone::bytea AS d FROM customers ${FIRST5}`],
  [
    'a numeric cast of a card number (its masked form is not a number)',
    `SELECT card_number::numeric AS c FROM customers ${FIRST5}`,
    { refused: 'db_error' },
  ],
  [
    'CAST and COLLATE',
    `SELECT CAST(ssn AS text) AS a, ssn COLLATE "C" AS b, (phone)::text AS c FROM customers ${FIRST5}`,
  ],
  // Functions over one value.
  [
    'lower, upper, initcap',
    `SELECT lower(email) AS l, upper(email) AS u, initcap(phone) AS i FROM customers ${FIRST5}`,
  ],
  [
    'concatenation',
    `SELECT email || ':' || ssn AS pair, concat(phone, '') AS p, concat_ws(',', card_number, ssn) AS cs FROM customers ${FIRST5}`,
  ],
  [
    'format()',
    `SELECT format('%s|%s', ssn, phone) AS f, format('%I', email) AS i, format('%L', card_number) AS l FROM customers ${FIRST5}`,
  ],
  ['quote_literal, quote_ident', `SELECT quote_literal(ssn) AS q, quote_ident(email) AS i FROM customers ${FIRST5}`],
  [
    'translate, replace',
    `SELECT translate(ssn, '0123456789', 'abcdefghij') AS t, replace(email, '@', ' at ') AS r FROM customers ${FIRST5}`,
  ],
  ['regexp_replace', `SELECT regexp_replace(phone, '\\D', '', 'g') AS digits FROM customers ${FIRST5}`],
  [
    'regexp_matches (the masked SSN has no digits to match)',
    `SELECT regexp_matches(ssn, '(\\d+)-(\\d+)-(\\d+)') AS parts FROM customers ${FIRST5}`,
    { rows: 'none' },
  ],
  ['reverse', `SELECT reverse(ssn) AS s, reverse(phone) AS p, reverse(card_number) AS c FROM customers ${FIRST5}`],
  [
    'substr pieces glued back together',
    `SELECT substr(ssn, 1, 3) || substr(ssn, 5, 2) || substr(ssn, 8, 4) AS s FROM customers ${FIRST5}`,
  ],
  [
    'substr pieces in separate columns',
    `SELECT substr(ssn, 1, 3) AS a, substr(ssn, 5, 2) AS b, substr(ssn, 8) AS c FROM customers ${FIRST5}`,
  ],
  [
    'left, right',
    `SELECT left(card_number, 8) AS l, right(card_number, 8) AS r, left(email, -1) AS e FROM customers ${FIRST5}`,
  ],
  [
    'split_part',
    `SELECT split_part(email, '@', 1) AS local, split_part(phone, '-', 4) AS tail FROM customers ${FIRST5}`,
  ],
  ['overlay', `SELECT overlay(card_number PLACING 'XXXX' FROM 1 FOR 4) AS o FROM customers ${FIRST5}`],
  [
    'position, strpos, length (offsets, not values)',
    `SELECT position('@' IN email) AS at, strpos(ssn, '-') AS dash, length(phone) AS len FROM customers ${FIRST5}`,
  ],
  [
    'ascii(substr()) character by character',
    `SELECT ascii(substr(ssn, 1, 1)) AS c1, ascii(substr(ssn, 2, 1)) AS c2, ascii(substr(ssn, 3, 1)) AS c3 FROM customers ${FIRST5}`,
  ],
  ['to_hex(ascii())', `SELECT to_hex(ascii(substr(phone, 4, 1))) AS h FROM customers ${FIRST5}`],
  [
    'generate_series indexing into a string',
    `SELECT g, substr(phone, g, 1) AS ch FROM customers, generate_series(1, 15) AS g WHERE id = 1`,
    { clear: ['g'] },
  ],
  [
    'encode(convert_to(), base64)',
    `SELECT encode(convert_to(ssn, 'UTF8'), 'base64') AS b, encode(convert_to(email, 'UTF8'), 'base64') AS e FROM customers ${FIRST5}`,
  ],
  [
    'hex and bytea',
    `SELECT encode(convert_to(phone, 'UTF8'), 'hex') AS h, convert_to(email, 'UTF8') AS b FROM customers ${FIRST5}`,
  ],
  [
    'hashes: md5, sha256, hashtext',
    `SELECT md5(ssn) AS m, sha256(convert_to(card_number, 'UTF8')) AS s, hashtext(phone) AS h FROM customers ${FIRST5}`,
  ],
  [
    'greatest, least, COALESCE, NULLIF',
    `SELECT greatest(ssn, phone) AS g, least(email, card_number) AS l, COALESCE(ssn, 'x') AS c, NULLIF(phone, '') AS n FROM customers ${FIRST5}`,
  ],
  [
    'CASE expressions (value and one bit)',
    `SELECT CASE WHEN id > 0 THEN ssn ELSE 'x' END AS s, CASE WHEN ssn LIKE '1%' THEN 1 ELSE 0 END AS bit FROM customers ${FIRST5}`,
  ],
  // Aggregates.
  [
    'min, max over the table',
    `SELECT min(ssn) AS a, max(email) AS b, min(phone) AS c, max(card_number) AS d FROM customers`,
  ],
  ['string_agg', `SELECT string_agg(ssn, ',') AS s, string_agg(phone, ',' ORDER BY id) AS p FROM customers ${FIRST5}`],
  ['string_agg with FILTER', `SELECT string_agg(phone, ',') FILTER (WHERE id <= 3) AS p FROM customers`],
  ['array_agg', `SELECT array_agg(email) AS a, array_agg(card_number ORDER BY id) AS c FROM customers ${FIRST5}`],
  ['ARRAY[...]', `SELECT ARRAY[email, phone, card_number, ssn] AS arr FROM customers ${FIRST5}`],
  ['unnest(ARRAY(subquery))', `SELECT unnest(ARRAY(SELECT ssn FROM customers ${FIRST5})) AS s`],
  [
    'ordered-set aggregates',
    `SELECT mode() WITHIN GROUP (ORDER BY phone) AS m, percentile_disc(0.5) WITHIN GROUP (ORDER BY ssn) AS p FROM customers`,
  ],
  [
    'GROUP BY email (masked by origin)',
    `SELECT email, count(*) AS n FROM customers GROUP BY email ORDER BY n DESC, email LIMIT 5`,
    { clear: ['n'] },
  ],
  ['DISTINCT ON', `SELECT DISTINCT ON (ssn) ssn, id FROM customers ${FIRST5} ORDER BY ssn`, { clear: ['id'] }],
  // JSON.
  ['to_json, to_jsonb', `SELECT to_json(email) AS a, to_jsonb(ssn) AS b FROM customers ${FIRST5}`],
  [
    'jsonb_build_object, json_build_array',
    `SELECT jsonb_build_object('s', ssn, 'p', phone) AS o, json_build_array(card_number) AS a FROM customers ${FIRST5}`,
  ],
  ['row_to_json of a row', `SELECT row_to_json(c) AS doc FROM customers c ${FIRST5}`],
  ['json_agg, jsonb_agg', `SELECT json_agg(c) AS a, jsonb_agg(c.ssn) AS b FROM customers c ${FIRST5}`],
  ['json_object_agg', `SELECT json_object_agg(id, phone) AS o FROM customers ${FIRST5}`],
  [
    'jsonb_each_text over a row',
    `SELECT j.key, j.value FROM customers c, jsonb_each_text(to_jsonb(c)) AS j WHERE c.id <= 2`,
  ],
  ['jsonb_path_query over a row', `SELECT jsonb_path_query(to_jsonb(c), '$.ssn') AS s FROM customers c ${FIRST5}`],
  [
    'json_populate_record round trip',
    `SELECT (json_populate_record(NULL::customers, row_to_json(c))).phone AS p FROM customers c ${FIRST5}`,
  ],
  [
    'json_to_record with a column list',
    `SELECT u.phone FROM customers c, json_to_record(row_to_json(c)) AS u(phone text) WHERE c.id <= 5`,
  ],
  [
    'xmlforest, xmlelement',
    `SELECT xmlforest(email, phone) AS f, xmlelement(name s, ssn) AS e FROM customers ${FIRST5}`,
  ],
  // Whole rows.
  ['a row as a value', `SELECT c FROM customers c ${FIRST5}`],
  ['the table name as a row, cast to text', `SELECT customers::text AS t FROM customers ${FIRST5}`],
  ['ROW(c.*)', `SELECT ROW(c.*) AS r FROM customers c ${FIRST5}`],
  ['functional notation ssn(c)', `SELECT ssn(c) AS s, phone(c) AS p FROM customers c ${FIRST5}`],
  ['(c).field', `SELECT (c).phone, (c).ssn FROM customers c ${FIRST5}`],
  ['a column alias list hiding the names', `SELECT x, y || '' AS y2 FROM customers AS c(i, n, x, y) WHERE i <= 5`],
  ['SELECT *', `SELECT * FROM customers ${FIRST5}`, { clear: ['id', 'name', 'country', 'created_at'] }],
  ['TABLE customers in a subquery', `SELECT t.phone || '' AS p FROM (TABLE customers) t WHERE t.id <= 5`],
  // Subqueries, CTEs, set operations, joins.
  [
    'a scalar subquery',
    `SELECT o.id, (SELECT c.ssn FROM customers c WHERE c.id = o.customer_id) AS s FROM orders o WHERE o.id <= 5`,
    { clear: ['id'] },
  ],
  ['a derived table', `SELECT s FROM (SELECT ssn || '' AS s FROM customers ${FIRST5}) sub`],
  ['a CTE', `WITH x AS (SELECT phone AS p, upper(email) AS e FROM customers ${FIRST5}) SELECT p, e FROM x`],
  [
    'a recursive CTE walking a string',
    `WITH RECURSIVE r(i, ch) AS (SELECT 1, substr((SELECT ssn FROM customers WHERE id = 1), 1, 1) UNION ALL SELECT i + 1, substr((SELECT ssn FROM customers WHERE id = 1), i + 1, 1) FROM r WHERE i < 11) SELECT i, ch FROM r`,
    { clear: ['i'] },
  ],
  [
    'UNION',
    `SELECT email AS v FROM customers WHERE id <= 3 UNION ALL SELECT phone FROM customers WHERE id <= 3 UNION SELECT 'x'`,
  ],
  [
    'INTERSECT, EXCEPT',
    `(SELECT ssn FROM customers WHERE id <= 5 INTERSECT SELECT ssn FROM customers WHERE id <= 9) EXCEPT SELECT 'none'`,
  ],
  ['a LATERAL subquery', `SELECT x.v FROM customers c, LATERAL (SELECT c.ssn AS v) x WHERE c.id <= 5`],
  [
    'LATERAL VALUES',
    `SELECT x.* FROM customers c CROSS JOIN LATERAL (VALUES (c.phone), (c.card_number)) AS x(v) WHERE c.id <= 5`,
  ],
  [
    'a VALUES join',
    `SELECT v.n, c.ssn, c.phone FROM (VALUES (1), (2)) AS v(n) JOIN customers c ON c.id = v.n`,
    { clear: ['n'] },
  ],
  ['VALUES wrapping a subquery', `SELECT v.x FROM (VALUES ((SELECT card_number FROM customers WHERE id = 1))) AS v(x)`],
  ['JOIN … USING', `SELECT email FROM customers JOIN (SELECT 1 AS id) x USING (id)`],
  [
    'NATURAL JOIN with *',
    `SELECT * FROM customers NATURAL JOIN (SELECT 1 AS id) x`,
    { clear: ['id', 'name', 'country', 'created_at'] },
  ],
  [
    'a join from orders',
    `SELECT o.id, c.email, c.card_number FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id <= 5`,
    { clear: ['id'] },
  ],
  // Window functions.
  [
    'first_value, lag',
    `SELECT first_value(ssn) OVER (ORDER BY id) AS f, lag(phone) OVER (ORDER BY id) AS l FROM customers ${FIRST5}`,
  ],
  [
    'an aggregate as a window',
    `SELECT max(phone) OVER () AS m, string_agg(email, ',') OVER (ORDER BY id) AS s FROM customers ${FIRST5}`,
  ],
  // Views created by the admin in a unique schema read the raw columns with their owner's rights: the grant's
  // role is never granted one that reads a masked column, so Postgres refuses them.
  ['a view', `SELECT * FROM ${V}.contacts ${FIRST5}`, { refused: 'db_error' }],
  ['a view of expressions', `SELECT u, p, c FROM ${V}.derived ${FIRST5}`, { refused: 'db_error' }],
  ['a view over a view', `SELECT x, p FROM ${V}.nested ${FIRST5}`, { refused: 'db_error' }],
  ['a view of whole rows', `SELECT doc FROM ${V}.docs ${FIRST5}`, { refused: 'db_error' }],
  [
    'an expression over a view',
    `SELECT lower(email) AS l, phone || '' AS p FROM ${V}.contacts ${FIRST5}`,
    { refused: 'db_error' },
  ],
  ['a materialized view', `SELECT e, r FROM ${V}.mv ${FIRST5}`, { refused: 'db_error' }],
  // Functions defined in the database run with the caller's rights: their raw reads are refused by Postgres.
  [
    'a database function that reads a sensitive column',
    `SELECT ${V}.lookup(id) AS v FROM generate_series(1, 5) AS id`,
    { refused: 'db_error' },
  ],
  ['a database function in FROM', `SELECT * FROM ${V}.contact_rows() WHERE i <= 5`, { refused: 'db_error' }],
  ['a view over a database function', `SELECT v FROM ${V}.looked_up ${FIRST5}`, { refused: 'db_error' }],
  // Column statistics hold samples of values (most common values, histogram bounds): refused outright.
  [
    'pg_stats',
    `SELECT attname, most_common_vals::text, histogram_bounds::text FROM pg_stats WHERE tablename = 'customers'`,
    { refused: 'builtin:catalog' },
  ],
  [
    'pg_statistic',
    `SELECT stavalues1::text, stavalues2::text FROM pg_catalog.pg_statistic WHERE starelid = 'public.customers'::regclass`,
    { refused: 'builtin:catalog' },
  ],
  // The error channel: Postgres quotes the bad value; the message must not carry it.
  ['a cast error', `SELECT ssn::int FROM customers WHERE id = 1`, { refused: 'db_error' }],
  ['an out-of-range error', `SELECT card_number::smallint FROM customers WHERE id = 1`, { refused: 'db_error' }],
  ['a value as a relation name', `SELECT phone::regclass FROM customers WHERE id = 1`, { refused: 'db_error' }],
  ['a value as a role name', `SELECT ssn::regrole FROM customers WHERE id = 1`, { refused: 'db_error' }],
  ['a date parse', `SELECT email::date FROM customers WHERE id = 1`, { refused: 'db_error' }],
  ['a malformed array literal', `SELECT ('{' || ssn)::int[] FROM customers WHERE id = 1`, { refused: 'db_error' }],
  ['a value as a setting name', `SELECT current_setting(email) FROM customers WHERE id = 1`, { refused: 'db_error' }],
  ['a value as a format string', `SELECT format('%' || ssn) FROM customers WHERE id = 1`, { refused: 'db_error' }],
  [
    'a value as a jsonpath',
    `SELECT jsonb_path_query('{}', ('$.' || phone)::jsonpath) FROM customers WHERE id = 1`,
    { refused: 'db_error' },
  ],
  ['a value parsed as JSON', `SELECT phone::jsonb FROM customers WHERE id = 1`, { refused: 'db_error' }],
  // Ordering by a sensitive column returns only what is selected.
  ['ORDER BY ssn returns ids only', `SELECT id FROM customers ORDER BY ssn LIMIT 5`, { clear: ['id'] }],
];

let stack: TestAirlock;
let grant: OpenGrant;
let leaks: (text: string) => string[];

beforeAll(async () => {
  stack = await startTestAirlock();
  leaks = createLeakScan(await seededSensitive());
  await withAdmin(async (admin) => {
    await admin.query(`CREATE SCHEMA ${V}`);
    await admin.query(
      `CREATE VIEW ${V}.contacts AS SELECT id, name, email, phone, card_number, ssn FROM public.customers`,
    );
    await admin.query(
      `CREATE VIEW ${V}.derived AS SELECT id, upper(ssn) AS u, phone || '' AS p, left(card_number, 12) AS c FROM public.customers`,
    );
    await admin.query(`CREATE VIEW ${V}.nested AS SELECT id, u AS x, p FROM ${V}.derived`);
    await admin.query(`CREATE VIEW ${V}.docs AS SELECT c.id, row_to_json(c)::text AS doc FROM public.customers c`);
    await admin.query(
      `CREATE MATERIALIZED VIEW ${V}.mv AS SELECT id, email AS e, reverse(phone) AS r FROM public.customers`,
    );
    await admin.query(
      `CREATE FUNCTION ${V}.lookup(int) RETURNS text LANGUAGE sql STABLE AS 'SELECT phone FROM public.customers WHERE id = $1'`,
    );
    await admin.query(
      `CREATE FUNCTION ${V}.contact_rows() RETURNS TABLE (i int, e text, p text) LANGUAGE sql STABLE AS 'SELECT id, email, phone FROM public.customers'`,
    );
    await admin.query(
      `CREATE VIEW ${V}.looked_up AS SELECT g AS id, ${V}.lookup(g) AS v FROM generate_series(1, 20) AS g`,
    );
    // Statistics exist in any live database (autovacuum); make sure they do here, so pg_stats would have values to leak.
    await admin.query('ANALYZE public.customers');
  });
  grant = await openGrant(stack);
});
afterAll(async () => {
  await withAdmin((admin) => admin.query(`DROP SCHEMA IF EXISTS ${V} CASCADE`));
  await stack?.close();
});

describe(`${CASES.length} ways to read a sensitive column`, () => {
  it.each(CASES)('%s', async (_case, sql, expectation = {}) => {
    const response = await query(stack, grant.token, { sql });
    const text = JSON.stringify(response.body);
    expect(leaks(text), `${sql} → ${text.slice(0, 400)}`).toEqual([]);
    if (expectation.refused) {
      const error = expectErrorShape(response.status, text, sql);
      if (expectation.refused === 'db_error')
        expect({ status: response.status, code: error.code }).toEqual({ status: 400, code: 'db_error' });
      else
        expect({ status: response.status, code: error.code, guardrail: error.guardrail }).toEqual({
          status: 403,
          code: 'statement_blocked',
          guardrail: expectation.refused,
        });
      return;
    }
    expect(response.status, text.slice(0, 400)).toBe(200);
    if (expectation.rows === 'none') {
      expect(response.body.rows).toEqual([]);
      return;
    }
    expect(response.body.rows.length).toBeGreaterThan(0);
    const clear = new Set(expectation.clear ?? []);
    const unmasked = (response.body.columns as Array<{ name: string; masked: string | null }>).filter(
      (column) => column.masked === null && !clear.has(column.name),
    );
    expect(
      unmasked.map((column) => column.name),
      `unmasked columns of ${sql}`,
    ).toEqual([]);
  });

  it('a transaction of reads is masked statement by statement', async () => {
    const response = await query(stack, grant.token, {
      transaction: [
        { sql: `SELECT ssn || '' AS s FROM customers ${FIRST5}` },
        { sql: `SELECT id, phone, card_number FROM customers ${FIRST5}` },
      ],
    });
    expect(response.status).toBe(200);
    expect(leaks(JSON.stringify(response.body))).toEqual([]);
    expect(
      response.body.results.map((result: { columns: Array<{ masked: string | null }> }) =>
        result.columns.map((column) => column.masked),
      ),
    ).toEqual([['redact'], [null, 'hash', 'last4']]);
  });

  it('the same value through a parameter is still masked (lineage does not trust the caller’s text)', async () => {
    const response = await query(stack, grant.token, {
      sql: `SELECT $1::text || ssn AS s FROM customers ${FIRST5}`,
      params: [''],
    });
    expect(response.status).toBe(200);
    expect(leaks(JSON.stringify(response.body))).toEqual([]);
    expect(response.body.columns[0].masked).toBe('redact');
  });
});
