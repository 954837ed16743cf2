// The oracles of issue 11, tried as an attacker would through POST /v1/query on auto-approved grants: predicates,
// ordering, errors, timing, statistics, copies into unmasked places, a swapped prepared statement. Each statement
// runs on masked values or is refused by Postgres; no seeded value (nor an obvious transform of one) is in any
// response or audit event. Must never leave its tables or roles behind.

import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_ADMIN_SECRET } from '../../local/secrets.ts';
import { connectClient } from '../../shared/postgres/driver.ts';
import { derivePassword } from '../../shared/postgres/password.ts';
import { DatabaseSecret, QueryKeysSecret, readSecret, SECRET_NAMES } from '../../shared/secrets/index.ts';
import { dropMasking, dropMaskingRoles } from '../masking/support.ts';
import { AUTO_WRITE_POLICY } from '../query/fixtures.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { secrets, wire } from '../support/infra.ts';
import { editPolicy } from '../support/stack.ts';
import {
  createLeakScan,
  type OpenGrant,
  openGrant,
  query,
  type SensitiveRow,
  seededSensitive,
  statementEvents,
  withAdmin,
} from './support.ts';

const REDACTED = '[REDACTED]';
let stack: TestAirlock;
let leaks: (text: string) => string[];
let rows: SensitiveRow[];
let scratch: string;

beforeAll(async () => {
  scratch = `scratch_${randomBytes(4).toString('hex')}`;
  await withAdmin((admin) => admin.query(`CREATE TABLE public.${scratch} (id int PRIMARY KEY, v bigint, t text)`));
  await withAdmin((admin) => admin.query(`INSERT INTO public.${scratch} VALUES (1, NULL, NULL)`));
  await withAdmin((admin) => admin.query('ANALYZE public.customers'));
  stack = await startTestAirlock({ policyText: AUTO_WRITE_POLICY });
  rows = await seededSensitive();
  leaks = createLeakScan(rows);
});

afterAll(async () => {
  await stack?.close();
  await withAdmin((admin) => admin.query(`DROP TABLE IF EXISTS public.${scratch}`));
  if (stack) {
    await dropMasking(stack.rolePrefix);
    await dropMaskingRoles(stack.rolePrefix);
  }
});

/** Sends statements on one grant; nothing in any response or in the grant's audit trail may carry a raw value. */
async function attack(grant: OpenGrant, bodies: unknown[]) {
  const responses = [];
  for (const body of bodies) {
    const response = await query(stack, grant.token, body);
    expect(leaks(JSON.stringify(response.body)), JSON.stringify(body)).toEqual([]);
    responses.push(response);
  }
  const events = await statementEvents(stack, grant);
  expect(events).toHaveLength(bodies.length);
  expect(leaks(JSON.stringify(events))).toEqual([]);
  return responses;
}

const ssnOf = (id: number) => rows.find((row) => row.id === id)!.ssn;

