// RFC 5322 messages for the outbox: multipart/alternative with a quoted-printable text part and a
// base64 HTML part, and the reader the dev outbox uses. Must never let a value break out of its header.

export interface MimeMessage {
  from: string;
  to: string[];
  subject: string;
  date: Date;
  messageId: string;
  text: string;
  html: string;
  /** Extra headers (name → value): names are tokens, values one line of printable ASCII, or the message is refused. */
  headers?: Record<string, string>;
}

export interface ParsedMessage {
  /** Header names lower-case, values unfolded and decoded. */
  headers: Record<string, string>;
  text: string;
  html: string;
}

const ADDRESS = /^[^\s<>()[\],;:"\\@]+@[^\s<>()[\],;:"\\@]+$/;
const HEADER_NAME = /^X-[A-Za-z0-9-]+$/;
const HEADER_VALUE = /^[\x21-\x7e]{1,900}$/;
const CRLF = '\r\n';

export function buildMessage(message: MimeMessage, boundary: string): string {
  for (const address of message.to)
    if (!ADDRESS.test(address)) throw new Error('refusing to write a message to an unsafe address');
  const extra = Object.entries(message.headers ?? {});
  for (const [name, value] of extra)
    if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(value)) throw new Error('refusing to write an unsafe header');
  const headers = [
    `From: ${oneLine(message.from)}`,
    `To: ${message.to.join(', ')}`,
    `Subject: ${encodeHeader(message.subject)}`,
    `Date: ${message.date.toUTCString().replace(/GMT$/, '+0000')}`,
    `Message-ID: <${oneLine(message.messageId)}>`,
    ...extra.map(([name, value]) => `${name}: ${value}`),
    'MIME-Version: 1.0',
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
  ];
  const parts = [
    [
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      encodeQuotedPrintable(message.text),
    ].join(CRLF),
    [
      'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      encodeBase64(message.html),
    ].join(CRLF),
  ];
  return [...headers, '', ...parts.flatMap((part) => [`--${boundary}`, part]), `--${boundary}--`, ''].join(CRLF);
}

export function parseMessage(raw: string): ParsedMessage {
  const { headers, body } = splitEntity(raw);
  const parsed: ParsedMessage = { headers, text: '', html: '' };
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(headers['content-type'] ?? '')?.[1];
  const entities = boundary
    ? body
        .split(`--${boundary}`)
        .slice(1, -1)
        .map((part) => splitEntity(part.replace(/^\r?\n/, '')))
    : [{ headers, body }];
  for (const entity of entities) {
    const content = decodeBody(entity.body, entity.headers['content-transfer-encoding'] ?? '7bit');
    const type = (entity.headers['content-type'] ?? 'text/plain').toLowerCase();
    if (type.startsWith('text/html')) parsed.html = content;
    else if (type.startsWith('text/plain')) parsed.text = content;
  }
  return parsed;
}

function splitEntity(raw: string): { headers: Record<string, string>; body: string } {
  const match = /\r?\n\r?\n/.exec(raw);
  const head = match ? raw.slice(0, match.index) : raw;
  const body = match ? raw.slice(match.index + match[0].length) : '';
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = decodeHeader(line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function oneLine(value: string): string {
  return value.replace(/[\r\n\t]+/g, ' ').trim();
}

/** RFC 2047 B-encoding when the value is not plain printable ASCII, in words short enough for 76-character lines. */
function encodeHeader(value: string): string {
  const line = oneLine(value);
  if (/^[\x20-\x7e]*$/.test(line))
    return line.replace(/(.{1,66})(?: |$)/g, (_chunk, words: string, at: number) =>
      at === 0 ? words : `${CRLF} ${words}`,
    );
  const words: string[] = [];
  let chunk = '';
  for (const char of line) {
    if (Buffer.byteLength(chunk + char) > 39) {
      words.push(chunk);
      chunk = '';
    }
    chunk += char;
  }
  if (chunk) words.push(chunk);
  return words.map((word) => `=?UTF-8?B?${Buffer.from(word).toString('base64')}?=`).join(`${CRLF} `);
}

function decodeHeader(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[bq]\?[^?]*\?=)\s+(?==\?)/gi, '$1')
    .replace(/=\?([^?]+)\?([bq])\?([^?]*)\?=/gi, (_all, _charset: string, encoding: string, text: string) =>
      encoding.toLowerCase() === 'b'
        ? Buffer.from(text, 'base64').toString('utf8')
        : decodeQuotedPrintable(text.replace(/_/g, ' ')),
    );
}

function encodeBase64(text: string): string {
  return (
    Buffer.from(text, 'utf8')
      .toString('base64')
      .match(/.{1,76}/g) ?? []
  ).join(CRLF);
}

function encodeQuotedPrintable(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => {
      const bytes = Buffer.from(line, 'utf8');
      let out = '';
      let current = '';
      bytes.forEach((byte, index) => {
        const last = index === bytes.length - 1;
        const literal = (byte >= 33 && byte <= 126 && byte !== 61) || ((byte === 32 || byte === 9) && !last);
        const piece = literal ? String.fromCharCode(byte) : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
        if (current.length + piece.length > 75) {
          out += `${current}=${CRLF}`;
          current = '';
        }
        current += piece;
      });
      return out + current;
    })
    .join(CRLF);
}

function decodeQuotedPrintable(text: string): string {
  const joined = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const hex = joined[i] === '=' ? joined.slice(i + 1, i + 3) : '';
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(...Buffer.from(joined[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeBody(body: string, encoding: string): string {
  const trimmed = body.replace(/\r?\n$/, '');
  switch (encoding.toLowerCase()) {
    case 'base64':
      return Buffer.from(trimmed.replace(/\s+/g, ''), 'base64').toString('utf8');
    case 'quoted-printable':
      return decodeQuotedPrintable(trimmed).replace(/\r\n/g, '\n');
    default:
      return trimmed.replace(/\r\n/g, '\n');
  }
}
