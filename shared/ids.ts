// Identifiers for grants, approvals and links: 20 lower-case base-36 characters from 100+ random bits.
// They are unguessable and safe inside a Postgres role name without any escaping.

import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

export function newId(length = 20): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += ALPHABET[byte % 36];
  return out;
}

export const ID_PATTERN = /^[0-9a-z]{20}$/;
