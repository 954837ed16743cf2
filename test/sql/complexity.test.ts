// The parser's complexity guard: statements whose tree could overflow libpg-query's stack are refused with
// statement_too_complex before the parser sees them, the parser stays healthy, and large but flat SQL passes.

import { beforeAll, describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import { ALWAYS_SIMPLE_CHARS, COMPLEXITY_BUDGET, complexityOf } from '../../shared/sql/complexity.ts';
import { parserHealthy, scanSync } from '../../shared/sql/engine.ts';
import { parseOne, parseStatements } from '../../shared/sql/parse.ts';

beforeAll(async () => {
  await parseOne('SELECT 1');
});

const cost = (sql: string) => complexityOf(scanSync(sql).tokens);
const repeat = (count: number, make: (i: number) => string, join = '') =>
  Array.from({ length: count }, (_, i) => make(i)).join(join);

/** Statements that overflowed the WASM parser (or its fingerprint/normalize) when nothing stopped them. */
const HOSTILE: Record<string, string> = {
  'a thousand-parameter sum': `SELECT ${repeat(1000, (i) => `$${i + 1}::int`, ' + ')}`,
  'nested subqueries': `SELECT ${'(SELECT '.repeat(1000)}1${')'.repeat(1000)}`,
  'a long operator chain': `SELECT ${repeat(2000, () => '1', '+')}`,
  'nested function calls': `SELECT ${'f('.repeat(1000)}1${')'.repeat(1000)}`,
  'a NOT chain': `SELECT ${'NOT '.repeat(1000)}true`,
  'a cast chain': `SELECT 1${'::int'.repeat(2000)}`,
  'nested arrays': `SELECT ${'ARRAY['.repeat(1000)}1${']'.repeat(1000)}`,
  'nested EXISTS': `SELECT ${'EXISTS (SELECT '.repeat(700)}1${')'.repeat(700)}`,
  'nested CASE': `SELECT ${'CASE WHEN true THEN '.repeat(200)}1${' END'.repeat(200)}`,
  'a second statement that nests': `SELECT 1; SELECT ${'(SELECT '.repeat(1000)}1${')'.repeat(1000)}`,
};

/** Large statements real clients send: long, but flat. */
const LEGIT: Record<string, string> = {
  'a 5,000-row INSERT': `INSERT INTO t (a, b) VALUES ${repeat(5000, (i) => `(${i}, 'v${i}')`, ', ')}`,
  'a 5,000-value IN list': `SELECT * FROM t WHERE id IN (${repeat(5000, (i) => String(i), ',')})`,
  'a 1,000-branch OR': `SELECT * FROM t WHERE ${repeat(1000, (i) => `id = ${i}`, ' OR ')}`,
  'a 500-branch CASE': `SELECT CASE ${repeat(500, (i) => `WHEN a = ${i} THEN ${i}`, ' ')} END FROM t`,
  'a 100-column sum': `SELECT ${repeat(100, (i) => `c${i}`, ' + ')} FROM t`,
  'a 60-table join': `SELECT 1 FROM t0 ${repeat(60, (i) => `JOIN t${i + 1} ON t${i + 1}.id = t${i}.id`, ' ')}`,
  '30 nested subqueries': `SELECT ${'(SELECT '.repeat(30)}1${')'.repeat(30)}`,
  'a 150-parameter sum': `SELECT ${repeat(150, (i) => `$${i + 1}::int`, ' + ')}`,
};

async function refusal(sql: string): Promise<unknown> {
  return parseStatements(sql).then(
    () => undefined,
    (error: unknown) => error,
  );
}

// Large but flat statements first: every libpg-query 18.1.5 call leaves its WASM module a little worse off
// (measured: ~30,000 small parses, or ~13 scans of 20,000 tokens, break it), and the refusals below scan big inputs.
describe('the complexity guard lets flat SQL through', () => {
  it.each(Object.entries(LEGIT))('%s', async (_name, sql) => {
    expect(cost(sql)).toBeLessThanOrEqual(COMPLEXITY_BUDGET);
    expect((await parseStatements(sql)).length).toBe(1);
  });
});

describe('the complexity guard refuses deep SQL', () => {
  it.each(Object.entries(HOSTILE))('refuses %s with statement_too_complex, before the parser', async (_name, sql) => {
    expect(sql.length).toBeGreaterThan(ALWAYS_SIMPLE_CHARS);
    const error = await refusal(sql);
    expect(isAirlockError(error, 'statement_too_complex'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(/nests too deeply or chains too many operators/);
    expect((error as { details: { cost: number } }).details.cost).toBeGreaterThan(COMPLEXITY_BUDGET);
  });

  it('leaves the parser healthy: statements after the refusals parse as before', async () => {
    expect(parserHealthy()).toBe(true);
    const statement = await parseOne('SELECT a FROM t WHERE b = 1');
    expect(statement).toMatchObject({ kind: 'select', normalizedSql: 'SELECT a FROM t WHERE b = $1' });
  });

  it('bounds every path: a chain after a nested group still counts towards the group', () => {
    const group = `(${repeat(50, () => '1', '+')})`;
    // SELECT is a keyword of the outer segment: 2; the group: 5; its 49 operators: 98.
    expect(cost(`SELECT ${group}`)).toBe(2 + 5 + 98);
    // A chain after the group wraps it: the outer segment's 101 operators count on the way in.
    expect(cost(`SELECT ${group}${' + 1'.repeat(100)}`)).toBe(202 + 5 + 98);
    // Siblings do not add up: each argument is its own segment.
    expect(cost(`SELECT f(${repeat(10, () => group, ', ')})`)).toBe(2 + 5 + 5 + 98);
  });
});

// Once V8 had optimized the parser (a warm process), a 60-table join, a 150-term sum or a 40-deep EXISTS under the
// character threshold overflowed the stack; the engine keeps the parser on V8's baseline tier.
describe('a warm parser', () => {
  it('parses what a cold one parses after thousands of statements and a few large ones', async () => {
    for (let i = 0; i < 3000; i++) await parseOne(`SELECT id, email FROM customers WHERE id = $1 AND name = 'x${i}'`);
    for (const sql of Object.values(LEGIT).slice(0, 3)) await parseStatements(sql);
    const nested = `SELECT 1 WHERE ${'EXISTS (SELECT 1 WHERE '.repeat(40)}true${')'.repeat(40)}`;
    expect(nested.length).toBeLessThan(ALWAYS_SIMPLE_CHARS);
    for (const sql of [LEGIT['a 60-table join']!, LEGIT['a 150-parameter sum']!, LEGIT['a 100-column sum']!, nested])
      expect((await parseStatements(sql)).length).toBe(1);
    expect(parserHealthy()).toBe(true);
  }, 60_000);
});
