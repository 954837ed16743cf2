// Error messages of statements that read a masked table: the SQLSTATE and a fixed sentence, never the server's text.
// The error oracles of issue 11 are run as the admin (who reads raw values) so that the server's text really
// carries them; the message the agent would get must not.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedDatabaseMessage, maskDatabaseMessage, touchesMaskedTable } from '../../shared/masking/message.ts';
import type { Policy } from '../../shared/policy/schema.ts';
import type { PgClient } from '../../shared/postgres/driver.ts';
import { rawValuesIn } from '../query/fixtures.ts';
import { adminClient } from '../support/infra.ts';

const masking: Pick<Policy['masking'], 'columns'> = {
  columns: [
    { column: 'public.customers.ssn', strategy: 'redact' },
    { column: 'public.customers.card_number', strategy: 'last4' },
    { column: 'public.customers.email', strategy: 'email' },
  ],
};

describe('touchesMaskedTable', () => {
  it.each([
    [[{ schema: null, name: 'customers' }], true],
    [[{ schema: 'public', name: 'Customers' }], true],
    [[{ schema: 'sales', name: 'customers' }], false],
    [[{ schema: null, name: 'orders' }], false],
    [[{ schema: 'airlock_mask', name: 'anything' }], true],
    [[{ schema: 'airlock_t1_mask', name: 'customers' }], true],
    [[], false],
  ] as const)('%j → %s', (relations, expected) => {
    expect(touchesMaskedTable(relations, masking)).toBe(expected);
  });
});

describe('fixedDatabaseMessage', () => {
  it('names the SQLSTATE and says what kind of error it is, by code or else by class', () => {
    expect(fixedDatabaseMessage('22012')).toMatch(/^division by zero \(SQLSTATE 22012;/);
    expect(fixedDatabaseMessage('22P05')).toMatch(/^invalid data \(SQLSTATE 22P05;/);
    expect(fixedDatabaseMessage('42501')).toMatch(/^permission denied: a masked column can only be read/);
    expect(fixedDatabaseMessage('ZZ999')).toMatch(/^the statement failed \(SQLSTATE ZZ999;/);
  });
});

describe('maskDatabaseMessage', () => {
  const context = { positioned: false, sql: ['SELECT x'], params: [], detectors: [] as const };

  it('keeps its old behaviour when the caller does not say the statement reads a masked table', () => {
    expect(maskDatabaseMessage('invalid input syntax for type integer: "x"', { ...context, sqlstate: '22P02' })).toBe(
      'invalid input syntax for type integer: "x"',
    );
    expect(maskDatabaseMessage('invalid input syntax for type integer: "secret"', context)).toBe(
      'invalid input syntax for type integer: "…"',
    );
  });

  it('keeps a positioned message (parse analysis speaks of the text, before any row is read)', () => {
    const message = 'column "emial" does not exist';
    expect(maskDatabaseMessage(message, { ...context, positioned: true, touchesMasked: true, sqlstate: '42703' })).toBe(
      message,
    );
  });

  describe('the error oracles of issue 11, as raised by Postgres on raw values', () => {
    let admin: PgClient;
    beforeAll(async () => {
      admin = await adminClient();
    });
    afterAll(() => admin.end());

    it.each([
      `SELECT chr(replace(ssn, '-', '')::int) FROM public.customers WHERE id = 7`,
      `SELECT make_date(0, substr(replace(ssn, '-', ''), 1, 3)::int, 1) FROM public.customers WHERE id = 7`,
      `SELECT set_bit('\\x00'::bytea, replace(ssn, '-', '')::int, 1) FROM public.customers WHERE id = 7`,
      `SELECT lo_get(replace(ssn, '-', '')::oid) FROM public.customers WHERE id = 7`,
      `SELECT txid_status(reverse(card_number)::bigint) FROM public.customers WHERE id = 7`,
      `SELECT regexp_replace(email, '(.)', '\\1.', 'g')::int FROM public.customers WHERE id = 7`,
      `SELECT ssn::int FROM public.customers WHERE id = 7`,
    ])('%s', async (sql) => {
      const error = await admin.query(sql).then(
        () => undefined,
        (reason: unknown) => reason as { message: string; code: string; position?: string },
      );
      expect(error, 'the oracle must fail as the admin').toBeDefined();
      const masked = maskDatabaseMessage(error!.message, {
        positioned: typeof error!.position === 'string',
        sql: [sql],
        params: [],
        detectors: [],
        sqlstate: error!.code,
        touchesMasked: touchesMaskedTable([{ schema: 'public', name: 'customers' }], masking),
      });
      expect(masked).toBe(fixedDatabaseMessage(error!.code));
      expect(error!.message).not.toBe(masked);
      expect(await rawValuesIn(masked)).toEqual([]);
    });
  });
});
