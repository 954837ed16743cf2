// The catalog lookup against the real local Postgres: origins through aliases and views, caching, and a
// plan built from real RowDescriptions. Must never touch objects outside its own uniquely named schema
// (the demo tables are only read).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CatalogQuery, createCatalogLookup } from '../../shared/masking/catalog.ts';
import { applyMaskingPlan, buildMaskingPlan, type ColumnOrigin, type ResultField } from '../../shared/masking/plan.ts';
import { REDACTED } from '../../shared/masking/strategies.ts';
import type { Policy } from '../../shared/policy/schema.ts';
import type { PgClient } from '../../shared/postgres/driver.ts';
import { adminClient, uniqueName } from '../support/infra.ts';

let client: PgClient;
const schema = uniqueName('masking').replace('-', '_');

beforeAll(async () => {
  client = await adminClient();
  await client.query(`
    CREATE SCHEMA ${schema};
    CREATE TABLE ${schema}.people (id int, name text, email text, secret text);
    CREATE TABLE ${schema}.other (id int, email text);
    CREATE VIEW ${schema}.v_public AS SELECT id, name FROM ${schema}.people;
    CREATE VIEW ${schema}.v_contact AS SELECT id, name AS label, email FROM ${schema}.people;
    CREATE VIEW ${schema}.v_nested AS SELECT id, upper(label) AS shout FROM ${schema}.v_contact;
    CREATE VIEW ${schema}.v_whole AS SELECT row_to_json(p) AS doc FROM ${schema}.people p;
    CREATE VIEW ${schema}.v_filter AS SELECT id FROM ${schema}.people WHERE secret IS NOT NULL;
    CREATE MATERIALIZED VIEW ${schema}.m_secret AS SELECT id, secret FROM ${schema}.people;
    CREATE VIEW ${schema}.v_on_matview AS SELECT id FROM ${schema}.m_secret;
    INSERT INTO ${schema}.people VALUES (1, 'Ada', 'ada@example.com', 's3cr3t');`);
});

