// The hash chain: a canonical encoding of events, their sha256 and the check of a whole chain.
// Must never depend on key order, whitespace or the store's encoding; what is hashed is what is kept.

import { createHash } from 'node:crypto';
import { AirlockError } from '../errors.ts';
import type { StoredEvent } from './event.ts';

/** The `prevHash` of a chain's first event. */
export const GENESIS_HASH = '0'.repeat(64);

const HASH_PATTERN = /^[0-9a-f]{64}$/;
// Lone surrogates do not survive UTF-8 storage; replacing them up front keeps stored = hashed.
const LONE_SURROGATE = /\p{Surrogate}/gu;

/**
 * JSON with object keys sorted (by UTF-16 code units) at every depth and no whitespace. Only plain
 * JSON values are accepted; an `undefined` object member is left out, as JSON.stringify does.
 */
export function canonicalJson(value: unknown, path = '$'): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.replace(LONE_SURROGATE, '\uFFFD'));
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw notStorable(path);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value))
        return `[${Array.from(value, (item, index) => canonicalJson(item, `${path}[${index}]`)).join(',')}]`;
      const prototype: unknown = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) throw notStorable(path);
      const members = Object.keys(value)
        .sort()
        .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
        .map(
          (key) => `${canonicalJson(key)}:${canonicalJson((value as Record<string, unknown>)[key], `${path}.${key}`)}`,
        );
      return `{${members.join(',')}}`;
    }
    default:
      throw notStorable(path);
  }
}

/** The plain JSON copy of a value, exactly as it is hashed (and so as it must be stored). */
export function toHashedJson(value: unknown, path = '$'): unknown {
  return JSON.parse(canonicalJson(value, path));
}

function notStorable(path: string): AirlockError {
  return new AirlockError('internal', `audit event value at ${path} is not plain JSON and cannot be stored`);
}

/** sha256 (hex) of the canonical encoding of every field but `hash` (ignored if present). */
export function hashEvent(event: Omit<StoredEvent, 'hash'> & { hash?: string }): string {
  const { hash: _ignored, ...rest } = event as Record<string, unknown>;
  return createHash('sha256').update(canonicalJson(rest), 'utf8').digest('hex');
}

/**
 * True when the events are one grant's chain from its start: seq 1..n in order, each `prevHash` the
 * previous `hash` (the first GENESIS_HASH) and each `hash` recomputes. A chain cut short at its end
 * still verifies; nothing in a hash chain alone can tell.
 */
export function verifyChain(events: readonly StoredEvent[]): boolean {
  let previous = GENESIS_HASH;
  for (const [index, event] of events.entries()) {
    if (event.seq !== index + 1 || event.grantId !== events[0]?.grantId) return false;
    if (event.prevHash !== previous || typeof event.hash !== 'string' || !HASH_PATTERN.test(event.hash)) return false;
    try {
      if (hashEvent(event) !== event.hash) return false;
    } catch {
      return false;
    }
    previous = event.hash;
  }
  return true;
}
