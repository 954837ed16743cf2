// Creates the local stack's secrets.json (mode 0600) on first start and reads it on every start.
// Holds the admin credential and Airlock's keys; nothing here is ever printed.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { createFileSecretSource, readSecret, DatabaseSecret, QueryKeysSecret, SigningKeysSecret, GrantJwksSecret, SECRET_NAMES } from '../shared/secrets/index.ts';
import type { SecretSource } from '../shared/secrets/index.ts';

export const LOCAL_ADMIN_SECRET = 'airlock/shop/admin';

export async function ensureLocalSecrets(path: string, pgPort: number): Promise<SecretSource> {
  if (!existsSync(path)) {
    await mkdir(dirname(path), { recursive: true });
    const signing = await newSigningKey();
    const devIssuer = await newSigningKey();
    const secrets = {
      [LOCAL_ADMIN_SECRET]: { host: '127.0.0.1', port: pgPort, username: 'postgres', password: token(24), dbname: 'shop' },
      [SECRET_NAMES.signingKeys]: { keys: [signing.privateJwk] },
      [SECRET_NAMES.grantJwks]: { keys: [signing.publicJwk] },
      [SECRET_NAMES.queryKeys]: { roleKey: token(32), maskingKey: token(32) },
      [SECRET_NAMES.devIssuer]: { keys: [devIssuer.privateJwk] },
    };
    await writeFile(path, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  }
  await chmod(path, 0o600);
  const source = createFileSecretSource(path);
  const admin = await readSecret(source, LOCAL_ADMIN_SECRET, DatabaseSecret);
  if (admin.port !== pgPort) {
    // The data dir was first started on another port: keep the secret true to where Postgres listens now.
    const { readFile } = await import('node:fs/promises');
    const all = JSON.parse(await readFile(path, 'utf8')) as Record<string, Record<string, unknown>>;
    all[LOCAL_ADMIN_SECRET] = { ...all[LOCAL_ADMIN_SECRET], port: pgPort };
    await writeFile(path, JSON.stringify(all, null, 2) + '\n', { mode: 0o600 });
    return ensureLocalSecrets(path, pgPort);
  }
  // Validate every key now, so a missing or corrupt key stops the start with a clear message.
  await readSecret(source, SECRET_NAMES.signingKeys, SigningKeysSecret);
  await readSecret(source, SECRET_NAMES.grantJwks, GrantJwksSecret);
  await readSecret(source, SECRET_NAMES.queryKeys, QueryKeysSecret);
  return source;
}

function token(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

async function newSigningKey(): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `k-${new Date().toISOString().slice(0, 10)}-${token(4)}`;
  const meta = { kid, alg: 'ES256', use: 'sig' };
  return { privateJwk: { ...(await exportJWK(privateKey)), ...meta }, publicJwk: { ...(await exportJWK(publicKey)), ...meta } };
}
