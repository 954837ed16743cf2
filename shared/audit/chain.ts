// The hash chain: a canonical encoding of events, their keyed hash (HMAC) and the checks of a whole chain.
// Must never depend on key order, whitespace or the store's encoding; what is hashed is what is kept.

import { createHash, createHmac } from 'node:crypto';
import { AirlockError } from '../errors.ts';
import type { AuditHead, StoredEvent } from './event.ts';

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

/** How an event's `hash` is made from every other field: plain sha256 (unkeyed), or keyed (createKeyedHasher). */
export type EventHasher = (event: Omit<StoredEvent, 'hash'>) => string;

/** sha256 (hex) of the canonical encoding of every field but `hash` (ignored if present). */
export function hashEvent(event: Omit<StoredEvent, 'hash'>): string {
  return createHash('sha256')
    .update(canonicalJson(withoutHash(event)), 'utf8')
    .digest('hex');
}

/** Below this many bytes a key could be guessed offline from the chain itself. */
const MIN_AUDIT_KEY_BYTES = 32;

/**
 * HMAC-SHA256 (hex) of the canonical encoding under a key derived from the audit key: without the key,
 * nobody who can write the audit table can make a hash that checks out, so a rewritten chain is detected.
 */
export function createKeyedHasher(auditKey: string): EventHasher {
  if (Buffer.byteLength(auditKey, 'utf8') < MIN_AUDIT_KEY_BYTES)
    throw new AirlockError('invalid_config', `the audit key must be at least ${MIN_AUDIT_KEY_BYTES} bytes`);
  // A key of its own, so no other use of the audit key (fingerprints) ever yields a chain hash.
  const key = createHmac('sha256', auditKey).update('airlock/audit-chain/v1').digest();
  return (event) =>
    createHmac('sha256', key)
      .update(canonicalJson(withoutHash(event)), 'utf8')
      .digest('hex');
}

function withoutHash(event: Omit<StoredEvent, 'hash'>): Record<string, unknown> {
  const { hash: _ignored, ...rest } = event as Record<string, unknown>;
  return rest;
}

/** A verdict on a chain, and in one sentence why not. */
export interface ChainCheck {
  verified: boolean;
  reason?: string;
}

const fail = (reason: string): ChainCheck => ({ verified: false, reason });

/**
 * One grant's chain from its start: seq 1..n in order, each `prevHash` the previous `hash` (the first
 * GENESIS_HASH) and, given a hasher, each `hash` recomputes. Without a hasher only the links are checked
 * (what a reader without the audit key can do). Says nothing about events cut from the end: see checkHead.
 */
export function checkChain(events: StoredEvent[], hasher?: EventHasher): ChainCheck {
  let previous = GENESIS_HASH;
  for (const [index, event] of events.entries()) {
    const seq = index + 1;
    if (event.grantId !== events[0]?.grantId) return fail(`event ${seq} belongs to another chain`);
    if (event.seq !== seq)
      return fail(
        event.seq > seq
          ? `event ${seq} is missing (the chain jumps to ${event.seq})`
          : `event ${event.seq} is repeated`,
      );
    if (typeof event.hash !== 'string' || !HASH_PATTERN.test(event.hash)) return fail(`event ${seq} has no valid hash`);
    if (event.prevHash !== previous) return fail(`event ${seq} does not link to the event before it`);
    if (hasher) {
      let expected: string;
      try {
        expected = hasher(event);
      } catch {
        return fail(`event ${seq} cannot be hashed`);
      }
      if (expected !== event.hash) return fail(`event ${seq} does not carry the ${hashName(hasher)} of its content`);
    }
    previous = event.hash;
  }
  return { verified: true };
}

const hashName = (hasher: EventHasher) => (hasher === hashEvent ? 'hash' : 'keyed hash');

/**
 * The chain ends exactly where its anchored head says: fewer events means some were deleted from the
 * end; more means an append stopped between writing its event and anchoring it (or events were added).
 */
export function checkHead(events: StoredEvent[], head: AuditHead | null): ChainCheck {
  const last = events.at(-1);
  if (!head) return fail(last ? 'the chain has no anchored head to check its end against' : 'there are no events');
  const anchored = events[head.seq - 1];
  if (!last || !anchored)
    return fail(`the chain ends at seq ${last?.seq ?? 0} but its head is seq ${head.seq}: events were removed`);
  if (anchored.seq !== head.seq || anchored.hash !== head.hash)
    return fail(`event ${head.seq} is not the event its anchored head names`);
  if (last.seq > head.seq)
    return fail(
      `the chain runs past its anchored head (seq ${last.seq} > ${head.seq}): an append was cut off before anchoring it, or events were added`,
    );
  return { verified: true };
}

/** Links and plain sha256 hashes only (chains written without an audit key); cannot tell a cut end. */
export function verifyChain(events: StoredEvent[]): boolean {
  return checkChain(events, hashEvent).verified;
}
