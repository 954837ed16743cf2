// Masking strategies, cell by cell: what each reveals, and that nothing else ever leaks through.
// Must never compare against re-implemented crypto: the reference for `hash` is node:crypto itself.

import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import { cellText, createStrategy, maskEmail, maskLast4, REDACTED } from '../../shared/masking/strategies.ts';
import { MASK_STRATEGIES } from '../../shared/policy/schema.ts';

const hashKey = 'test-hash-key-0123456789';
const mask = (strategy: Parameters<typeof createStrategy>[0], value: unknown) =>
  createStrategy(strategy, { hashKey })(value);

describe('redact', () => {
  it('replaces any value, even an empty one', () => {
    expect(mask('redact', 'secret')).toBe(REDACTED);
    expect(mask('redact', '')).toBe(REDACTED);
    expect(mask('redact', 0)).toBe(REDACTED);
    expect(mask('redact', { ssn: '123-45-6789' })).toBe(REDACTED);
  });
});

describe('email', () => {
  it('keeps the first character and the domain', () => {
    expect(maskEmail('alice@example.com')).toBe('a***@example.com');
    expect(maskEmail('Bob.Smith+tag@mail.example.net')).toBe('B***@mail.example.net');
    expect(maskEmail('émile@exemple.fr')).toBe('é***@exemple.fr');
    expect(maskEmail('𝒜lice@example.com')).toBe('𝒜***@example.com');
  });

  it.each([
    ['not an email'],
    [''],
    ['@example.com'],
    ['alice@'],
    ['alice@localhost'],
    ['a@b@example.com'],
    ['{"email":"alice@example.com"}'],
    ['😀@example.com'],
    ['alice smith@example.com'],
    ['alice@exa mple.com'],
    ['alice@example.com and bob@example.org'],
  ])('redacts %j, which is not one address', (value) => {
    expect(maskEmail(value)).toBe(REDACTED);
  });

  it('redacts non-string values rather than guessing', () => {
    expect(mask('email', 42)).toBe(REDACTED);
    expect(mask('email', { email: 'alice@example.com' })).toBe(REDACTED);
  });
});

describe('last4', () => {
  it('shows only the last four characters', () => {
    expect(maskLast4('4242424242424242')).toBe('************4242');
    expect(maskLast4('12345')).toBe('*2345');
    expect(mask('last4', 4242424242424242)).toBe('************4242');
  });

  it('shows nothing of values shorter than five characters', () => {
    expect(maskLast4('1234')).toBe('****');
    expect(maskLast4('1')).toBe('*');
    expect(maskLast4('')).toBe('');
  });

  it('counts characters, not UTF-16 units', () => {
    expect(maskLast4('😀😀😀😀😀😀')).toBe('**😀😀😀😀');
    expect(maskLast4('😀😀😀😀')).toBe('****');
  });

  it('never reveals more than four characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (value) => {
        const masked = Array.from(maskLast4(value));
        expect(masked).toHaveLength(Array.from(value).length);
        expect(masked.filter((char) => char !== '*').length).toBeLessThanOrEqual(4);
      }),
    );
  });
});

describe('hash', () => {
  it('is HMAC-SHA256 with the key, cut to 16 hex characters', () => {
    const expected = createHmac('sha256', hashKey).update('+1-415-555-2671').digest('hex').slice(0, 16);
    expect(mask('hash', '+1-415-555-2671')).toBe(`hash:${expected}`);
  });

  it('is stable for one key and differs between keys and values', () => {
    const other = createStrategy('hash', { hashKey: 'another-key-0123456789' });
    expect(mask('hash', 'x')).toBe(mask('hash', 'x'));
    expect(mask('hash', 'x')).not.toBe(mask('hash', 'y'));
    expect(other('x')).not.toBe(mask('hash', 'x'));
    expect(mask('hash', 'x')).toMatch(/^hash:[0-9a-f]{16}$/);
  });

  it('accepts the key as bytes', () => {
    const bytes = new TextEncoder().encode(hashKey);
    expect(createStrategy('hash', { hashKey: bytes })('x')).toBe(mask('hash', 'x'));
  });

  it('hashes the text form of non-string values', () => {
    expect(mask('hash', 42)).toBe(mask('hash', '42'));
    expect(mask('hash', { a: [1, 'b'] })).toBe(mask('hash', '{"a":[1,"b"]}'));
  });

  it.each([[''], ['short'], [new Uint8Array(15)]])('refuses a key shorter than 16 bytes (%j)', (key) => {
    let caught: unknown;
    try {
      createStrategy('hash', { hashKey: key });
    } catch (error) {
      caught = error;
    }
    expect(isAirlockError(caught, 'invalid_config')).toBe(true);
  });
});

describe('null', () => {
  it('drops every value', () => {
    expect(mask('null', 'secret')).toBeNull();
    expect(mask('null', { a: 1 })).toBeNull();
  });
});

describe('every strategy', () => {
  it.each(MASK_STRATEGIES)('%s keeps null and undefined as null', (strategy) => {
    expect(mask(strategy, null)).toBeNull();
    expect(mask(strategy, undefined)).toBeNull();
  });

  it.each(MASK_STRATEGIES)('%s returns a string or null for any value', (strategy) => {
    const masker = createStrategy(strategy, { hashKey });
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.date(), fc.bigInt(), fc.uint8Array()), (value) => {
        const masked = masker(value);
        expect(masked === null || typeof masked === 'string').toBe(true);
      }),
    );
  });
});

describe('cellText', () => {
  it('prints values the way they reach the client', () => {
    expect(cellText(new Date('2030-01-02T03:04:05Z'))).toBe('2030-01-02T03:04:05.000Z');
    expect(cellText(12n)).toBe('12');
    expect(cellText(true)).toBe('true');
    expect(cellText(new Uint8Array([0xde, 0xad]))).toBe('\\xdead');
    expect(cellText({ a: 1n, b: [null] })).toBe('{"a":"1","b":[null]}');
    expect(cellText(null)).toBeNull();
  });
});
