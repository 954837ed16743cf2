// Logged SQL without values hidden in identifiers, and fingerprints for text the parser rejects: the pure
// pieces the query path calls (see the report for where), checked against the real demo database's catalog.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgClient } from '../../shared/postgres/driver.ts';
import { catalogResolver, redactUnresolvedIdentifiers, textFingerprint } from '../../shared/sql/identifiers.ts';
import { parseOne } from '../../shared/sql/parse.ts';
import { adminClient } from '../support/infra.ts';

let admin: PgClient;
let resolve: ReturnType<typeof catalogResolver>;

beforeAll(async () => {
  admin = await adminClient();
  resolve = catalogResolver(
    async (sql, params) => (await admin.query({ text: sql, values: params, rowMode: 'array' })).rows,
  );
});
afterAll(async () => {
  await admin.end();
});

const logged = async (sql: string) => redactUnresolvedIdentifiers((await parseOne(sql)).normalizedSql, resolve);

describe('identifiers that name nothing are redacted like literals', () => {
  it('a value written in double quotes becomes $n, after the literals', async () => {
    const sql = `SELECT name FROM customers WHERE country = 'PT' AND ssn = "342-61-1387"`;
    expect((await parseOne(sql)).normalizedSql).toContain('342-61-1387');
    expect(await logged(sql)).toBe('SELECT name FROM customers WHERE country = $1 AND ssn = $2');
  });

  it('keeps what is real or declared: tables, columns, schemas, functions, aliases, CTEs, quoted real names', async () => {
    expect(
      await logged(
        `WITH recent AS (SELECT c.id, c.email AS contact FROM public.customers c) SELECT "contact", upper(r.contact) FROM recent r(id, contact) WHERE r.id = 1`,
      ),
    ).toBe(
      'WITH recent AS (SELECT c.id, c.email AS contact FROM public.customers c) SELECT "contact", upper(r.contact) FROM recent r(id, contact) WHERE r.id = $1',
    );
  });

  it('redacts a bare word that is no object, and a quoted name with a different case', async () => {
    expect(await logged('SELECT id FROM customers WHERE name = alice')).toBe(
      'SELECT id FROM customers WHERE name = $1',
    );
    expect(await logged('SELECT "Email" FROM customers')).toBe('SELECT $1 FROM customers');
  });

  it('redacts everything unconfirmed when the resolver confirms nothing', async () => {
    const none = async () => new Set<string>();
    expect(await redactUnresolvedIdentifiers('SELECT a FROM t x WHERE x.b = "v"', none)).toBe(
      'SELECT $1 FROM $2 x WHERE x.$3 = $4',
    );
    // Without a catalog (a statement refused before the database saw it): only quoted names are judged.
    expect(await redactUnresolvedIdentifiers('SELECT a FROM t x WHERE x.b = "v"', none, { quotedOnly: true })).toBe(
      'SELECT a FROM t x WHERE x.b = $1',
    );
  });
});

describe('text fingerprints', () => {
  it('are 16 hex digits, the same for the same text and key, different otherwise', () => {
    const key = 'k'.repeat(32);
    const a = textFingerprint('SELEC 1; DROP TABLE t', key);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(textFingerprint('SELEC 1; DROP TABLE t', key)).toBe(a);
    expect(textFingerprint('SELEC 1; DROP TABLE u', key)).not.toBe(a);
    expect(textFingerprint('SELEC 1; DROP TABLE t', 'x'.repeat(32))).not.toBe(a);
  });
});
