import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import {
  adminQuery,
  expectStatementEvents,
  openGrant,
  query,
  type RawCustomer,
  rawValuesIn,
  seededCustomers,
  uniqueSchema,
} from './fixtures.ts';

// Sensitive columns of the demo policy: email → email, card_number → last4, ssn → redact, phone → hash.
const REDACTED = '[REDACTED]';
const maskedEmail = (email: string) => `${email[0]}***${email.slice(email.lastIndexOf('@'))}`;
const maskedCard = (card: string) => `${'*'.repeat(card.length - 4)}${card.slice(-4)}`;
const HASHED = /^hash:[0-9a-f]{16}$/;

let stack: TestAirlock;
let customers: Map<number, RawCustomer>;
const schema = uniqueSchema();

beforeAll(async () => {
  stack = await startTestAirlock();
  customers = new Map((await seededCustomers()).map((customer) => [customer.id, customer]));
  await adminQuery(`CREATE SCHEMA ${schema}`);
  await adminQuery(`CREATE VIEW ${schema}.contacts AS SELECT id, name, email, card_number FROM public.customers`);
});
afterAll(async () => {
  await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await stack.close();
});

/**
 * Runs one read on a fresh grant and checks what every masking test needs: 200, rows returned, no raw
 * email/phone/card/SSN of the demo data anywhere in the response, and exactly one `executed` event.
 */
async function maskedRead(sql: string) {
  const grant = await openGrant(stack);
  const response = await query(stack, grant.token, { sql });
  expect(response.status, JSON.stringify(response.body).slice(0, 300)).toBe(200);
  expect(response.body.rows.length).toBeGreaterThan(0);
  expect(await rawValuesIn(JSON.stringify(response.body))).toEqual([]);
  const [event] = await expectStatementEvents(stack, grant, ['executed']);
  const columns = response.body.columns as Array<{ name: string; type: string; masked: string | null }>;
  expect(event!.maskedColumns).toEqual(columns.filter((column) => column.masked).map((column) => column.name));
  return {
    columns,
    rows: response.body.rows as unknown[][],
    masked: (name: string) => columns.find((column) => column.name === name)?.masked,
    column: (name: string) =>
      (response.body.rows as unknown[][]).map((row) => row[columns.findIndex((column) => column.name === name)]),
  };
}

const raw = (id: unknown) => {
  const customer = customers.get(Number(id));
  if (!customer) throw new Error(`no seeded customer ${String(id)}`);
  return customer;
};