describe('a read grant', () => {
  it('the predicate oracle on ssn and card_number learns only what the masked values show', async () => {
    const grant = await openGrant(stack);
    const bodies = [];
    for (let position = 1; position <= 9; position++)
      for (const digit of '0123456789')
        bodies.push({
          sql: `SELECT id FROM customers WHERE substr(replace(ssn, '-', ''), $1::int, 1) = $2 ORDER BY id`,
          params: [position, digit],
        });
    for (let position = 1; position <= 16; position++)
      bodies.push({
        sql: 'SELECT id FROM customers WHERE substr(card_number, $1::int, 1) = ANY($2::text[]) ORDER BY id',
        params: [position, [...'0123456789']],
      });
    const responses = await attack(grant, bodies);
    for (const response of responses.slice(0, 90)) {
      expect(response.status).toBe(200);
      expect(response.body.rows).toEqual([]);
    }
    // A card's masked form shows its length and last four digits: exactly what these answers add up to.
    for (const [index, response] of responses.slice(90).entries()) {
      const position = index + 1;
      const shown = rows
        .filter((row) => position > row.card_number.length - 4 && position <= row.card_number.length)
        .map((row) => [row.id]);
      expect(response.body.rows, `position ${position}`).toEqual(shown);
    }
  }, 300_000);

  it('ORDER BY ssn returns ids in an order that owes nothing to the raw values', async () => {
    const grant = await openGrant(stack);
    const [response] = await attack(grant, [{ sql: 'SELECT id, ssn FROM customers ORDER BY ssn, id' }]);
    expect(response!.status).toBe(200);
    const ids = response!.body.rows.map((row: unknown[]) => row[0]);
    expect(ids).toEqual([...ids].sort((a: number, b: number) => a - b));
    const bySsn = [...rows].sort((a, b) => a.ssn.localeCompare(b.ssn) || a.id - b.id).map((row) => row.id);
    expect(ids).not.toEqual(bySsn);
    expect(new Set(response!.body.rows.map((row: unknown[]) => row[1]))).toEqual(new Set([REDACTED]));
  });

  it('the division-by-zero CASE oracle is 200 for every first digit (the CASE sees [REDACTED])', async () => {
    const grant = await openGrant(stack);
    const responses = await attack(
      grant,
      [...'0123456789'].map((digit) => ({
        sql: `SELECT id FROM customers WHERE 1 / (CASE WHEN ssn LIKE $1 THEN 0 ELSE 1 END) = 1 ORDER BY id LIMIT 3`,
        params: [`${digit}%`],
      })),
    );
    for (const response of responses) {
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(response.body.rows).toEqual([[1], [2], [3]]);
    }
  });

  it('the pg_sleep timing oracle never takes the branch for the true first digit', async () => {
    const grant = await openGrant(stack);
    const truth = ssnOf(7)[0]!;
    const sql = `SELECT id FROM customers WHERE id = 7 AND CASE WHEN ssn LIKE $1 THEN (SELECT true FROM pg_sleep(0.2)) ELSE false END`;
    const [right, masked] = await attack(grant, [
      { sql, params: [`${truth}%`] },
      { sql, params: ['[%'] },
    ]);
    expect(right!.body.rows).toEqual([]);
    // The same statement does take the branch (and sleep) on what the column holds for the role: the masked form.
    expect(masked!.body.rows).toEqual([[7]]);
  });

  it.each([
    ['chr() of the digits', `SELECT chr(replace(ssn, '-', '')::int) FROM customers WHERE id = 7`],
    ['make_date', `SELECT make_date(0, replace(ssn, '-', '')::int, 1) FROM customers WHERE id = 7`],
    ['set_bit', `SELECT set_bit('\\x00'::bytea, replace(ssn, '-', '')::int, 1) FROM customers WHERE id = 7`],
    ['lo_get', `SELECT lo_get(replace(ssn, '-', '')::oid) FROM customers WHERE id = 7`],
    [
      'txid_status of the reversed card',
      `SELECT txid_status(reverse(card_number)::bigint) FROM customers WHERE id = 7`,
    ],
    [
      'the l.e.s.l.i.e. cast (every character written as a word, so the old quote check let it through)',
      `SELECT rtrim(regexp_replace(replace(email, '.', '!'), '(.)', '\\1.', 'g'), '.')::int /* a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9 ! @ - _ + */ FROM customers WHERE id = 7`,
    ],
  ])('the error oracle %s carries no value', async (_case, sql) => {
    const grant = await openGrant(stack);
    const [response] = await attack(grant, [{ sql }]);
    expect(response!.status).toBe(400);
    expect(response!.body.error.code).toBe('db_error');
    // A value spelled out with a dot after each character (its own dots written as `!`) is still the value.
    const undotted = JSON.stringify(response!.body).replaceAll('.', '').replaceAll('!', '.');
    expect(rows.filter((row) => undotted.includes(row.email))).toEqual([]);
  });

  it('pg_stats: refused through Airlock, and empty of masked columns for the grant’s role in Postgres itself', async () => {
    const grant = await openGrant(stack);
    const [response] = await attack(grant, [
      {
        sql: `SELECT attname, most_common_vals::text, histogram_bounds::text FROM pg_stats WHERE tablename = 'customers'`,
      },
    ]);
    expect([200, 403]).toContain(response!.status);
    // The database's own answer, to the role itself (no Airlock in between).
    const { roleKey } = await readSecret(secrets(), SECRET_NAMES.queryKeys, QueryKeysSecret);
    const admin = await readSecret(secrets(), LOCAL_ADMIN_SECRET, DatabaseSecret);
    const session = await connectClient(
      {
        host: admin.host,
        port: admin.port,
        database: admin.dbname,
        user: stack.roleOf(grant.id),
        password: derivePassword(roleKey, grant.id),
      },
      wire(),
    );
    try {
      const stats = await session.query(
        `SELECT attname::text, most_common_vals::text AS common, histogram_bounds::text AS bounds
           FROM pg_stats WHERE schemaname = 'public' AND tablename = 'customers'`,
      );
      const columns = stats.rows.map((row) => row.attname);
      expect(columns).toContain('country');
      for (const masked of ['email', 'phone', 'card_number', 'ssn']) expect(columns).not.toContain(masked);
      expect(leaks(JSON.stringify(stats.rows))).toEqual([]);
    } finally {
      await session.end();
    }
  });
});

