// The catalog's view of masking views against the real Postgres: a masking view's column is the masked table's
// column, enforced or passed on; a look-alike not owned by the masking owner is an ordinary view.
// Must never touch objects outside its own uniquely named schemas and roles.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCatalogLookup } from '../../shared/masking/catalog.ts';
import { createMaskingEnforcer } from '../../shared/masking/enforce.ts';
import { maskingNames } from '../../shared/masking/names.ts';
import type { PgClient } from '../../shared/postgres/driver.ts';
import { adminClient } from '../support/infra.ts';
import { dropMasking, dropMaskingRoles, freshPrefix, maskingKey, policyWith } from './support.ts';

const prefix = freshPrefix();
const forged = freshPrefix();
let client: PgClient;

beforeAll(async () => {
  client = await adminClient();
  await createMaskingEnforcer({ policy: policyWith(), connection: 'shop', prefix, hashKey: await maskingKey() }).ensure(
    client,
  );
  // The same names and descriptions, but the schema belongs to the admin, not to `<schema>_owner`.
  const fake = maskingNames(forged).schema;
  await client.query(`CREATE SCHEMA ${fake}`);
  await client.query(`CREATE VIEW ${fake}.customers AS SELECT id, email FROM public.customers`);
  await client.query(
    `COMMENT ON VIEW ${fake}.customers IS '{"airlock":"masking view","of":{"schema":"public","table":"customers"}}'`,
  );
  await client.query(`COMMENT ON COLUMN ${fake}.customers.email IS '{"airlock":"masked","strategy":"email"}'`);
});

afterAll(async () => {
  await client.query(`DROP SCHEMA IF EXISTS ${maskingNames(forged).schema} CASCADE`);
  await client.end();
  await dropMasking(prefix);
  await dropMaskingRoles(prefix);
});

const run = async (sql: string, params: unknown[]) =>
  (await client.query({ text: sql, values: params, rowMode: 'array' })).rows as unknown[][];

async function originsOf(sql: string) {
  const result = await client.query({ text: sql, rowMode: 'array' });
  const origins = await createCatalogLookup(run).resolve(result.fields);
  return result.fields.map((field) => origins.get(`${field.tableID}:${field.columnID}`));
}

it('maps a masking view column to the masked table’s column, with the strategy Postgres applies', async () => {
  const schema = maskingNames(prefix).schema;
  expect(await originsOf(`SELECT id, email, phone, name FROM ${schema}.customers`)).toEqual([
    [{ schema: 'public', table: 'customers', column: 'id' }],
    [{ schema: 'public', table: 'customers', column: 'email', enforced: 'email' }],
    [{ schema: 'public', table: 'customers', column: 'phone', enforced: 'hash' }],
    [{ schema: 'public', table: 'customers', column: 'name' }],
  ]);
  const [info] = await createCatalogLookup(run).relationsInfo([{ schema, name: 'customers' }]);
  expect(info).toMatchObject({ schema: 'public', name: 'customers', dependsOn: [] });
});

it('treats a look-alike view whose schema is not the masking owner’s as an ordinary view', async () => {
  const schema = maskingNames(forged).schema;
  const [, email] = await originsOf(`SELECT id, email FROM ${schema}.customers`);
  expect(email?.[0]).toEqual({ schema, table: 'customers', column: 'email' });
  expect(email?.some((origin) => origin.enforced !== undefined)).toBe(false);
});
