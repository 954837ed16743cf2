// Content detectors: each finds its values inside larger text (JSON, lists), and leaves look-alikes alone.
// Must never rely on a detector's order of application in an assertion other than the documented one.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDetectorScan, ibanValid, luhnValid, maskDetected } from '../../shared/masking/detectors.ts';
import { REDACTED } from '../../shared/masking/strategies.ts';
import { DETECTORS } from '../../shared/policy/schema.ts';

const all = createDetectorScan(DETECTORS);
const only = (...detectors: Parameters<typeof createDetectorScan>[0]) => createDetectorScan(detectors);

describe('luhnValid', () => {
  it.each(['4242424242424242', '4111111111111111', '378282246310005', '6011111111111117', '5555555555554444'])(
    'accepts %s',
    (digits) => {
      expect(luhnValid(digits)).toBe(true);
    },
  );
  it.each(['4242424242424241', '4111111111111112', '1234567890123', '', '42424242424242x2'])('rejects %j', (digits) => {
    expect(luhnValid(digits)).toBe(false);
  });
});

describe('credit_card', () => {
  const scan = only('credit_card');
  it.each([
    ['4242424242424242', '************4242'],
    ['4242 4242 4242 4242', '************4242'],
    ['4242-4242-4242-4242', '************4242'],
    ['3782 822463 10005', '***********0005'],
    ['paid with 4111111111111111.', 'paid with ************1111.'],
    ['{"card":"4111111111111111","id":7}', '{"card":"************1111","id":7}'],
    ['4242424242424242, 5555555555554444', '************4242, ************4444'],
    ['4242424242424242 12 25', '************4242 12 25'],
    ['7 4242 4242 4242 4242 10.0.0.1', '7 ************4242 10.0.0.1'],
    ['1 4242424242424242 4111111111111111', '1 ************4242 ************1111'],
  ])('masks %j', (text, expected) => {
    expect(scan(text)).toBe(expected);
  });

  it.each([
    ['4242424242424241'],
    ['4242 4242 4242 4241'],
    ['42424242424242424242'],
    ['order 1234567890123'],
    ['4242  4242  4242  4242'],
    ['2023-01-27T17:06:22.245Z'],
  ])('leaves %j alone (Luhn-invalid, too long or not a card)', (text) => {
    expect(scan(text)).toBe(text);
  });
});

describe('email', () => {
  const scan = only('email');
  it.each([
    ['alice@example.com', 'a***@example.com'],
    ['write to alice.smith+x@mail.example.net today', 'write to a***@mail.example.net today'],
    ['{"email":"bob@example.org","n":1}', '{"email":"b***@example.org","n":1}'],
    ['alice@example.com, bob@example.org', 'a***@example.com, b***@example.org'],
    ['<émile@exemple.fr>', '<é***@exemple.fr>'],
  ])('masks %j', (text, expected) => {
    expect(scan(text)).toBe(expected);
  });

  it.each([['@example.com'], ['alice@'], ['alice@localhost'], ['a@b'], ['user@host.x1']])('leaves %j alone', (text) => {
    expect(scan(text)).toBe(text);
  });
});

describe('us_ssn', () => {
  const scan = only('us_ssn');
  it('redacts the dashed form, also inside text', () => {
    expect(scan('123-45-6789')).toBe(REDACTED);
    expect(scan('ssn=123-45-6789;')).toBe(`ssn=${REDACTED};`);
  });
  it.each([['123456789'], ['1123-45-6789'], ['123-45-67890'], ['12-345-6789']])(
    'leaves %j alone (bare digits are not matched)',
    (text) => {
      expect(scan(text)).toBe(text);
    },
  );
});

describe('phone', () => {
  const scan = only('phone');
  it.each([
    ['+14155552671'],
    ['+1-415-555-2671'],
    ['+1 (415) 555-2671'],
    ['(415) 555-2671'],
    ['415.555.2671'],
    ['415-555-2671'],
    ['+442071838750'],
  ])('redacts %j', (text) => {
    expect(scan(`call ${text} now`)).toBe(`call ${REDACTED} now`);
  });
  it.each([['4155552671'], ['2023-01-27 17:06:22'], ['v1.2.3'], ['+1234567'], ['order 415-555-26710']])(
    'leaves %j alone',
    (text) => {
      expect(scan(text)).toBe(text);
    },
  );
});

