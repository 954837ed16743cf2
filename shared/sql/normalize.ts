// Turns one statement's text into the form kept in logs: literals become $n, comments go away.
// It must never let a literal value or a comment through, even where libpg-query's normalize keeps one.

import { normalizeSync, scanSync } from './engine.ts';

/**
 * PostgreSQL 18 token numbers (gram.h): FCONST, SCONST, USCONST, BCONST, XCONST, ICONST.
 * libpg-query's normalize leaves literals in DDL, COPY file names, PREPARE bodies, EXECUTE
 * arguments and ORDER BY positions; the scan below replaces whatever it left.
 */
const LITERAL_TOKENS: ReadonlySet<number> = new Set([260, 261, 262, 263, 264, 266]);
const PARAM_TOKEN = 267;
const COMMENT_TOKENS: ReadonlySet<string> = new Set(['SQL_COMMENT', 'C_COMMENT']);

/**
 * Every literal token and comment contains one of these: a quote, a dollar quote, a digit that does
 * not continue an identifier or a $n, or a comment opener. Text without any needs no scan (which
 * costs more than parsing); any doubt, including quoted identifiers, takes the scanner's path.
 */
const MAY_HOLD_LITERAL = /['"]|--|\/\*|\$(?!\d)|(?:^|[^A-Za-z0-9_$])\d/;

/** Call only after the WASM module is loaded and `sql` has parsed. */
export function normalizeStatement(sql: string): string {
  let text: string;
  try {
    text = normalizeSync(sql);
  } catch {
    text = sql;
  }
  if (!MAY_HOLD_LITERAL.test(text)) return text.replace(/\s+/g, ' ').trim();
  const tokens = scanSync(text).tokens;
  let next = 1;
  for (const token of tokens) {
    if (token.tokenType === PARAM_TOKEN) next = Math.max(next, (Number(token.text.slice(1)) || 0) + 1);
  }
  const parts: string[] = [];
  let previousEnd = 0;
  let gap = false;
  for (const token of tokens) {
    gap ||= token.start > previousEnd;
    previousEnd = token.end;
    if (COMMENT_TOKENS.has(token.tokenName)) {
      gap = true;
      continue;
    }
    if (gap && parts.length > 0) parts.push(' ');
    gap = false;
    parts.push(LITERAL_TOKENS.has(token.tokenType) ? `$${next++}` : token.text);
  }
  return parts.join('');
}
