// How the CLI shows things to people: aligned tables with masked columns marked, CSV, durations,
// and a little colour on terminals (never when NO_COLOR is set or output is piped).

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

/** A value as one line of text: NULL spelled out, JSON for objects, control characters escaped. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return text.replace(/\r?\n/g, '\\n').replace(/\t/g, '\\t');
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** psql-style table; masked columns carry a `*` and a footer names their strategies. */
export function renderResultTable(columns: ResultColumn[], rows: unknown[][], style: Style): string {
  const headers = columns.map((column) => (column.masked ? `${column.name}*` : column.name));
  const cells = rows.map((row) => columns.map((_, index) => clip(cellText(row[index]), MAX_CELL)));
  const widths = headers.map((header, index) => Math.max(header.length, ...cells.map((row) => row[index]!.length)));
  const right = columns.map((column) => NUMERIC.test(column.type));
  const pad = (text: string, index: number) =>
    right[index] ? text.padStart(widths[index]!) : text.padEnd(widths[index]!);
  const lines = [
    ` ${headers.map((header, index) => style.bold(header.padEnd(widths[index]!))).join(' | ')}`.trimEnd(),
    `-${widths.map((width) => '-'.repeat(width)).join('-+-')}-`,
    ...cells.map((row, r) =>
      ` ${row.map((cell, index) => (rows[r]![index] == null ? style.dim(pad(cell, index)) : pad(cell, index))).join(' | ')}`.trimEnd(),
    ),
  ];
  return `${lines.join('\n')}\n`;
}

export function maskedFooter(columns: ResultColumn[]): string | undefined {
  const masked = columns.filter((column) => column.masked);
  if (!masked.length) return undefined;
  return `* masked: ${masked.map((column) => `${column.name} (${column.masked})`).join(', ')}`;
}

/** RFC 4180 CSV with a header row; NULL is an empty field. */
export function renderCsv(columns: ResultColumn[], rows: unknown[][]): string {
  const field = (value: unknown) => {
    if (value === null || value === undefined) return '';
    const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [
    columns.map((column) => field(column.name)),
    ...rows.map((row) => columns.map((_, index) => field(row[index]))),
  ]
    .map((line) => `${line.join(',')}\r\n`)
    .join('');
}

/** Plain aligned columns for lists (grants, audit events). */
export function renderColumns(headers: string[], rows: string[][], style: Style): string {
  const widths = headers.map((header, index) =>
    Math.max(header.length, ...rows.map((row) => (row[index] ?? '').length)),
  );
  const line = (row: string[]) =>
    row
      .map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index]!)))
      .join('  ')
      .trimEnd();
  return `${[style.bold(line(headers)), ...rows.map(line)].join('\n')}\n`;
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
