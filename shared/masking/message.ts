// Postgres error messages on their way to the agent: a message can quote a value read from a row
// (`invalid input syntax for type integer: "alice@example.com"`); it must never carry one out unmasked.

import type { Detector, Policy } from '../policy/index.ts';
import { createDetectorScan } from './detectors.ts';
import { AIRLOCK_MASKING_VIEW_SCHEMAS } from './names.ts';

const WITHHELD = '"…"';
const WORD_CHAR = /[\p{L}\p{N}_$]/u;

export interface DatabaseMessageContext {
  /** Postgres gave a position: the error was raised parsing or analysing the text, before any row was read. */
  positioned: boolean;
  /** What the caller sent: statement texts and parameters. */
  sql: readonly string[];
  params: readonly unknown[];
  detectors: readonly Detector[];
  /** The error's SQLSTATE, when known. */
  sqlstate?: string;
  /** The statement reads a masked table (touchesMaskedTable): only a fixed message per error class may go out. */
  touchesMasked?: boolean;
}

/**
 * The message the agent may see. A positioned message speaks only of the statement's text and is kept.
 * Any other keeps its double-quoted parts only while each is something the caller wrote; from the first
 * one that is not (or an unbalanced quote) to the last quote, it becomes `"…"`. Detectors run over the rest.
 */
export function maskDatabaseMessage(message: string, context: DatabaseMessageContext): string {
  if (context.positioned) return message;
  if (context.touchesMasked) return fixedDatabaseMessage(context.sqlstate ?? 'XX000');
  const scan = createDetectorScan(context.detectors);
  const parts = message.split('"');
  const quotes = parts.length - 1;
  if (quotes === 0) return scan(message);
  const sql = context.sql.join('\n').toLowerCase();
  const params = context.params.map(paramText);
  // A value may itself hold a quote: with an odd count nothing after the first quote can be trusted.
  let cut = quotes % 2 === 1 ? 1 : -1;
  for (let i = 1; cut === -1 && i < parts.length; i += 2) {
    if (!callerWrote(parts[i]!, sql, params)) cut = i;
  }
  if (cut === -1) return scan(message);
  const tail = quotes % 2 === 0 ? parts[parts.length - 1]! : '';
  return scan(`${parts.slice(0, cut).join('"')}${WITHHELD}${tail}`);
}

function paramText(param: unknown): string {
  return typeof param === 'string' ? param : (JSON.stringify(param) ?? '');
}

/** The caller sent it as a parameter, or every dot-separated part of it stands as a whole word in the SQL. */
function callerWrote(segment: string, sql: string, params: readonly string[]): boolean {
  if (segment === '' || params.includes(segment)) return true;
  return segment
    .toLowerCase()
    .split('.')
    .every((part) => part !== '' && containsWord(sql, part));
}

function containsWord(text: string, word: string): boolean {
  const wordStart = WORD_CHAR.test(word[0]!);
  const wordEnd = WORD_CHAR.test(word[word.length - 1]!);
  for (let at = text.indexOf(word); at !== -1; at = text.indexOf(word, at + 1)) {
    const before = at > 0 ? text[at - 1]! : '';
    const after = text[at + word.length] ?? '';
    if ((!wordStart || !WORD_CHAR.test(before)) && (!wordEnd || !WORD_CHAR.test(after))) return true;
  }
  return false;
}

/** Messages for the SQLSTATEs an agent meets most, in words that hold for any value. */
const BY_CODE: Record<string, string> = {
  '42501':
    'permission denied: a masked column can only be read in its masked form (name its table without a schema), and a write grant cannot write one',
  '22012': 'division by zero',
  '22P02': 'invalid input syntax for a type',
  '22003': 'a value is out of range for its type',
  '22001': 'a value is too long for its type',
  '22007': 'invalid date or time format',
  '22008': 'a date or time value is out of range',
  '22023': 'an argument has an invalid value',
  '2201B': 'invalid regular expression',
  '22004': 'a null value is not allowed here',
  '21000': 'a subquery used as an expression returned more than one row',
  '23502': 'a null value violates a not-null constraint',
  '23503': 'the change violates a foreign key constraint',
  '23505': 'the change violates a unique constraint',
  '23514': 'the change violates a check constraint',
  '42703': 'a column does not exist',
  '42P01': 'a relation does not exist',
  '42704': 'an object does not exist',
  '42883': 'a function or operator does not exist for these argument types',
  '57014': 'the statement was cancelled (statement timeout)',
};

/** One message per SQLSTATE class (the first two characters), for every code not in BY_CODE. */
const BY_CLASS: Record<string, string> = {
  '0A': 'a feature is not supported',
  '20': 'no CASE branch matched',
  '21': 'cardinality violation',
  '22': 'invalid data',
  '23': 'an integrity constraint was violated',
  '24': 'invalid cursor state',
  '25': 'invalid transaction state',
  '26': 'unknown prepared statement',
  '27': 'a triggered data change was refused',
  '28': 'invalid authorization',
  '2B': 'dependent privileges exist',
  '2F': 'a routine failed',
  '34': 'unknown cursor',
  '38': 'an external routine failed',
  '39': 'an external routine could not be called',
  '3B': 'savepoint error',
  '3D': 'unknown database',
  '3F': 'unknown schema',
  '40': 'the transaction was rolled back (serialization failure or deadlock)',
  '42': 'syntax error or access rule violation',
  '44': 'a WITH CHECK OPTION was violated',
  '53': 'insufficient resources',
  '54': 'a program limit was exceeded',
  '55': 'an object is not in the required state',
  '57': 'the statement was interrupted',
  '58': 'system error',
  '72': 'snapshot failure',
  HV: 'a foreign data wrapper failed',
  P0: 'a PL/pgSQL error was raised',
  XX: 'internal error',
};

/**
 * The message for an error raised while a statement that reads a masked table ran: fixed by its SQLSTATE, never the
 * server's text, which may quote any value the statement touched (a masked form, or worse through a function).
 */
export function fixedDatabaseMessage(sqlstate: string): string {
  const text = BY_CODE[sqlstate] ?? BY_CLASS[sqlstate.slice(0, 2)] ?? 'the statement failed';
  return `${text} (SQLSTATE ${sqlstate}; the server's own message is withheld because the statement reads a masked table)`;
}

const MASKING_VIEW_SCHEMA = new RegExp(AIRLOCK_MASKING_VIEW_SCHEMAS);

/**
 * Whether a statement names a table that has masked columns (by name, in any schema when it names none) or an
 * Airlock masking view. Names only: a view or function that reads one is refused by Postgres anyway.
 */
export function touchesMaskedTable(
  relations: ReadonlyArray<{ schema: string | null; name: string }>,
  masking: Pick<Policy['masking'], 'columns'>,
): boolean {
  const tables = masking.columns.map((entry) => {
    const [schema = '', table = ''] = entry.column.toLowerCase().split('.');
    return { schema, table };
  });
  return relations.some((relation) => {
    const schema = relation.schema?.toLowerCase() ?? null;
    if (schema !== null && MASKING_VIEW_SCHEMA.test(schema)) return true;
    const name = relation.name.toLowerCase();
    return tables.some((table) => table.table === name && (schema === null || table.schema === schema));
  });
}
