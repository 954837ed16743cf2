// Bounded json/jsonb type parsers on a real Neon-driver client against the embedded Postgres: a result value
// nested deeper than MAX_JSON_DEPTH fails that statement with statement_too_complex, and the session goes on.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import { closeClient, connectClient, type PgClient } from '../../shared/postgres/driver.ts';
import { boundedJsonTypes, jsonDepth, MAX_JSON_DEPTH } from '../../shared/postgres/json-values.ts';
import { adminTarget, wire } from '../support/infra.ts';

let plain: PgClient;
let bounded: PgClient;

beforeAll(async () => {
  plain = await connectClient(await adminTarget(), wire());
  bounded = await connectClient(await adminTarget(), wire(), { types: boundedJsonTypes });
});
afterAll(async () => {
  await closeClient(plain);
  await closeClient(bounded);
});

const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
const rows = async (client: PgClient, text: string, values: unknown[] = []) =>
  (await client.query({ text, values, rowMode: 'array' })).rows;

describe('bounded json type parsers', () => {
  it('return exactly what the driver returns, for json, jsonb and their arrays', async () => {
    const sql = `SELECT $1::jsonb, $2::json, ARRAY[$3::jsonb, NULL], ARRAY[ARRAY[$2::json]], 'x'::text`;
    const values = [JSON.stringify({ a: [1, { b: 'x]"}' }], c: null }), '[1.5,"y"]', '{"k":[1]}'];
    expect(await rows(bounded, sql, values)).toEqual(await rows(plain, sql, values));
    const deepButAllowed = nested(MAX_JSON_DEPTH);
    expect(await rows(bounded, 'SELECT $1::jsonb', [deepButAllowed])).toEqual(
      await rows(plain, 'SELECT $1::jsonb', [deepButAllowed]),
    );
  });

  it('refuse a 5,000-deep value with statement_too_complex, where the driver alone hands back what overflows later', async () => {
    const deep = nested(5000);
    const value = ((await rows(plain, 'SELECT $1::jsonb', [deep])) as unknown[][])[0]?.[0];
    expect(() => JSON.stringify(value)).toThrow(RangeError);
    const error = await rows(bounded, 'SELECT 1 AS n, $1::jsonb AS j', [deep]).catch((caught: unknown) => caught);
    expect(isAirlockError(error, 'statement_too_complex'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/nests 5000 levels deep, more than 512: select it as text/);
    // Inside an array of jsonb too; and as text it comes back.
    const inArray = await rows(bounded, 'SELECT ARRAY[$1::jsonb]', [deep]).catch((caught: unknown) => caught);
    expect(isAirlockError(inArray, 'statement_too_complex')).toBe(true);
    expect(await rows(bounded, 'SELECT length($1::jsonb::text)', [deep])).toEqual([[10001]]);
  });

  it('leave the session usable after a refusal', async () => {
    await rows(bounded, 'SELECT $1::json', [nested(MAX_JSON_DEPTH + 1)]).catch(() => undefined);
    expect(await rows(bounded, 'SELECT 41 + 1')).toEqual([[42]]);
  });

  it('count depth outside strings only', () => {
    expect(jsonDepth('{"a":"[[[[{{{{"}')).toBe(1);
    expect(jsonDepth('["\\"[[[",[[]]]')).toBe(3);
    expect(jsonDepth('7')).toBe(0);
  });
});
