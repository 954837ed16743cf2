// Type parsers for json and jsonb results that refuse values nested deeper than Airlock can handle: every
// later step (byte caps, masking, the response) recurses per level, and a stack overflow there is a 503.
// Must never change a value it lets through: it only checks the depth, then parses exactly as the driver does.

import { types } from '@neondatabase/serverless';
import { AirlockError } from '../errors.ts';

/** Deeper than this, a json value is refused; V8's JSON.stringify overflows somewhere above 4,000 levels. */
export const MAX_JSON_DEPTH = 512;

const JSON_OID = 114;
const JSONB_OID = 3802;
const JSON_ARRAY_OID = 199;
const JSONB_ARRAY_OID = 3807;
const TEXT_ARRAY_OID = 1009;

/** How deeply arrays and objects nest in JSON text (brackets inside strings do not count). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c) i++;
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b || char === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (char === 0x5d || char === 0x7d) depth--;
  }
  return deepest;
}

/** JSON.parse, after refusing text nested deeper than MAX_JSON_DEPTH. */
export function parseJsonBounded(text: string): unknown {
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH)
    throw new AirlockError(
      'statement_too_complex',
      `a json value in the result nests ${depth} levels deep, more than ${MAX_JSON_DEPTH}: select it as text (::text) instead`,
      { depth, maxDepth: MAX_JSON_DEPTH },
    );
  return JSON.parse(text);
}

type Elements = Array<string | null | Elements>;

/** A json[] / jsonb[] read as text[] (elements as written, dimensions nested), each element parsed bounded. */
function boundedArray(text: string): unknown {
  const parseText = types.getTypeParser(TEXT_ARRAY_OID, 'text') as (value: string) => Elements;
  const each = (elements: Elements): unknown[] =>
    elements.map((entry) => (entry === null ? null : Array.isArray(entry) ? each(entry) : parseJsonBounded(entry)));
  return each(parseText(text));
}

/**
 * The driver's type parsers with json, jsonb and their arrays bounded; pass as a client's `types`
 * (per client, never the driver's global registry). A refusal fails that statement only: the driver
 * reports a parser error after ReadyForQuery, and the session stays usable.
 */
export const boundedJsonTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (format !== 'binary') {
      if (oid === JSON_OID || oid === JSONB_OID) return parseJsonBounded;
      if (oid === JSON_ARRAY_OID || oid === JSONB_ARRAY_OID) return boundedArray;
    }
    return types.getTypeParser(oid, format);
  },
};
