// Parses SQL with the real PostgreSQL parser (libpg-query, WASM) into one ParsedStatement per statement.
// It must never judge SQL from its text: every fact here comes from the parse tree or the parser's scanner.

import { AirlockError, unavailable } from '../errors.ts';
import { classifyStatement } from './classify.ts';
import { checkComplexity } from './complexity.ts';
import { fingerprintSync, PgSyntaxError, parseSync, prepareParser } from './engine.ts';
import { redactUnresolvedIdentifiers } from './identifiers.ts';
import { normalizeStatement } from './normalize.ts';
import type { ParsedStatement } from './statement.ts';

/** Passes over a statement's text: the complexity scan, the parse, and per statement fingerprint, normalize, scans. */
const PASSES = 6;

/** A stack overflow inside the parser (JS or WASM): never a syntax error; the engine replaces the instance. */
function overflowed(error: unknown): AirlockError | undefined {
  if (!(error instanceof RangeError)) return undefined;
  return new AirlockError(
    'statement_too_complex',
    'the statement is too deeply nested to be parsed',
    {},
    { cause: error },
  );
}

/** An instance with room for this text (a fresh one when needed); one that cannot be made is an outage. */
async function ready(sql: string): Promise<void> {
  try {
    await prepareParser(Buffer.byteLength(sql, 'utf8') * PASSES);
  } catch (cause) {
    throw unavailable('the SQL parser', cause);
  }
}

interface RawStatement {
  stmt?: unknown;
  stmt_location?: number;
  stmt_len?: number;
}

/** Every statement in `sql`, in order. */
export async function parseStatements(sql: string): Promise<ParsedStatement[]> {
  if (sql.includes('\0')) throw new AirlockError('invalid_request', 'SQL must not contain a NUL character');
  if (sql.trim() === '') throw new AirlockError('invalid_request', 'no SQL statement');
  await ready(sql);
  try {
    checkComplexity(sql);
  } catch (error) {
    throw overflowed(error) ?? error;
  }
  let raw: RawStatement[];
  try {
    raw = (parseSync(sql).stmts ?? []) as RawStatement[];
  } catch (error) {
    const tooDeep = overflowed(error);
    if (tooDeep) throw tooDeep;
    if (error instanceof PgSyntaxError) {
      // PostgreSQL's cursorpos is 1-based; the engine keeps it 0-based, the API reports 1-based.
      throw new AirlockError('sql_syntax', error.message, { position: error.cursorPosition + 1 }, { cause: error });
    }
    throw new AirlockError(
      'sql_syntax',
      error instanceof Error ? error.message : 'the SQL could not be parsed',
      {},
      { cause: error },
    );
  }
  if (raw.length === 0) throw new AirlockError('invalid_request', 'no SQL statement');

  // stmt_location and stmt_len are byte offsets into the UTF-8 text.
  const bytes = Buffer.from(sql, 'utf8');
  return Promise.all(
    raw.map(async (entry) => {
      const start = entry.stmt_location ?? 0;
      const end = entry.stmt_len ? start + entry.stmt_len : bytes.length;
      const text = bytes.subarray(start, end).toString('utf8').trim();
      try {
        return {
          sql: text,
          fingerprint: fingerprintSync(text),
          // A value written in double quotes parses as a name: logged text keeps only names the statement declares.
          normalizedSql: await redactUnresolvedIdentifiers(normalizeStatement(text), NOTHING_RESOLVES, {
            quotedOnly: true,
          }),
          ...classifyStatement(entry.stmt),
        };
      } catch (error) {
        throw (
          overflowed(error) ??
          new AirlockError(
            'internal',
            'a parsed statement could not be analysed; nothing was run',
            {},
            { cause: error },
          )
        );
      }
    }),
  );
}

/** Without a catalog at hand, no quoted name is taken on trust. */
const NOTHING_RESOLVES = async () => new Set<string>();

/** Exactly one statement; several are refused so that nothing unseen rides along. */
export async function parseOne(sql: string): Promise<ParsedStatement> {
  const statements = await parseStatements(sql);
  const [only] = statements;
  if (statements.length !== 1 || !only) {
    throw new AirlockError('multiple_statements', `expected one SQL statement, got ${statements.length}`, {
      count: statements.length,
    });
  }
  return only;
}
