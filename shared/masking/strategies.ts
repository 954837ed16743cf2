// Masking strategies: turn one cell value into its masked form (a string, or null).
// Must never return any part of the input beyond what the strategy promises (first char + domain, last 4).

import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { AirlockError } from '../errors.ts';
import type { MaskStrategy } from '../policy/index.ts';

export const REDACTED = '[REDACTED]';

export type MaskedValue = string | null;
export type MaskValue = (value: unknown) => MaskedValue;

/** A cell as text: Dates in ISO 8601, bytes as `\\x` hex, objects and arrays (json columns) as JSON; null stays null. */
export function cellText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    case 'object':
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
      if (value instanceof Uint8Array)
        return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
      return (
        JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? inner.toString() : inner)) ??
        String(value)
      );
    default:
      return String(value);
  }
}

/** `alice@example.com` → `a***@example.com`; anything that is not one address → `[REDACTED]`. */
export function maskEmail(text: string): string {
  if (!EMAIL_ADDRESS.test(text)) return REDACTED;
  const first = String.fromCodePoint(text.codePointAt(0) ?? 0x2a);
  return `${first}***${text.slice(text.lastIndexOf('@'))}`;
}
// One address: RFC 5322 atext (plus letters and digits of any script) in the local part, DNS-like labels after.
const EMAIL_ADDRESS =
  /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~.-]{1,64}@[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?)+$/u;
const SURROGATE = /[\uD800-\uDFFF]/;

/** Every character but the last four becomes `*`; a value shorter than five characters becomes all `*`. */
export function maskLast4(text: string): string {
  if (!SURROGATE.test(text))
    return text.length < 5 ? '*'.repeat(text.length) : '*'.repeat(text.length - 4) + text.slice(-4);
  const chars = Array.from(text);
  if (chars.length < 5) return '*'.repeat(chars.length);
  return '*'.repeat(chars.length - 4) + chars.slice(-4).join('');
}

/**
 * Keyed HMAC-SHA256, `hash:` + 16 hex chars: equal inputs give equal outputs, without the key
 * nothing can be checked. Each mask remembers its results, as joins repeat the same values.
 */
function createHashMask(hashKey: Uint8Array | string): (text: string) => string {
  const key = secretKey(hashKey);
  const seen = new Map<string, string>();
  return (text) => {
    let hashed = seen.get(text);
    if (hashed === undefined) {
      hashed = `hash:${createHmac('sha256', key).update(text, 'utf8').digest('hex').slice(0, 16)}`;
      seen.set(text, hashed);
    }
    return hashed;
  };
}

function secretKey(hashKey: Uint8Array | string): KeyObject {
  return createSecretKey(hashKeyBytes(hashKey));
}

/** The masking key's bytes (a string key is UTF-8), refused when shorter than 16 bytes. */
export function hashKeyBytes(hashKey: Uint8Array | string): Buffer {
  const bytes = typeof hashKey === 'string' ? Buffer.from(hashKey, 'utf8') : Buffer.from(hashKey);
  // A short or empty key would make hashes of low-entropy values (phones, SSNs) reversible by guessing.
  if (bytes.length < 16) throw new AirlockError('invalid_config', 'the masking hash key must be at least 16 bytes');
  return bytes;
}

/** The function that masks a whole cell with `strategy`; null in, null out. */
export function createStrategy(strategy: MaskStrategy, options: { hashKey: Uint8Array | string }): MaskValue {
  switch (strategy) {
    case 'redact':
      return (value) => (value === null || value === undefined ? null : REDACTED);
    case 'null':
      return () => null;
    case 'email':
      return textMask(maskEmail);
    case 'last4':
      return textMask(maskLast4);
    case 'hash':
      return textMask(createHashMask(options.hashKey));
  }
}

function textMask(mask: (text: string) => string): MaskValue {
  return (value) => {
    const text = cellText(value);
    return text === null ? null : mask(text);
  };
}
