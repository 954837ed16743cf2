// The server must read a statement exactly as the parser did. With standard_conforming_strings off,
// Postgres reads '\'' as an escaped quote, so text the parser saw as one SELECT could hide a second
// statement. Each layer is checked on its own: the guard refuses changing the setting; and even when a
// session starts with it off (set here by the admin, as no grant can), nothing hidden runs.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { closeClient } from '../../shared/postgres/driver.ts';
import { AUTO_WRITE_POLICY, openGrant, query } from '../query/fixtures.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { adminClient } from '../support/infra.ts';

let stack: TestAirlock;
const schema = `lex_${randomBytes(4).toString('hex')}`;

async function admin<T>(work: (client: Awaited<ReturnType<typeof adminClient>>) => Promise<T>): Promise<T> {
  const client = await adminClient();
  try {
    return await work(client);
  } finally {
    await closeClient(client);
  }
}
const victims = () =>
  admin(async (c) => (await c.query(`SELECT count(*)::int AS n FROM "${schema}".victims`)).rows[0].n as number);

beforeAll(async () => {
  stack = await startTestAirlock({ policyText: AUTO_WRITE_POLICY });
  await admin((c) =>
    c.query(
      `CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".victims AS SELECT g AS id FROM generate_series(1, 3) g`,
    ),
  );
});
afterAll(async () => {
  await admin((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
  await stack.close();
});

const hidden = () => `SELECT '\\' AS x, '; DELETE FROM "${schema}".victims; --' AS y`;

it('refuses changing standard_conforming_strings through pg_settings (builtin:set)', async () => {
  const grant = await openGrant(stack, { access: 'write' });
  const response = await query(stack, grant.token, {
    transaction: [
      { sql: "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'" },
      { sql: hidden() },
    ],
  });
  expect(response.status).toBe(403);
  expect(response.body.error).toMatchObject({ code: 'statement_blocked', guardrail: 'builtin:set' });
  expect(await victims()).toBe(3);
});

it('runs nothing hidden even in a session that starts with standard_conforming_strings off', async () => {
  const grant = await openGrant(stack, { access: 'write' });
  await admin((c) => c.query(`ALTER ROLE "${stack.roleOf(grant.id)}" SET standard_conforming_strings = off`));
  for (const sql of [hidden(), `${hidden()} LIMIT 1`]) {
    const response = await query(stack, grant.token, { sql });
    // The parser's reading is the one that runs (one SELECT of two strings), or Postgres refuses it.
    expect([200, 400]).toContain(response.status);
    if (response.status === 200) expect(response.body.rows[0]).toEqual(['\\', `; DELETE FROM "${schema}".victims; --`]);
  }
  expect(await victims()).toBe(3);
});