describe('a write grant', () => {
  it('copying into scratch: refused on the raw column, only the masked form through the view', async () => {
    const grant = await openGrant(stack, 'write');
    const responses = await attack(grant, [
      {
        sql: `UPDATE ${scratch} SET v = (SELECT replace(ssn, '-', '')::bigint FROM public.customers WHERE id = 7) WHERE id = 1`,
      },
      {
        sql: `UPDATE ${scratch} SET v = (SELECT replace(ssn, '-', '')::bigint FROM customers WHERE id = 7) WHERE id = 1`,
      },
      { sql: `UPDATE ${scratch} SET t = (SELECT ssn || ' ' || card_number FROM customers WHERE id = 7) WHERE id = 1` },
      { sql: `INSERT INTO ${scratch} (id, t) SELECT id + 1000, email FROM public.customers` },
      { sql: `SELECT v, t FROM ${scratch} ORDER BY id` },
    ]);
    expect(responses.map((response) => [response.status, response.body.error?.sqlstate ?? null])).toEqual([
      [400, '42501'],
      [400, '22P02'],
      [200, null],
      [400, '42501'],
      [200, null],
    ]);
    expect(responses[4]!.body.rows).toEqual([
      [null, `${REDACTED} ************${rows.find((row) => row.id === 7)!.card_number.slice(-4)}`],
    ]);
  });

  it('a prepared statement swapped under the driver’s name is refused by default', async () => {
    const grant = await openGrant(stack, 'write');
    const innocent = 'UPDATE customers SET name = name WHERE id = 7 RETURNING id, name';
    const name = `airlock_${createHash('sha256').update(innocent).digest('hex').slice(0, 24)}`;
    const responses = await attack(grant, [
      { sql: innocent },
      { sql: `DEALLOCATE ${name}` },
      { sql: `PREPARE ${name} AS SELECT ssn, card_number, email, phone FROM customers WHERE id <= 5` },
    ]);
    expect(responses.map((response) => response.status)).toEqual([200, 403, 403]);
    expect(responses[1]!.body.error.guardrail).toBe('builtin:prepared-statement');
    expect(responses[2]!.body.error.guardrail).toBe('builtin:prepared-statement');
  });

  it('allowed prepared statements still read masked values only: a swap gains nothing', async () => {
    const allowing = await startTestAirlock({
      policyText: editPolicy(
        AUTO_WRITE_POLICY,
        'write: { memberOf: [pg_read_all_data, pg_write_all_data] }',
        'write: { memberOf: [pg_read_all_data, pg_write_all_data], allow: [prepared-statements] }',
      ),
    });
    try {
      const grant = await openGrant(allowing, 'write');
      const innocent = 'UPDATE customers SET name = name WHERE id = 7 RETURNING id, name';
      const name = `airlock_${createHash('sha256').update(innocent).digest('hex').slice(0, 24)}`;
      for (const body of [
        { sql: innocent },
        { sql: `DEALLOCATE ${name}` },
        { sql: `PREPARE ${name} AS SELECT ssn, card_number, email, phone FROM customers WHERE id <= 5` },
        { sql: innocent },
        { sql: `PREPARE raw_swap AS SELECT ssn FROM public.customers WHERE id <= 5` },
        { sql: 'EXECUTE raw_swap' },
      ]) {
        const response = await query(allowing, grant.token, body);
        expect(leaks(JSON.stringify(response.body)), JSON.stringify(body)).toEqual([]);
        // The innocent text answers with its own columns, or (had the swap taken) masked values.
        if (body.sql === innocent && response.status === 200 && response.body.columns[0].name === 'ssn') {
          expect(new Set(response.body.rows.map((row: unknown[]) => row[0]))).toEqual(new Set([REDACTED]));
        }
      }
      // Naming the raw column is refused by Postgres itself.
      const raw = await query(allowing, grant.token, { sql: 'EXECUTE raw_swap' });
      expect(raw.status).toBe(400);
      expect(leaks(JSON.stringify(await statementEvents(allowing, grant)))).toEqual([]);
    } finally {
      await allowing.close();
    }
  });
});
