// The one function that puts an identifier into SQL text. Every role, schema or table name that
// is not a bound parameter goes through it; nothing else may concatenate identifiers.

import { AirlockError } from '../errors.ts';

export function quoteIdent(name: string): string {
  if (name.length === 0 || name.length > 63 || name.includes('\0')) {
    throw new AirlockError('invalid_request', 'invalid SQL identifier');
  }
  return `"${name.replace(/"/g, '""')}"`;
}

/** A string literal for the few statements that cannot take parameters (CREATE ROLE … PASSWORD). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new AirlockError('invalid_request', 'invalid SQL literal');
  return `'${value.replace(/'/g, "''")}'`;
}
