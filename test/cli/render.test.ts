import { describe, expect, it } from 'vitest';
import { postgresArray, valueText } from '../../cli/pg-text.ts';
import { type ResultColumn, renderColumns, renderCsv, renderResultTable, styleFor } from '../../cli/render.ts';

const plain = styleFor({ write: () => {}, isTTY: false }, {});
const column = (name: string, type: string, masked: string | null = null): ResultColumn => ({ name, type, masked });
// How the API answered for bytea before it sent `\x…` text: JSON.stringify of a Node Buffer.
const bufferJson = (bytes: number[]) => JSON.parse(JSON.stringify(Buffer.from(bytes)));

describe('values as psql prints them', () => {
  it.each([
    ['bytea the API sends as a JSON Buffer', bufferJson([0, 1, 0xab, 0xff]), 'bytea', '\\x0001abff'],
    ['bytea the API sends as hex text', '\\x0001abff', 'bytea', '\\x0001abff'],
    ['an empty bytea', bufferJson([]), 'bytea', '\\x'],
    ['int4[]', [1, 2, 3], 'int4[]', '{1,2,3}'],
    ['an empty array', [], 'int4[]', '{}'],
    [
      'a nested array',
      [
        [1, 2],
        [3, 4],
      ],
      'int4[]',
      '{{1,2},{3,4}}',
    ],
    ['text[] with NULL', ['a', null, 'b'], 'text[]', '{a,NULL,b}'],
    [
      'text[] needing quotes',
      ['a b', 'c,d', 'q"q', 'back\\slash', '', 'NULL', 'null', '{x}'],
      'text[]',
      '{"a b","c,d","q\\"q","back\\\\slash","","NULL","null","{x}"}',
    ],
    ['bool[]', [true, false, null], 'bool[]', '{t,f,NULL}'],
    ['bytea[] as JSON Buffers', [bufferJson([1]), bufferJson([2, 3])], 'bytea[]', '{"\\\\x01","\\\\x0203"}'],
    ['bytea[] as hex text', ['\\x01'], 'bytea[]', '{"\\\\x01"}'],
    ['jsonb[] elements', [{ a: 1 }, [1, 2]], 'jsonb[]', '{"{\\"a\\":1}","[1,2]"}'],
    ['a json column holding an array', [1, 2], 'jsonb', '[1,2]'],
    ['a json column holding a string', 'x', 'json', '"x"'],
    [
      'a json column holding a Buffer-shaped object',
      { type: 'Buffer', data: [1] },
      'jsonb',
      '{"type":"Buffer","data":[1]}',
    ],
    ['an array of unknown type', ['x y'], 'oid:16385', '{"x y"}'],
    ['a timestamp', '2026-01-02T03:04:05.000Z', 'timestamptz', '2026-01-02T03:04:05.000Z'],
    ['a number', 42, 'int4', '42'],
    ['a boolean', true, 'bool', 'true'],
  ])('%s', (_what, value, type, text) => {
    expect(valueText(value, column('c', type))).toBe(text);
  });

  it('leaves a masked value exactly as the strategy wrote it', () => {
    expect(valueText('[REDACTED]', column('b', 'bytea', 'redact'))).toBe('[REDACTED]');
    expect(valueText('a***@example.com', column('e', 'text[]', 'email'))).toBe('a***@example.com');
  });

  it('is null for SQL NULL', () => {
    expect(valueText(null, column('c', 'bytea'))).toBeNull();
    expect(valueText(undefined, column('c', 'int4[]'))).toBeNull();
  });

  it('quotes array elements as array_out does, for every whitespace it quotes', () => {
    expect(postgresArray(['a\tb', 'a\nb', 'a\rb', 'a\vb', 'a\fb', 'plain'])).toBe(
      '{"a\tb","a\nb","a\rb","a\vb","a\fb",plain}',
    );
  });
});

describe('the result table', () => {
  it('keeps the psql look: | between columns, a -+- rule, masked columns starred, numbers right', () => {
    const table = renderResultTable(
      [column('id', 'int4'), column('name', 'text'), column('email', 'text', 'email')],
      [
        [1, 'Alice', 'a***@example.com'],
        [1000, null, 'b***@example.com'],
      ],
      plain,
    );
    expect(table.split('\n')).toEqual([
      ' id   | name  | email*',
      '------+-------+------------------',
      '    1 | Alice | a***@example.com',
      ' 1000 | NULL  | b***@example.com',
      '',
    ]);
  });

  it('measures wide characters, so columns stay aligned', () => {
    const lines = renderResultTable(
      [column('word', 'text'), column('n', 'int4')],
      [
        ['日本語', 1],
        ['ascii', 2],
        ['😀😀', 3],
      ],
      plain,
    ).split('\n');
    // Each CJK character and emoji takes two terminal columns: the | lines up under the header's.
    const bar = (line: string) =>
      Array.from(line.slice(0, line.indexOf('|'))).reduce(
        (width, char) => width + (/[\u3000-\u9fff]|\p{Extended_Pictographic}/u.test(char) ? 2 : 1),
        0,
      );
    const positions = [lines[0]!, lines[2]!, lines[3]!, lines[4]!].map(bar);
    expect(new Set(positions).size).toBe(1);
    expect(lines[2]).toBe(' 日本語 | 1');
  });

  it('prints bytea as hex and arrays in Postgres form', () => {
    const table = renderResultTable(
      [column('b', 'bytea'), column('a', 'int4[]'), column('t', 'text[]')],
      [[bufferJson([0xde, 0xad]), [1, 2, 3], ['x y', null]]],
      plain,
    );
    expect(table).toContain(' \\xdead | {1,2,3} | {"x y",NULL}');
  });

  it('never lets a value drive the terminal: control characters are escaped', () => {
    const table = renderResultTable(
      [column('t', 'text')],
      [['red\u001b[31m'], ['bell\u0007'], ['two\nlines\ttab'], ['c1\u009b']],
      plain,
    );
    expect(table.replace(/\n/g, '')).not.toMatch(/\p{Cc}/u);
    expect(table).toContain('red\\u001b[31m');
    expect(table).toContain('bell\\u0007');
    expect(table).toContain('two\\nlines\\ttab');
    expect(table).toContain('c1\\u009b');
  });

  it('clips a long value to 60 characters', () => {
    const table = renderResultTable([column('t', 'text')], [['x'.repeat(100)]], plain);
    expect(table.split('\n')[2]).toBe(` ${'x'.repeat(59)}…`);
  });
});

describe('CSV', () => {
  it('is RFC 4180 with the same value text as the table, NULL empty', () => {
    const csv = renderCsv(
      [column('b', 'bytea'), column('a', 'text[]'), column('j', 'jsonb'), column('n', 'int4')],
      [
        [bufferJson([1, 2]), ['a,b', 'c'], { k: 'v' }, null],
        ['\\x03', [], [1], 7],
      ],
    );
    expect(csv).toBe('b,a,j,n\r\n\\x0102,"{""a,b"",c}","{""k"":""v""}",\r\n\\x03,{},[1],7\r\n');
  });

  it('keeps line breaks inside a quoted field', () => {
    expect(renderCsv([column('t', 'text')], [['a\nb']])).toBe('t\r\n"a\nb"\r\n');
  });
});

describe('lists', () => {
  it('aligns columns two spaces apart, wide characters measured', () => {
    expect(
      renderColumns(
        ['id', 'reason'],
        [
          ['a1', '調査'],
          ['b22', 'fix'],
        ],
        plain,
      ),
    ).toBe('id   reason\na1   調査\nb22  fix\n');
  });
});
