// Result values as psql prints them: bytea as `\x` hex, arrays in Postgres' text form (`{1,2,3}`,
// nested, elements quoted as array_out quotes them), json as JSON. Must never alter a masked value.

import type { ResultColumn } from './render.ts';

const JSON_TYPES = new Set(['json', 'jsonb']);
// array_out quotes an element that is empty, says NULL, or holds a brace, quote, comma, backslash or space.
const NEEDS_QUOTES = /[{}",\\ \t\n\r\v\f]/;

/** `{"type":"Buffer","data":[…]}`: how JSON.stringify writes a Node Buffer, as the API did for bytea. */
function bufferBytes(value: unknown): number[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { type, data } = value as { type?: unknown; data?: unknown };
  if (type !== 'Buffer' || !Array.isArray(data)) return undefined;
  return data.every((byte) => Number.isInteger(byte) && byte >= 0 && byte <= 255) ? (data as number[]) : undefined;
}

const hex = (bytes: ArrayLike<number>) => `\\x${Buffer.from(Array.from(bytes)).toString('hex')}`;

/** One value of `column` as text, or null for SQL NULL. */
export function valueText(value: unknown, column: Pick<ResultColumn, 'type' | 'masked'>): string | null {
  if (value === null || value === undefined) return null;
  // A masked value is what the policy's strategy wrote; a json column's value is JSON, arrays included.
  if (column.masked) return typeof value === 'string' ? value : JSON.stringify(value);
  if (JSON_TYPES.has(column.type)) return JSON.stringify(value);
  // A json[] element may itself be a JSON array: one level is the Postgres array, each element JSON.
  if (Array.isArray(value) && JSON_TYPES.has(column.type.replace(/\[\]$/, '')))
    return `{${value.map((item) => (item === null ? 'NULL' : quoted(JSON.stringify(item)))).join(',')}}`;
  return scalarOrArray(value);
}

function scalarOrArray(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return String(value);
  const bytes = bufferBytes(value);
  if (bytes) return hex(bytes);
  if (value instanceof Uint8Array) return hex(value);
  if (Array.isArray(value)) return postgresArray(value);
  return JSON.stringify(value);
}

/** `{1,2,3}`, `{{1,2},{3,4}}`, `{NULL,"a b","\\x01",t}`: Postgres' array_out text of a parsed array. */
export function postgresArray(values: unknown[]): string {
  return `{${values.map(element).join(',')}}`;
}

function element(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (Array.isArray(value)) return postgresArray(value);
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return quoted(scalarOrArray(value));
}

function quoted(text: string): string {
  if (text !== '' && !NEEDS_QUOTES.test(text) && text.toUpperCase() !== 'NULL') return text;
  return `"${text.replace(/["\\]/g, '\\$&')}"`;
}
