// How the CLI shows things to people: psql-like tables with masked columns marked, CSV, durations,
// and a little colour on terminals (never when NO_COLOR is set or output is piped). Tables are laid
// out by `table`, which measures wide characters; control characters never reach the terminal.

import { createRequire } from 'node:module';
import type { table as Table } from 'table';
import { valueText } from './pg-text.ts';

// Loaded on first use: the layout library (and its validators) would slow every command's start.
let loadedTable: typeof Table | undefined;
const table: typeof Table = (data, config) => {
  loadedTable ??= (createRequire(import.meta.url)('table') as { table: typeof Table }).table;
  return loadedTable(data, config);
};

export interface Output {
  write(text: string): void;
  isTTY: boolean;
}

export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
}

export function styleFor(output: Output, env: Record<string, string | undefined>): Style {
  const on = output.isTTY && !env.NO_COLOR && env.TERM !== 'dumb';
  const paint = (open: number, close: number) => (text: string) =>
    on ? `\u001b[${open}m${text}\u001b[${close}m` : text;
  return { bold: paint(1, 22), dim: paint(2, 22), red: paint(31, 39), green: paint(32, 39), yellow: paint(33, 39) };
}

export interface ResultColumn {
  name: string;
  type: string;
  masked: string | null;
}

const MAX_CELL = 60;
const NUMERIC = /^(int[248]|float[48]|numeric|money|oid)$/;
// Cc: U+0000–U+001F and U+007F–U+009F, the C0 and C1 controls and DEL.
const CONTROL = /\p{Cc}/gu;
const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Text for one table cell: control characters escaped (a value must not drive the terminal), one line. */
export function cellText(text: string): string {
  return text.replace(CONTROL, (char) => ESCAPES[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function clip(text: string, width: number): string {
  const chars = Array.from(text);
  return chars.length <= width ? text : `${chars.slice(0, width - 1).join('')}…`;
}

// psql's frame: `|` between columns, one `-+-` rule under the header, no outer border.
const PSQL_BORDER = {
  topBody: '',
  topJoin: '',
  topLeft: '',
  topRight: '',
  bottomBody: '',
  bottomJoin: '',
  bottomLeft: '',
  bottomRight: '',
  bodyLeft: '',
  bodyRight: '',
  bodyJoin: '|',
  joinLeft: '',
  joinRight: '',
  joinBody: '-',
  joinJoin: '+',
};
const NO_BORDER = Object.fromEntries(Object.keys(PSQL_BORDER).map((key) => [key, '']));

const trimLines = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');

/** psql-style table; masked columns carry a `*` and a footer names their strategies; numbers align right. */
export function renderResultTable(columns: ResultColumn[], rows: unknown[][], style: Style): string {
  const headers = columns.map((column) => style.bold(column.masked ? `${column.name}*` : column.name));
  const body = rows.map((row) =>
    columns.map((column, index) => {
      const text = valueText(row[index], column);
      return text === null ? style.dim('NULL') : clip(cellText(text), MAX_CELL);
    }),
  );
  const right = columns.flatMap((column, index) => (NUMERIC.test(column.type) ? [index] : []));
  return trimLines(
    table([headers, ...body], {
      border: PSQL_BORDER,
      drawHorizontalLine: (index) => index === 1,
      drawVerticalLine: (index, size) => index > 0 && index < size,
      columns: Object.fromEntries(right.map((index) => [index, { alignment: 'right' as const }])),
      // Headers stay left-aligned over right-aligned numbers, as today.
      spanningCells: right.map((col) => ({ row: 0, col, colSpan: 1, alignment: 'left' as const })),
    }),
  );
}

export function maskedFooter(columns: ResultColumn[]): string | undefined {
  const masked = columns.filter((column) => column.masked);
  if (!masked.length) return undefined;
  return `* masked: ${masked.map((column) => `${column.name} (${column.masked})`).join(', ')}`;
}

/** RFC 4180 CSV with a header row; NULL is an empty field; values in the same text form as the table. */
export function renderCsv(columns: ResultColumn[], rows: unknown[][]): string {
  const field = (text: string | null) => {
    if (text === null) return '';
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [
    columns.map((column) => field(column.name)),
    ...rows.map((row) => columns.map((column, index) => field(valueText(row[index], column)))),
  ]
    .map((line) => `${line.join(',')}\r\n`)
    .join('');
}

/** Plain aligned columns for lists (grants, audit events), two spaces apart. */
export function renderColumns(headers: string[], rows: string[][], style: Style): string {
  const last = headers.length - 1;
  return trimLines(
    table([headers.map(style.bold), ...rows.map((row) => row.map(cellText))], {
      border: NO_BORDER,
      drawHorizontalLine: () => false,
      drawVerticalLine: () => false,
      columnDefault: { paddingLeft: 0, paddingRight: 2 },
      columns: { [last]: { paddingLeft: 0, paddingRight: 0 } },
    }),
  );
}

/** `30m`, `1h5m`, `45s`, `2d`. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const parts: string[] = [];
  let left = Math.round(seconds);
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (left >= size) {
      parts.push(`${Math.floor(left / size)}${unit}`);
      left %= size;
    }
  }
  return parts.slice(0, 2).join('');
}

/** `+1.234s` from a start time, for timelines. */
export function offset(at: string, start: string): string {
  const ms = Date.parse(at) - Date.parse(start);
  return ms < 60_000 ? `+${(ms / 1000).toFixed(3)}s` : `+${formatSeconds(ms / 1000)}`;
}

/** `HH:MM:SS` UTC of an ISO time; the date only when it is not today's. */
export function clock(at: string | null | undefined, now = new Date()): string {
  if (!at) return '-';
  const iso = new Date(at).toISOString();
  return iso.slice(0, 10) === now.toISOString().slice(0, 10)
    ? `${iso.slice(11, 19)}Z`
    : `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
}
