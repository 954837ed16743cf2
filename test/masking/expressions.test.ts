// The strategies as Postgres computes them (expressions.ts) against the strategies as Node computes them
// (strategies.ts), value by value: the masking views must return exactly what output masking returned.
// Must never touch objects outside its own uniquely named schema.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKeyPads, maskExpression } from '../../shared/masking/expressions.ts';
import { createStrategy, REDACTED } from '../../shared/masking/strategies.ts';
import { MASK_STRATEGIES, type MaskStrategy } from '../../shared/policy/schema.ts';
import type { PgClient } from '../../shared/postgres/driver.ts';
import { quoteIdent } from '../../shared/postgres/quote.ts';
import { adminClient, uniqueName } from '../support/infra.ts';

let client: PgClient;
const schema = uniqueName('masksql').replace('-', '_');
const keyTable = `${quoteIdent(schema)}.hash_key`;

const EMAILS = [
  'alice@example.com',
  'a@b.co',
  'Bob.Smith+tag@mail.example.org',
  'ünïcødé@exämple.org',
  '名前@例え.jp',
  'ß@straße.de',
  '𝒜𝒷@x.io',
  '٣@١.٢',
  'Ⅷ@x.yz',
  `${'x'.repeat(64)}@a.bc`,
  `${'x'.repeat(65)}@a.bc`,
  "o'hara@x.ie",
  'a b@c.de',
  'a@b..cd',
  'a@-b.cd',
  'a@b-.cd',
  'a@b.cd-',
  'a@b.c',
  'a@b',
  '@b.co',
  'a@',
  'a@@b.co',
  'a@b.co@d.ef',
  'a@b.co\n',
  'a\n@b.co',
  '\ta@b.co',
  ' a@b.co',
  'a@b.co ',
  'a@b_c.de',
  '😀@x.yz',
  'a😀@x.yz',
  'a@x😀.yz',
  'ａ@ｂ.ｃｏ',
  'é@x.yz',
  'e\u0301@x.yz',
  'a"b@c.de',
  'a\\b@c.de',
  'a]b@c.de',
  'a^b@c.de',
  '.@b.co',
  'a-@b.co',
  'not an address',
  '',
  'a',
];
const OTHERS = [
  '4242424242424242',
  '4242 4242 4242 4242',
  '123-45-6789',
  '+1 (415) 555-2671',
  'abcd',
  'abcde',
  'abc',
  '😀😀😀😀😀',
  'ab😀cd😀',
  '𝒜𝒷𝒸𝒹𝑒𝒻',
  '   ',
  'x'.repeat(5000),
  'line\nbreak',
  'quote \' and " and \\',
];

/** Random short strings over an alphabet that hits every branch of the email pattern. */
function fuzz(count: number): string[] {
  const alphabet = [
    'a',
    'Z',
    '0',
    '9',
    '@',
    '.',
    '-',
    '_',
    '+',
    'ü',
    '名',
    '😀',
    '١',
    ' ',
    '~',
    '!',
    'ａ',
    'Ⅷ',
    '\u0301',
  ];
  const values: string[] = [];
  for (let i = 0; i < count; i++) {
    const chars: string[] = [];
    const length = randomBytes(1)[0]! % 12;
    for (let j = 0; j < length; j++) chars.push(alphabet[randomBytes(1)[0]! % alphabet.length]!);
    // Split by characters, never inside a surrogate pair: Postgres text holds no lone surrogate.
    values.push(i % 2 === 0 ? `${chars.slice(0, 4).join('')}@${chars.slice(4).join('')}.co` : chars.join(''));
  }
  return values;
}

const VALUES = [...EMAILS, ...OTHERS, ...fuzz(2000)];

beforeAll(async () => {
  client = await adminClient();
  await client.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
  await client.query(`CREATE TABLE ${keyTable} (ipad bytea NOT NULL, opad bytea NOT NULL)`);
  await client.query(
    `CREATE TABLE ${quoteIdent(schema)}.cells (id int PRIMARY KEY, t text, v varchar(6000), c char(8), i int4, b int8, n numeric, f boolean, ts timestamptz, by bytea)`,
  );
});

afterAll(async () => {
  await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
  await client.end();
});

async function useKey(hashKey: string | Uint8Array): Promise<void> {
  const pads = hashKeyPads(hashKey);
  await client.query(`DELETE FROM ${keyTable}`);
  await client.query(`INSERT INTO ${keyTable} (ipad, opad) VALUES ($1, $2)`, [pads.ipad, pads.opad]);
}

