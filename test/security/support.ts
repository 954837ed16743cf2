// What the adversarial suites share: grants opened over HTTP, the seeded sensitive values (and their
// obvious transforms) no response may carry, a raw-bytes HTTP client, and the API's error-shape check.

import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';
import { uniqueSchema as uniqueSchemaNamed, withAdmin } from '../support/stack.ts';

export { type OpenGrant, openGrant, query, statementEvents, withAdmin } from '../support/stack.ts';

export const uniqueSchema = () => uniqueSchemaNamed('sec');

/** A JS stack frame, or a source path of this code base or its dependencies. */
const STACK_TRACE =
  /\n\s*at\s|\(\S+:\d+:\d+\)|node_modules|file:\/\/|(?:\/[\w.-]+)+\.(?:ts|js|mjs|cjs)\b|\/shared\/(?:http|query|sql|identity)\//;

/** The API's error shape: `{error: {code, message}}`, nothing that looks like a stack trace. */
export function expectErrorShape(
  status: number,
  text: string,
  context = '',
): { code: string; message: string; [field: string]: unknown } {
  const where = `${status} ${context} ${text.slice(0, 300)}`;
  expect(STACK_TRACE.test(text), `stack trace or path in ${where}`).toBe(false);
  let body: unknown;
  expect(() => (body = JSON.parse(text)), `not JSON: ${where}`).not.toThrow();
  const error = (body as { error?: unknown }).error as { code?: unknown; message?: unknown } | undefined;
  expect(typeof error?.code, `error.code in ${where}`).toBe('string');
  expect(typeof error?.message, `error.message in ${where}`).toBe('string');
  return error as { code: string; message: string };
}

export function expectNoStackTrace(text: string, context = ''): void {
  expect(STACK_TRACE.test(text), `stack trace or path in ${context} ${text.slice(0, 300)}`).toBe(false);
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** HTTP over a socket with the body as bytes (invalid UTF-8 included) and headers exactly as given. */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Uint8Array,
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    // A fresh connection each time: a reused keep-alive socket the server just closed would fail the next request.
    const options = {
      host: url.hostname,
      port: url.port,
      method,
      path,
      agent: false,
      headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) },
    };
    const request = httpRequest(options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    if (body) request.write(body);
    request.end();
  });
}

export interface SensitiveRow {
  id: number;
  email: string;
  phone: string;
  card_number: string;
  ssn: string;
}

/** Every seeded email, phone, card number and SSN, read as the admin. */
export async function seededSensitive(): Promise<SensitiveRow[]> {
  return withAdmin(
    async (admin) =>
      (await admin.query('SELECT id, email, phone, card_number, ssn FROM public.customers ORDER BY id'))
        .rows as SensitiveRow[],
  );
}

/**
 * A value and its obvious transforms: upper/lower case, reversed, base64, hex (of its UTF-8 bytes, as
 * `encode(…, 'hex')` and bytea print it), md5, and its digits alone when there are at least nine.
 */
export function leakForms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const digits = value.replace(/\D/g, '');
  const forms = [
    value,
    value.toUpperCase(),
    value.toLowerCase(),
    [...value].reverse().join(''),
    bytes.toString('base64'),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('hex'),
    createHash('md5').update(bytes).digest('hex'),
    ...(digits.length >= 9 ? [digits] : []),
  ];
  return [...new Set(forms)];
}

/** Finds every seeded sensitive value, or an obvious transform of one, in a response text. */
export function createLeakScan(rows: SensitiveRow[]): (text: string) => string[] {
  const forms = new Map<string, string>();
  for (const row of rows) {
    for (const value of [row.email, row.phone, row.card_number, row.ssn]) {
      for (const form of leakForms(value)) forms.set(form, value);
    }
  }
  return (text) => {
    const found: string[] = [];
    for (const [form, value] of forms) if (text.includes(form)) found.push(`${form} (from ${value})`);
    return found;
  };
}
