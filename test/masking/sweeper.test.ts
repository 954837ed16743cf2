// Upkeep by the sweeper: a table created while grants are live becomes readable through them once the sweeper has
// run, without a new grant. Must never leave its table, roles or masking schema behind.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openGrant, query } from '../query/fixtures.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { dropMasking, dropMaskingRoles, withAdmin } from './support.ts';

const table = `swept_${randomBytes(4).toString('hex')}`;
let stack: TestAirlock;

beforeAll(async () => {
  stack = await startTestAirlock();
});
afterAll(async () => {
  await stack.close();
  await withAdmin((client) => client.query(`DROP TABLE IF EXISTS public.${table}`));
  await dropMasking(stack.rolePrefix);
  await dropMaskingRoles(stack.rolePrefix);
});

it('a table created after a grant is readable through it once the sweeper has run', async () => {
  const grant = await openGrant(stack);
  await withAdmin((client) =>
    client.query(`CREATE TABLE public.${table} (id int); INSERT INTO public.${table} VALUES (1)`),
  );
  const before = await query(stack, grant.token, { sql: `SELECT id FROM ${table}` });
  expect(before.status).toBe(400);
  expect(before.body.error).toMatchObject({ code: 'db_error', sqlstate: '42501' });
  const report = await stack.airlock.sweep();
  expect(report.errors).toBe(0);
  const after = await query(stack, grant.token, { sql: `SELECT id FROM ${table}` });
  expect(after.status, JSON.stringify(after.body)).toBe(200);
  expect(after.body.rows).toEqual([[1]]);
});
