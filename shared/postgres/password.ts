// Temporary roles' passwords: derived from the grant id with the role key, and the SCRAM verifier
// Postgres stores for them. Must never store a password, nor hand the plaintext to the server.

import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { AirlockError } from '../errors.ts';

const DEFAULT_ITERATIONS = 4096;
const SALT_BYTES = 16;

/** The role password of a grant: HMAC-SHA256(roleKey, grantId), base64url. Recomputed, never stored. */
export function derivePassword(roleKey: string, grantId: string): string {
  if (roleKey.length === 0 || grantId.length === 0)
    throw new AirlockError('invalid_request', 'a role password needs a role key and a grant id');
  return createHmac('sha256', roleKey).update(grantId).digest('base64url');
}

/**
 * The SCRAM-SHA-256 verifier (RFC 5802, RFC 7677) in PostgreSQL's storage format, so `CREATE ROLE …
 * PASSWORD '<verifier>'` sets the password without the plaintext reaching the server (or its logs).
 */
export function scramVerifier(password: string, options: { iterations?: number; salt?: Buffer } = {}): string {
  // Postgres SASLprep-normalizes passwords but leaves ASCII untouched; other input could hash differently.
  if (!/^[\x20-\x7e]+$/.test(password)) {
    throw new AirlockError('invalid_request', 'a role password must be non-empty printable ASCII');
  }
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 1)
    throw new AirlockError('invalid_request', 'SCRAM iterations must be a positive integer');
  const salt = options.salt ?? randomBytes(SALT_BYTES);
  if (salt.length === 0) throw new AirlockError('invalid_request', 'a SCRAM salt must not be empty');

  const saltedPassword = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', saltedPassword).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', saltedPassword).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
