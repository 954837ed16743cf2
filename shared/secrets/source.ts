// One interface for secrets, whatever holds them: a local JSON file or AWS Secrets Manager.
// Values are returned parsed and never logged; a missing secret is a configuration error.

import { z } from 'zod';
import { AirlockError } from '../errors.ts';

export interface SecretSource {
  /** The secret's JSON value. */
  getJson(name: string): Promise<unknown>;
}

/** Reads a secret and validates its shape, naming the secret (never its value) on failure. */
export async function readSecret<T extends z.ZodType>(
  source: SecretSource,
  name: string,
  schema: T,
): Promise<z.infer<T>> {
  const value = await source.getJson(name);
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => issue.path.join('.') || '(value)').join(', ');
    throw new AirlockError('invalid_config', `secret "${name}" has the wrong shape (check: ${fields})`);
  }
  return parsed.data;
}

/** The admin credential of a connection: the shape RDS writes. */
export const DatabaseSecret = z.object({
  host: z.string().min(1),
  port: z.coerce.number().int().min(1).max(65535).default(5432),
  username: z.string().min(1),
  password: z.string().min(1),
  dbname: z.string().min(1),
});
export type DatabaseSecret = z.infer<typeof DatabaseSecret>;

const Jwk = z.looseObject({ kty: z.string(), kid: z.string().min(1) });

/** Private signing keys of grant tokens and approval links; the first one signs. */
export const SigningKeysSecret = z.object({ keys: z.array(Jwk.extend({ d: z.string().min(1) })).min(1) });
export type SigningKeysSecret = z.infer<typeof SigningKeysSecret>;

/** Public keys the query side verifies grant tokens with. */
export const GrantJwksSecret = z.object({ keys: z.array(Jwk).min(1) });
export type GrantJwksSecret = z.infer<typeof GrantJwksSecret>;

/**
 * Keys of the query side: role passwords are HMAC(roleKey, grantId); hash masking uses maskingKey; every
 * audit event's hash is an HMAC under auditKey (whoever can write the audit table cannot recompute a chain).
 */
export const QueryKeysSecret = z.object({
  roleKey: z.string().min(32),
  maskingKey: z.string().min(32),
  auditKey: z.string().min(32),
});
export type QueryKeysSecret = z.infer<typeof QueryKeysSecret>;

export const SECRET_NAMES = {
  signingKeys: 'airlock/signing-keys',
  grantJwks: 'airlock/grant-jwks',
  queryKeys: 'airlock/query-keys',
  devIssuer: 'airlock/dev-issuer',
} as const;
