// The signature of a webhook delivery: `x-airlock-signature: sha256=<hex HMAC-SHA256 of the exact body>`.
// Receivers verify it with verifySignature (constant time); the key never leaves the secret source.

import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-airlock-signature';

export function signBody(key: string, body: string): string {
  return `sha256=${createHmac('sha256', key).update(body, 'utf8').digest('hex')}`;
}

/** Whether `header` is the signature of `body` under `key`. */
export function verifySignature(key: string, body: string, header: string | null | undefined): boolean {
  if (!header) return false;
  const expected = Buffer.from(signBody(key, body));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