/** Each value masked by Postgres (the expression over a text column) and by Node, side by side. */
async function bothWays(strategy: MaskStrategy, values: Array<string | null>, hashKey: string | Uint8Array) {
  const expression = maskExpression(strategy, { ref: 'v', typeOid: 25 }, { table: keyTable });
  const result = await client.query({
    text: `SELECT ord, ${expression} FROM unnest($1::text[]) WITH ORDINALITY AS u(v, ord) ORDER BY ord`,
    values: [values],
    rowMode: 'array',
  });
  const mask = createStrategy(strategy, { hashKey });
  return (result.rows as unknown[][]).map((row) => {
    const value = values[Number(row[0]) - 1] ?? null;
    return { value, sql: row[1], js: mask(value) };
  });
}

describe('Postgres masks exactly as Node does', () => {
  const hashKey = randomBytes(24).toString('base64url');
  beforeAll(() => useKey(hashKey));

  it.each(MASK_STRATEGIES)('%s: addresses, non-addresses, unicode, empty, short, long, random', async (strategy) => {
    const pairs = await bothWays(strategy, [...VALUES, null], hashKey);
    const different = pairs.filter((pair) => pair.sql !== pair.js);
    expect(different).toEqual([]);
    expect(pairs).toHaveLength(VALUES.length + 1);
    expect(pairs.at(-1)).toEqual({ value: null, sql: null, js: null });
  });

  it('the email strategy keeps the first character and the domain of an address, and nothing of anything else', async () => {
    const pairs = await bothWays('email', EMAILS, hashKey);
    const byValue = new Map(pairs.map((pair) => [pair.value, pair.sql]));
    expect(byValue.get('alice@example.com')).toBe('a***@example.com');
    expect(byValue.get('名前@例え.jp')).toBe('名***@例え.jp');
    expect(byValue.get('𝒜𝒷@x.io')).toBe('𝒜***@x.io');
    for (const odd of ['a b@c.de', 'a@b', 'a@b.co@d.ef', 'a@b.co\n', '😀@x.yz', 'not an address', ''])
      expect(byValue.get(odd), JSON.stringify(odd)).toBe(REDACTED);
  });

  it('the hash strategy is the keyed HMAC for keys longer than a block and keys given as bytes', async () => {
    for (const key of ['k'.repeat(100), 'ключ-ключ-ключ-ключ-ключ', randomBytes(32)]) {
      await useKey(key);
      const pairs = await bothWays('hash', [...OTHERS, ...EMAILS], key);
      expect(pairs.filter((pair) => pair.sql !== pair.js)).toEqual([]);
    }
    await useKey(hashKey);
  });
});

describe('columns that are not text', () => {
  it('are masked from the text Node masked them from (integers, numeric, booleans, bytes, char(n), timestamptz)', async () => {
    const hashKey = randomBytes(24).toString('hex');
    await useKey(hashKey);
    await client.query(`DELETE FROM ${quoteIdent(schema)}.cells`);
    await client.query(
      `INSERT INTO ${quoteIdent(schema)}.cells VALUES
        (1, 'text', 'varchar text', 'ab', 42, 9007199254740993, 12345.6789, true, '2024-02-29 23:59:58.123456+02', '\\x00ff10'),
        (2, '', '', '', -7, -1, 0.1, false, '1999-12-31 00:00:00+00', '\\x'),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
    );
    const types = await client.query({
      text: `SELECT attname::text, atttypid::int8 FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 1 ORDER BY attnum`,
      values: [`${quoteIdent(schema)}.cells`],
      rowMode: 'array',
    });
    const columns = (types.rows as Array<[string, string]>).map(([name, oid]) => ({ name, oid: Number(oid) }));
    const raw = await client.query({
      text: `SELECT ${columns.map((column) => quoteIdent(column.name)).join(', ')} FROM ${quoteIdent(schema)}.cells ORDER BY id`,
      rowMode: 'array',
    });
    for (const strategy of MASK_STRATEGIES) {
      const masked = await client.query({
        text: `SELECT ${columns
          .map((column) =>
            maskExpression(strategy, { ref: quoteIdent(column.name), typeOid: column.oid }, { table: keyTable }),
          )
          .join(', ')} FROM ${quoteIdent(schema)}.cells ORDER BY id`,
        rowMode: 'array',
      });
      const mask = createStrategy(strategy, { hashKey });
      const fromNode = (raw.rows as unknown[][]).map((row) => row.map((value) => mask(value)));
      expect(masked.rows, strategy).toEqual(fromNode);
    }
  });
});
