// Creates the local stack's secrets.json (mode 0600) on first start and reads it on every start.
// Holds the admin credential and Airlock's keys; nothing here is ever printed.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { SecretSource } from '../shared/secrets/index.ts';
import {
  createFileSecretSource,
  DatabaseSecret,
  GrantJwksSecret,
  QueryKeysSecret,
  readSecret,
  SECRET_NAMES,
  SigningKeysSecret,
} from '../shared/secrets/index.ts';

export const LOCAL_ADMIN_SECRET = 'airlock/shop/admin';

export async function ensureLocalSecrets(path: string, pgPort: number): Promise<SecretSource> {
  if (!existsSync(path)) {
    await mkdir(dirname(path), { recursive: true });
    const signing = await newSigningKey();
    const devIssuer = await newSigningKey();
    const secrets = {
      [LOCAL_ADMIN_SECRET]: {
        host: '127.0.0.1',
        port: pgPort,
        username: 'postgres',
        password: token(24),
        dbname: 'shop',
      },
      [SECRET_NAMES.signingKeys]: { keys: [signing.privateJwk] },
      [SECRET_NAMES.grantJwks]: { keys: [signing.publicJwk] },
      [SECRET_NAMES.queryKeys]: newQueryKeys(),
      [SECRET_NAMES.devIssuer]: { keys: [devIssuer.privateJwk] },
    };
    await writeFile(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  }
  // An existing file readable by others is refused (by the file source), not quietly tightened: its keys may have leaked.
  await updateSecretsFile(path, pgPort);
  const source = createFileSecretSource(path);
  // Validate every secret now, so a missing or corrupt one stops the start with a clear message.
  await readSecret(source, LOCAL_ADMIN_SECRET, DatabaseSecret);
  await readSecret(source, SECRET_NAMES.signingKeys, SigningKeysSecret);
  await readSecret(source, SECRET_NAMES.grantJwks, GrantJwksSecret);
  await readSecret(source, SECRET_NAMES.queryKeys, QueryKeysSecret);
  await readSecret(source, SECRET_NAMES.devIssuer, SigningKeysSecret);
  return source;
}

/**
 * A data dir from an older version, or started again on another AIRLOCK_PG_PORT: keys added since are
 * generated (existing keys are never replaced), and the admin secret follows where Postgres listens.
 */
async function updateSecretsFile(path: string, pgPort: number): Promise<void> {
  let all: Record<string, unknown>;
  try {
    all = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return; // the secret source reports the broken file
  }
  let changed = false;
  const admin = all[LOCAL_ADMIN_SECRET];
  if (typeof admin === 'object' && admin !== null && (admin as { port?: unknown }).port !== pgPort) {
    all[LOCAL_ADMIN_SECRET] = { ...admin, port: pgPort };
    changed = true;
  }
  const queryKeys = all[SECRET_NAMES.queryKeys];
  if (typeof queryKeys === 'object' && queryKeys !== null) {
    const missing = Object.entries(newQueryKeys()).filter(([name]) => !(name in queryKeys));
    if (missing.length > 0) {
      all[SECRET_NAMES.queryKeys] = { ...queryKeys, ...Object.fromEntries(missing) };
      changed = true;
    }
  }
  if (changed) await writeFile(path, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
}

function newQueryKeys(): QueryKeysSecret {
  return { roleKey: token(32), maskingKey: token(32), auditKey: token(32) };
}

function token(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

async function newSigningKey(): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `k-${new Date().toISOString().slice(0, 10)}-${token(4)}`;
  const meta = { kid, alg: 'ES256', use: 'sig' };
  return {
    privateJwk: { ...(await exportJWK(privateKey)), ...meta },
    publicJwk: { ...(await exportJWK(publicKey)), ...meta },
  };
}
