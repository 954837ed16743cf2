// The masking strategies as SQL expressions over one column, so Postgres computes exactly what strategies.ts does.
// Must never put the hash key or a cell value into SQL text: the key is read from a table by the view's owner.

import { createHash, createHmac } from 'node:crypto';
import type { MaskStrategy } from '../policy/index.ts';
import { quoteLiteral } from '../postgres/index.ts';
import { hashKeyBytes, REDACTED } from './strategies.ts';

/** A column as the masking view reads it: its quoted reference (`c."email"`) and its type's OID. */
export interface MaskedColumnRef {
  ref: string;
  typeOid: number;
}

/** Where the view finds the HMAC pads: a one-row table with `ipad` and `opad` (quoted, schema-qualified). */
export interface HashKeyTable {
  table: string;
}

const BPCHAR = 1042;
const TIMESTAMPTZ = 1184;
const HMAC_BLOCK = 64;

/**
 * The cell as the text strategies.ts masks (its `cellText`): text types as stored (char(n) keeps its padding),
 * timestamptz as ISO 8601 in UTC with milliseconds, every other type in its Postgres text form.
 * Written for a session whose search_path is pg_catalog (see enforce.ts), so names resolve to built-ins.
 */
function cellText(column: MaskedColumnRef): string {
  // format() gives char(n) with its padding (a cast to text trims it) but turns NULL into ''.
  if (column.typeOid === BPCHAR)
    return `CASE WHEN ${column.ref} IS NULL THEN NULL ELSE format('%s', ${column.ref}) END`;
  if (column.typeOid === TIMESTAMPTZ) return `to_char(timezone('UTC', ${column.ref}), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  return `(${column.ref})::text`;
}

/** The SQL expression (type text) that masks `column` by `strategy`; null in, null out, like createStrategy. */
export function maskExpression(strategy: MaskStrategy, column: MaskedColumnRef, key: HashKeyTable): string {
  const text = cellText(column);
  switch (strategy) {
    case 'null':
      return 'NULL::text';
    case 'redact':
      return `CASE WHEN ${text} IS NULL THEN NULL ELSE ${quoteLiteral(REDACTED)} END`;
    case 'last4':
      return `CASE WHEN ${text} IS NULL THEN NULL WHEN char_length(${text}) < 5 THEN repeat('*', char_length(${text})) ELSE repeat('*', char_length(${text}) - 4) || right(${text}, 4) END`;
    case 'email':
      // One address keeps its first character and its domain (the only `@`); anything else is redacted. The local
      // part's 1–64 characters are counted by strpos: a bounded repeat would make Postgres's automaton huge.
      return `CASE WHEN ${text} IS NULL THEN NULL WHEN ${text} COLLATE "C" ~ ${quoteLiteral(emailPattern())} AND strpos(${text}, '@') <= 65 THEN left(${text}, 1) || '***' || substr(${text}, strpos(${text}, '@')) ELSE ${quoteLiteral(REDACTED)} END`;
    case 'hash':
      // HMAC-SHA256 = H(K ^ opad || H(K ^ ipad || m)), with the padded key's two halves read from the key table.
      return `CASE WHEN ${text} IS NULL THEN NULL ELSE 'hash:' || left(encode(sha256((SELECT k.opad FROM ${key.table} k) || sha256((SELECT k.ipad FROM ${key.table} k) || convert_to(${text}, 'UTF8'))), 'hex'), 16) END`;
  }
}

/** The HMAC-SHA256 inner and outer padded keys of the masking key (what createHmac derives from it). */
export function hashKeyPads(hashKey: Uint8Array | string): { ipad: Buffer; opad: Buffer } {
  let key = hashKeyBytes(hashKey);
  if (key.length > HMAC_BLOCK) key = createHash('sha256').update(key).digest();
  const ipad = Buffer.alloc(HMAC_BLOCK, 0x36);
  const opad = Buffer.alloc(HMAC_BLOCK, 0x5c);
  for (let i = 0; i < key.length; i++) {
    ipad[i] = (ipad[i] ?? 0) ^ (key[i] ?? 0);
    opad[i] = (opad[i] ?? 0) ^ (key[i] ?? 0);
  }
  return { ipad, opad };
}

/** Identifies a masking key without revealing it: two deployments with the same key agree, nothing else can be learned. */
export function hashKeyFingerprint(hashKey: Uint8Array | string): string {
  return createHmac('sha256', hashKeyBytes(hashKey))
    .update('airlock masking key fingerprint')
    .digest('hex')
    .slice(0, 32);
}

let pattern: string | undefined;

/**
 * strategies.ts's EMAIL_ADDRESS as a Postgres regular expression, but for the local part's length (see
 * maskExpression). Postgres has no `\p{L}`, and its
 * character classes follow the database's locale, so letters and digits are spelled out as the code point
 * ranges this Node's Unicode tables give (ranges in a bracket expression compare code points).
 */
export function emailPattern(): string {
  if (pattern) return pattern;
  const word = letterOrNumberRanges();
  const local = `[${word}!#$%&'*+/=?^_\`{|}~.-]`;
  const label = `[${word}](?:[${word}-]*[${word}])?`;
  pattern = `^${local}+@${label}(?:[.]${label})+$`;
  return pattern;
}

function letterOrNumberRanges(): string {
  const isWord = /^[\p{L}\p{N}]$/u;
  const parts: string[] = [];
  let start = -1;
  for (let cp = 0; cp <= 0x110000; cp++) {
    const word = cp < 0x110000 && (cp < 0xd800 || cp > 0xdfff) && isWord.test(String.fromCodePoint(cp));
    if (word && start < 0) start = cp;
    if (!word && start >= 0) {
      const last = cp - 1;
      parts.push(
        start === last ? String.fromCodePoint(start) : `${String.fromCodePoint(start)}-${String.fromCodePoint(last)}`,
      );
      start = -1;
    }
  }
  return parts.join('');
}