describe('masking by origin', () => {
  it('SELECT … FROM customers returns email, card number, SSN and phone masked, other columns as stored', async () => {
    const result = await maskedRead(
      'SELECT id, name, email, phone, card_number, ssn, country FROM customers ORDER BY id',
    );
    expect(result.columns).toEqual([
      { name: 'id', type: 'int4', masked: null },
      { name: 'name', type: 'text', masked: null },
      { name: 'email', type: 'text', masked: 'email' },
      { name: 'phone', type: 'text', masked: 'hash' },
      { name: 'card_number', type: 'text', masked: 'last4' },
      { name: 'ssn', type: 'text', masked: 'redact' },
      { name: 'country', type: 'text', masked: null },
    ]);
    expect(result.rows).toHaveLength(1000);
    const hashOfPhone = new Map<string, string>();
    for (const [id, name, email, phone, card, ssn] of result.rows) {
      const customer = raw(id);
      expect(name).toBe(customer.name);
      expect(email).toBe(maskedEmail(customer.email));
      expect(card).toBe(maskedCard(customer.card_number));
      expect(ssn).toBe(REDACTED);
      expect(phone).toMatch(HASHED);
      expect(hashOfPhone.get(customer.phone) ?? phone).toBe(phone);
      hashOfPhone.set(customer.phone, phone as string);
    }
    // Distinct phones stay distinct (joins and counts still work) ...
    expect(new Set(hashOfPhone.values()).size).toBe(hashOfPhone.size);
    // ... and the hash is stable across requests and grants.
    const again = await maskedRead('SELECT id, phone FROM customers WHERE id <= 25 ORDER BY id');
    for (const [id, phone] of again.rows) expect(phone).toBe(hashOfPhone.get(raw(id).phone));
  });

  it('through a column and table alias', async () => {
    const result = await maskedRead(
      'SELECT c.id, c.email AS contact, c.card_number AS pan, c.ssn AS tax_id, c.phone AS tel FROM customers AS c ORDER BY c.id',
    );
    expect(result.columns.map((column) => column.masked)).toEqual([null, 'email', 'last4', 'redact', 'hash']);
    for (const [id, contact, pan, taxId, tel] of result.rows) {
      expect(contact).toBe(maskedEmail(raw(id).email));
      expect(pan).toBe(maskedCard(raw(id).card_number));
      expect(taxId).toBe(REDACTED);
      expect(tel).toMatch(HASHED);
    }
  });

  it('through a CTE', async () => {
    const result = await maskedRead(
      'WITH c AS (SELECT id, email, card_number FROM customers) SELECT id, email, card_number FROM c ORDER BY id',
    );
    expect(result.columns.map((column) => column.masked)).toEqual([null, 'email', 'last4']);
    for (const [id, email, card] of result.rows) {
      expect(email).toBe(maskedEmail(raw(id).email));
      expect(card).toBe(maskedCard(raw(id).card_number));
    }
  });

  it('through a subquery', async () => {
    const result = await maskedRead(
      'SELECT s.id, s.e, s.k FROM (SELECT id, email AS e, card_number AS k FROM customers) AS s ORDER BY s.id',
    );
    expect(result.columns.map((column) => column.masked)).toEqual([null, 'email', 'last4']);
    for (const [id, email, card] of result.rows) {
      expect(email).toBe(maskedEmail(raw(id).email));
      expect(card).toBe(maskedCard(raw(id).card_number));
    }
  });

  it.each([
    ['a view that reads sensitive columns', `SELECT id, email, card_number FROM ${schema}.contacts ORDER BY id`],
    ['an expression over such a view', `SELECT upper(email) AS e, card_number || '' AS k FROM ${schema}.contacts`],
  ])('%s is refused by Postgres: the view would read the raw values with its owner’s rights', async (_case, sql) => {
    const grant = await openGrant(stack);
    const response = await query(stack, grant.token, { sql });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'db_error', sqlstate: '42501' });
    expect(await rawValuesIn(JSON.stringify(response.body))).toEqual([]);
    await expectStatementEvents(stack, grant, ['failed']);
  });
});

describe('masking by lineage: a column with no origin is masked whole when the statement reads a sensitive column', () => {
  it.each([
    ['lower(email)', 'SELECT id, lower(email) AS e FROM customers ORDER BY id'],
    ["email || ''", "SELECT id, email || '' AS e FROM customers ORDER BY id"],
    ['email::varchar', 'SELECT id, email::varchar AS e FROM customers ORDER BY id'],
    [
      'a scalar subquery',
      'SELECT o.id, (SELECT c.email FROM customers c WHERE c.id = o.customer_id) AS e FROM orders o WHERE o.id <= 1000 ORDER BY o.id',
    ],
  ])('%s', async (_case, sql) => {
    const result = await maskedRead(sql);
    expect(result.columns).toEqual([
      { name: 'id', type: 'int4', masked: null },
      { name: 'e', type: expect.any(String), masked: 'redact' },
    ]);
    expect(result.rows).toHaveLength(1000);
    expect(new Set(result.column('e'))).toEqual(new Set([REDACTED]));
  });

  it('row_to_json(c)', async () => {
    const result = await maskedRead('SELECT row_to_json(c) AS doc FROM customers c ORDER BY c.id');
    expect(result.columns).toEqual([{ name: 'doc', type: 'json', masked: 'redact' }]);
    expect(result.rows).toHaveLength(1000);
    expect(new Set(result.rows.flat())).toEqual(new Set([REDACTED]));
  });

  it('json_agg(c)', async () => {
    const result = await maskedRead('SELECT json_agg(c) AS docs FROM customers c');
    expect(result.columns).toEqual([{ name: 'docs', type: 'json', masked: 'redact' }]);
    expect(result.rows).toEqual([[REDACTED]]);
  });

  it('a UNION', async () => {
    const result = await maskedRead(
      'SELECT email AS v FROM customers WHERE id <= 400 UNION SELECT ssn FROM customers WHERE id <= 400',
    );
    expect(result.columns).toEqual([{ name: 'v', type: 'text', masked: 'redact' }]);
    // UNION removes duplicates among what Postgres returns: the masked emails and the one redacted SSN.
    const distinct = new Set([...customers.values()].filter((c) => c.id <= 400).map((c) => maskedEmail(c.email)));
    expect(result.rows).toHaveLength(distinct.size + 1);
    expect(new Set(result.rows.flat())).toEqual(new Set([REDACTED]));
  });

  it('columns renamed by an alias list (`customers AS c(i, n, e, p)`) are read through the whole row', async () => {
    const result = await maskedRead("SELECT p || '' AS tel, k AS pan FROM customers AS c(i, n, e, p, k) ORDER BY i");
    expect(result.columns.map((column) => column.masked)).toEqual(['redact', 'last4']);
    expect(new Set(result.column('tel'))).toEqual(new Set([REDACTED]));
  });
});

