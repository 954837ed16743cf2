// Postgres error messages on their way to the agent: a message can quote a value read from a row
// (`invalid input syntax for type integer: "alice@example.com"`); it must never carry one out unmasked.

import type { Detector } from '../policy/index.ts';
import { createDetectorScan } from './detectors.ts';

const WITHHELD = '"…"';
const WORD_CHAR = /[\p{L}\p{N}_$]/u;

export interface DatabaseMessageContext {
  /** Postgres gave a position: the error was raised parsing or analysing the text, before any row was read. */
  positioned: boolean;
  /** What the caller sent: statement texts and parameters. */
  sql: readonly string[];
  params: readonly unknown[];
  detectors: readonly Detector[];
}

/**
 * The message the agent may see. A positioned message speaks only of the statement's text and is kept.
 * Any other keeps its double-quoted parts only while each is something the caller wrote; from the first
 * one that is not (or an unbalanced quote) to the last quote, it becomes `"…"`. Detectors run over the rest.
 */
export function maskDatabaseMessage(message: string, context: DatabaseMessageContext): string {
  if (context.positioned) return message;
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