afterAll(async () => {
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

const run: CatalogQuery = async (sql, params) =>
  (await client.query({ text: sql, values: params, rowMode: 'array' })).rows as unknown[][];

async function fieldsOf(sql: string): Promise<ResultField[]> {
  const result = await client.query({ text: sql, rowMode: 'array' });
  return result.fields.map((field) => ({
    name: field.name,
    tableID: field.tableID,
    columnID: field.columnID,
    dataTypeID: field.dataTypeID,
  }));
}

async function originsOf(sql: string, lookup = createCatalogLookup(run)): Promise<ColumnOrigin[][]> {
  const fields = await fieldsOf(sql);
  const origins = await lookup.resolve(fields);
  return fields.map((field) => origins.get(`${field.tableID}:${field.columnID}`) ?? []);
}

const people = (column: string, via?: string): ColumnOrigin => ({
  schema,
  table: 'people',
  column,
  ...(via ? { via: `${schema}.${via}` } : {}),
});
const sorted = (origins: ColumnOrigin[] | undefined) =>
  [...(origins ?? [])].sort((a, b) => `${a.table}.${a.column}`.localeCompare(`${b.table}.${b.column}`));

describe('resolve', () => {
  it('follows aliases, subqueries and CTEs to the table column', async () => {
    const [email, name, id] = await originsOf(
      `WITH x AS (SELECT email AS e, id FROM ${schema}.people) SELECT x.e AS contact, s.n, x.id FROM x, (SELECT name AS n FROM ${schema}.people p) s`,
    );
    expect(email).toEqual([people('email')]);
    expect(name).toEqual([people('name')]);
    expect(id).toEqual([people('id')]);
  });

  it('gives an expression no origin', async () => {
    expect(await originsOf(`SELECT upper(email), 1 FROM ${schema}.people`)).toEqual([[], []]);
  });

  it('gives a view column itself plus every base column the view reads', async () => {
    const [id, label, email] = await originsOf(`SELECT * FROM ${schema}.v_contact`);
    expect(email?.[0]).toEqual({ schema, table: 'v_contact', column: 'email' });
    expect(label?.[0]).toEqual({ schema, table: 'v_contact', column: 'label' });
    expect(sorted(id?.slice(1))).toEqual([
      people('email', 'v_contact'),
      people('id', 'v_contact'),
      people('name', 'v_contact'),
    ]);
  });

  it('follows nested views and materialized views to base tables', async () => {
    const [, shout] = await originsOf(`SELECT * FROM ${schema}.v_nested`);
    expect(sorted(shout?.slice(1))).toEqual([
      people('email', 'v_nested'),
      people('id', 'v_nested'),
      people('name', 'v_nested'),
    ]);
    const [onMatview] = await originsOf(`SELECT * FROM ${schema}.v_on_matview`);
    expect(sorted(onMatview?.slice(1))).toEqual([people('id', 'v_on_matview'), people('secret', 'v_on_matview')]);
  });

  it('counts columns used only in a view’s WHERE, and every column of a whole-row reference', async () => {
    const [filtered] = await originsOf(`SELECT * FROM ${schema}.v_filter`);
    expect(sorted(filtered?.slice(1))).toEqual([people('id', 'v_filter'), people('secret', 'v_filter')]);
    const [doc] = await originsOf(`SELECT * FROM ${schema}.v_whole`);
    expect(sorted(doc?.slice(1)).map((origin) => origin.column)).toEqual(['email', 'id', 'name', 'secret']);
  });

  it('does not count columns a view does not read', async () => {
    const [id] = await originsOf(`SELECT * FROM ${schema}.v_public`);
    expect(sorted(id?.slice(1))).toEqual([people('id', 'v_public'), people('name', 'v_public')]);
  });

  it('answers [] for an OID or column it cannot find', async () => {
    const origins = await createCatalogLookup(run).resolve([
      { tableID: 4_000_000_000, columnID: 1 },
      { tableID: 1259, columnID: 999 },
    ]);
    expect(origins.get('4000000000:1')).toEqual([]);
    expect(origins.get('1259:999')).toEqual([]);
  });
});

describe('relationsInfo', () => {
  it('finds relations by name, in any schema when none is written', async () => {
    const info = await createCatalogLookup(run).relationsInfo([
      { schema, name: 'people' },
      { schema: null, name: 'v_contact' },
      { schema: null, name: 'no_such_relation' },
      { schema: 'public', name: 'people' },
    ]);
    expect(info.map((relation) => relation.name).sort()).toEqual(['people', 'v_contact']);
    const view = info.find((relation) => relation.name === 'v_contact');
    expect(view?.schema).toBe(schema);
    expect(view?.columns).toEqual(['id', 'label', 'email']);
    expect(sorted(view?.dependsOn).map((origin) => origin.column)).toEqual(['email', 'id', 'name']);
    expect(info.find((relation) => relation.name === 'people')?.dependsOn).toEqual([]);
  });

  it('binds names as parameters', async () => {
    const info = await createCatalogLookup(run).relationsInfo([
      { schema: null, name: `people'; DROP SCHEMA ${schema} CASCADE; --` },
    ]);
    expect(info).toEqual([]);
    expect(await originsOf(`SELECT email FROM ${schema}.people`)).toEqual([[people('email')]]);
  });
});

describe('cache', () => {
  it('asks Postgres once per relation until the TTL has passed', async () => {
    let queries = 0;
    let clock = new Date('2030-01-01T00:00:00Z');
    const counting: CatalogQuery = (sql, params) => {
      queries++;
      return run(sql, params);
    };
    const lookup = createCatalogLookup(counting, { cacheTtlMs: 1000, now: () => clock });
    const fields = await fieldsOf(`SELECT email FROM ${schema}.people`);
    await lookup.resolve(fields);
    expect(queries).toBe(1);
    await lookup.resolve(fields);
    await lookup.relationsInfo([{ schema, name: 'people' }]);
    await lookup.relationsInfo([{ schema, name: 'people' }]);
    expect(queries).toBe(2);
    clock = new Date(clock.getTime() + 1001);
    await lookup.resolve(fields);
    expect(queries).toBe(3);
  });

  it('passes runner failures on', async () => {
    const lookup = createCatalogLookup(() => Promise.reject(new Error('socket closed')));
    await expect(lookup.resolve([{ tableID: 1259, columnID: 1 }])).rejects.toThrow('socket closed');
  });
});

describe('a plan from real result columns', () => {
  const masking: Policy['masking'] = {
    columns: [
      { column: 'public.customers.email', strategy: 'email' },
      { column: 'public.customers.card_number', strategy: 'last4' },
      { column: 'public.customers.ssn', strategy: 'redact' },
      { column: 'public.customers.phone', strategy: 'hash' },
    ],
    detectors: ['email', 'credit_card', 'us_ssn'],
  };

  it('masks the demo customers by origin and lineage', async () => {
    const sql = `SELECT c.email AS contact, c.name, upper(c.ssn) AS s, c.card_number, row_to_json(c) AS doc FROM customers c ORDER BY c.id LIMIT 2`;
    const result = await client.query({ text: sql, rowMode: 'array' });
    const fields = result.fields.map((field) => ({
      name: field.name,
      tableID: field.tableID,
      columnID: field.columnID,
      dataTypeID: field.dataTypeID,
    }));
    const plan = await buildMaskingPlan({
      fields,
      statement: {
        relations: [{ schema: null, name: 'customers' }],
        columns: ['email', 'name', 'ssn', 'card_number'].map((name) => ({ table: 'c', name })),
        wholeRowRefs: ['c'],
      },
      masking,
      catalog: createCatalogLookup(run),
    });
    expect(plan.columns.map((column) => [column.name, column.strategy, column.reason])).toEqual([
      ['contact', 'email', 'origin'],
      ['name', null, 'none'],
      ['s', 'redact', 'lineage'],
      ['card_number', 'last4', 'origin'],
      ['doc', 'redact', 'lineage'],
    ]);
    const rows = applyMaskingPlan(plan, result.rows as unknown[][], {
      hashKey: 'catalog-test-hash-key',
      detectors: masking.detectors,
    });
    for (const [contact, name, ssn, card, doc] of rows) {
      expect(contact).toMatch(/^.\*\*\*@/);
      expect(typeof name).toBe('string');
      expect([ssn, doc]).toEqual([REDACTED, REDACTED]);
      expect(card).toMatch(/^\*{11,12}\d{4}$/);
    }
  });
});
