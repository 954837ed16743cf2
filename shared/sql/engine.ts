// The PostgreSQL parser (libpg-query's WASM build) in an instance this module owns: run on V8's baseline tier,
// replaced after a stack overflow, and renewed after a budget of input. Must never use an instance again after it
// overflowed, nor let V8's optimizing tier compile the parser.

/// <reference path="./libpg-query-wasm.d.ts" />
import { setFlagsFromString } from 'node:v8';
import createPgQuery, { type PgQueryWasm } from 'libpg-query/wasm/libpg-query.js';

// V8's optimizing tier gives the parser's recursive functions frames several times larger than the baseline's: in a
// warm process a 60-table join or a 150-term sum overflowed the stack, and after a few large statements a
// 100-term one did. On the baseline tier none does, and the complexity guard's budget holds (it was measured there).
// The flag applies to WebAssembly compiled from now on, which is before the first instance below.
setFlagsFromString('--liftoff-only');

/** Input (bytes, every call counted) an instance takes before a fresh one replaces it: cheap insurance (about 30 ms). */
export const INSTANCE_INPUT_BUDGET = 8 * 1024 * 1024;

/** PostgreSQL's own syntax error, with the 0-based character offset it points at. */
export class PgSyntaxError extends Error {
  override readonly name = 'PgSyntaxError';
  constructor(
    message: string,
    readonly cursorPosition: number,
  ) {
    super(message);
  }
}

let instance: PgQueryWasm | undefined;
let spent = 0;
let renewal: Promise<void> | undefined;
let renewalFailed = false;

function renew(): Promise<void> {
  renewal ??= createPgQuery().then(
    (fresh) => {
      instance = fresh;
      spent = 0;
      renewal = undefined;
      renewalFailed = false;
    },
    (cause: unknown) => {
      renewal = undefined;
      renewalFailed = true;
      throw cause;
    },
  );
  return renewal;
}

/**
 * Makes sure the instance can take about `bytes` more input: a fresh one when none is loaded, the last one
 * overflowed, or this would pass its budget. Call before each statement (parseStatements does).
 */
export async function prepareParser(bytes: number): Promise<void> {
  if (!instance || spent + bytes > INSTANCE_INPUT_BUDGET) {
    instance = undefined;
    await renew();
  }
}

/** False when no instance could be made (the readiness check reports it). */
export const parserHealthy = () => !renewalFailed;

/** One call into the instance: its input counted, a stack overflow retiring it (the caller sees the RangeError). */
function call<T>(sql: string, run: (wasm: PgQueryWasm, query: number) => T): T {
  const wasm = instance;
  if (!wasm) throw new Error('the SQL parser is not loaded: await prepareParser() first');
  const size = wasm.lengthBytesUTF8(sql) + 1;
  spent += size;
  const query = wasm._malloc(size);
  try {
    wasm.stringToUTF8(sql, query, size);
    return run(wasm, query);
  } catch (error) {
    if (error instanceof RangeError) {
      if (instance === wasm) instance = undefined;
      void renew().catch(() => {});
    }
    throw error;
  } finally {
    wasm._free(query);
  }
}

/** A string result of the instance, freed after reading; an error message where a result was expected throws. */
function text(wasm: PgQueryWasm, result: number): string {
  try {
    const out = wasm.UTF8ToString(result);
    if (/^(syntax error|deparse error|ERROR)/.test(out)) throw new Error(out);
    return out;
  } finally {
    wasm._wasm_free_string(result);
  }
}

export function parseSync(sql: string): { stmts?: unknown[] } {
  return call(sql, (wasm, query) => {
    const result = wasm._wasm_parse_query_raw(query);
    if (!result) throw new Error('the SQL parser could not allocate memory');
    try {
      const tree = wasm.getValue(result, 'i32');
      const failure = wasm.getValue(result + 8, 'i32');
      if (failure) {
        const message = wasm.getValue(failure, 'i32');
        const cursor = wasm.getValue(failure + 16, 'i32');
        throw new PgSyntaxError(message ? wasm.UTF8ToString(message) : 'syntax error', cursor > 0 ? cursor - 1 : 0);
      }
      if (!tree) throw new Error('the SQL parser produced no tree');
      return JSON.parse(wasm.UTF8ToString(tree)) as { stmts?: unknown[] };
    } finally {
      wasm._wasm_free_parse_result(result);
    }
  });
}

export interface ScanToken {
  start: number;
  end: number;
  text: string;
  tokenType: number;
  tokenName: string;
  keywordKind: number;
  keywordName: string;
}

export function scanSync(sql: string): { tokens: ScanToken[] } {
  return call(sql, (wasm, query) => JSON.parse(text(wasm, wasm._wasm_scan(query))) as { tokens: ScanToken[] });
}

export function fingerprintSync(sql: string): string {
  return call(sql, (wasm, query) => text(wasm, wasm._wasm_fingerprint(query)));
}

export function normalizeSync(sql: string): string {
  return call(sql, (wasm, query) => text(wasm, wasm._wasm_normalize_query(query)));
}