describe('iban', () => {
  const scan = only('iban');
  it.each([
    ['GB82WEST12345698765432', '******************5432'],
    ['GB82 WEST 1234 5698 7654 32', '******************5432'],
    ['DE89 3704 0044 0532 0130 00 is mine', '******************3000 is mine'],
    ['NL91ABNA0417164300', '**************4300'],
    ['iban: FR1420041010050500013M02606.', 'iban: ***********************2606.'],
  ])('masks %j', (text, expected) => {
    expect(scan(text)).toBe(expected);
  });
  it('stops at the last group that belongs to the IBAN', () => {
    expect(scan('DE89 3704 0044 0532 0130 00 ABCD')).toBe('******************3000 ABCD');
  });
  it.each([
    ['GB82WEST12345698765433'],
    ['ZZ82WEST12345698765432'],
    ['gb82west12345698765432'],
    ['XGB82WEST12345698765432'],
  ])('leaves %j alone', (text) => {
    expect(scan(text)).toBe(text);
  });
  it('checks country, length and mod 97', () => {
    expect(ibanValid('GB82WEST12345698765432')).toBe(true);
    expect(ibanValid('GB82WEST1234')).toBe(false);
    expect(ibanValid('GB82-WEST12345698765432')).toBe(false);
  });
});

describe('ipv4', () => {
  const scan = only('ipv4');
  it.each([['10.0.0.1'], ['192.168.100.254'], ['255.255.255.255']])('redacts %j', (text) => {
    expect(scan(`from ${text}.`)).toBe(`from ${REDACTED}.`);
  });
  it.each([['999.1.1.1'], ['1.2.3'], ['1.2.3.4.5'], ['10.0.0.256']])('leaves %j alone', (text) => {
    expect(scan(text)).toBe(text);
  });
});

describe('a set of detectors', () => {
  it('applies only the detectors it was given', () => {
    const text = 'alice@example.com 123-45-6789 4242424242424242 10.0.0.1';
    expect(only('email')(text)).toBe('a***@example.com 123-45-6789 4242424242424242 10.0.0.1');
    expect(only()(text)).toBe(text);
    expect(all(text)).toBe(`a***@example.com ${REDACTED} ************4242 ${REDACTED}`);
  });

  it('masks a row_to_json / string_agg text of a customers row', () => {
    const row =
      '{"id":1,"name":"Ada Lovelace","email":"ada.lovelace1@example.com","phone":"+1-415-555-2671",' +
      '"card_number":"4242424242424242","ssn":"123-45-6789","country":"GB","created_at":"2024-03-01T10:00:00+00:00"}';
    expect(all(row)).toBe(
      `{"id":1,"name":"Ada Lovelace","email":"a***@example.com","phone":"${REDACTED}",` +
        `"card_number":"************4242","ssn":"${REDACTED}","country":"GB","created_at":"2024-03-01T10:00:00+00:00"}`,
    );
  });

  it('leaves ordinary values alone', () => {
    for (const text of [
      'Ada Lovelace',
      'GB',
      '2024-03-01T10:00:00.000Z',
      '2024-03-01 10:00:00+00',
      '1234.56',
      'pending',
      '',
    ]) {
      expect(all(text)).toBe(text);
    }
  });

  it('never throws, and masking twice changes nothing more', () => {
    const pieces = fc.constantFrom(
      'alice@example.com',
      '4242 4242 4242 4242',
      '123-45-6789',
      '+14155552671',
      'GB82WEST12345698765432',
      '10.0.0.1',
      ' ',
      ',',
      '"',
      '@',
      '-',
      '.',
      '7',
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(pieces, fc.string()), { maxLength: 12 }), (parts) => {
        const once = all(parts.join(''));
        expect(all(once)).toBe(once);
      }),
      { numRuns: 500 },
    );
  });
});

describe('maskDetected', () => {
  it('walks JSON values, keeping their shape', () => {
    const value = {
      contact: { email: 'alice@example.com', tags: ['vip', '123-45-6789'] },
      card: 4242424242424242,
      'bob@example.org': true,
    };
    expect(maskDetected(value, all)).toEqual({
      contact: { email: 'a***@example.com', tags: ['vip', REDACTED] },
      card: '************4242',
      'b***@example.org': true,
    });
  });

  it('returns the same value when nothing is found', () => {
    const value = { name: 'Ada', n: [1, 2, 3], at: new Date(0) };
    expect(maskDetected(value, all)).toBe(value);
    expect(maskDetected(42, all)).toBe(42);
    expect(maskDetected(null, all)).toBeNull();
  });

  it('scans numbers and bigints as text', () => {
    expect(maskDetected(4242424242424242n, all)).toBe('************4242');
  });

  it('scans over-deep JSON as text instead of skipping it', () => {
    let deep: unknown = 'alice@example.com';
    for (let i = 0; i < 100; i++) deep = [deep];
    const masked = JSON.stringify(maskDetected(deep, all));
    expect(masked).toContain('a***@example.com');
    expect(masked).not.toContain('alice');
  });
});
