// describe_schema's view of a masked database, from information_schema as a read grant's role sees it: the masked
// table listed once, under its own name, with every column and the masked ones marked.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeTables } from '../../shared/masking/describe.ts';
import { type MaskingAdmin, maskingAdmin, policyWith, READ } from './support.ts';

let admin: MaskingAdmin;
beforeAll(async () => {
  admin = await maskingAdmin(policyWith());
});
afterAll(() => admin.close());

it('lists customers with all its columns, masked ones marked, and orders as it is', async () => {
  const { session } = await admin.mint(READ);
  const result = await session.query({
    text: `SELECT table_schema::text, table_name::text, column_name::text, data_type::text FROM information_schema.columns
            WHERE table_schema = 'public' OR table_schema = $1 ORDER BY table_schema, table_name, ordinal_position`,
    values: [`${admin.prefix}mask`],
    rowMode: 'array',
  });
  const rows = result.rows as Array<[string, string, string, string]>;
  const plainCustomers = rows.filter(([schema, table]) => schema === 'public' && table === 'customers');
  expect(plainCustomers.map((row) => row[2])).not.toContain('ssn');

  const tables = describeTables(rows, policyWith().masking);
  const customers = tables.filter((table) => table.table === 'customers');
  expect(customers).toHaveLength(1);
  expect(customers[0]!.schema).toBe('public');
  expect(customers[0]!.columns.map((column) => [column.name, column.sensitive])).toEqual([
    ['id', null],
    ['name', null],
    ['email', 'email'],
    ['phone', 'hash'],
    ['card_number', 'last4'],
    ['ssn', 'redact'],
    ['country', null],
    ['created_at', null],
  ]);
  expect(tables.find((table) => table.table === 'orders')?.columns.every((column) => column.sensitive === null)).toBe(
    true,
  );
});
