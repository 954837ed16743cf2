// Reading the cells of a catalog query's row: each a type the query promises, or the read fails.
// Must never coerce a value it does not expect: a row of another shape is an internal error, not a guess.

import { AirlockError } from '../errors.ts';

export function text(value: unknown): string {
  if (typeof value !== 'string') throw new AirlockError('internal', 'unexpected catalog row: expected text');
  return value;
}

export function integer(value: unknown): number {
  const number = typeof value === 'string' || typeof value === 'bigint' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number))
    throw new AirlockError('internal', 'unexpected catalog row: expected an integer');
  return number;
}

export function textArray(value: unknown): string[] {
  if (!Array.isArray(value)) throw new AirlockError('internal', 'unexpected catalog row: expected an array');
  return value.map(text);
}

export function integerArray(value: unknown): number[] {
  if (!Array.isArray(value)) throw new AirlockError('internal', 'unexpected catalog row: expected an array');
  return value.map(integer);
}