describe('masking holds outside the rows', () => {
  it.each([
    ['a cast error', 'SELECT email::int FROM customers ORDER BY id', '22P02'],
    ['a lookup by a value', 'SELECT phone::regclass FROM customers ORDER BY id', '42P01'],
    // Postgres parses the masked SSN, `[REDACTED]`: an invalid format rather than an out-of-range date.
    ['a date parse', "SELECT to_date(ssn, 'YYYY-MM-DD') FROM customers ORDER BY id", '22007'],
  ])(
    'a Postgres error on a masked table gives its SQLSTATE and a fixed message, never the server text (%s)',
    async (_case, sql, sqlstate) => {
      const grant = await openGrant(stack);
      const response = await query(stack, grant.token, { sql });
      expect(response.status).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'db_error', sqlstate });
      expect(response.body.error.message).toContain(`SQLSTATE ${sqlstate}; the server's own message is withheld`);
      expect(await rawValuesIn(JSON.stringify(response.body))).toEqual([]);
      const [event] = await expectStatementEvents(stack, grant, ['failed']);
      expect(event!.error).toMatchObject({ code: 'db_error', sqlstate });
    },
  );

  it('a Postgres error about what the agent wrote keeps its words', async () => {
    const grant = await openGrant(stack);
    const typo = await query(stack, grant.token, { sql: 'SELECT emial FROM customers' });
    expect(typo.status).toBe(400);
    expect(typo.body.error).toMatchObject({ code: 'db_error', sqlstate: '42703' });
    expect(typo.body.error.message).toContain('"emial"');
    // On a table without masked columns, Postgres's text is kept where it quotes only what the agent sent.
    const param = await query(stack, grant.token, {
      sql: 'SELECT status FROM orders WHERE id = $1',
      params: ['5 OR 1=1'],
    });
    expect(param.body.error).toMatchObject({ code: 'db_error', sqlstate: '22P02' });
    expect(param.body.error.message).toContain('"5 OR 1=1"');
    // On a masked table the server's text is withheld, whatever it quotes.
    const masked = await query(stack, grant.token, {
      sql: 'SELECT name FROM customers WHERE id = $1',
      params: ['5 OR 1=1'],
    });
    expect(masked.body.error).toMatchObject({ code: 'db_error', sqlstate: '22P02' });
    expect(masked.body.error.message).not.toContain('5 OR 1=1');
    await expectStatementEvents(stack, grant, ['failed', 'failed', 'failed']);
  });

  it('a function that runs a query given as text (ts_stat) is refused: its rows would escape masking', async () => {
    const grant = await openGrant(stack);
    const response = await query(stack, grant.token, {
      sql: "SELECT * FROM ts_stat('SELECT to_tsvector(''simple'', phone) FROM customers')",
    });
    expect(response.status).toBe(403);
    expect(response.body.error).toMatchObject({ code: 'statement_blocked', guardrail: 'builtin:function' });
    await expectStatementEvents(stack, grant, ['blocked']);
  });
});
