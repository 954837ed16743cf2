// A missing or corrupt local secret stops the start with a message that names it and never shows a value.
// Every case runs on a throw-away data dir; no Postgres is started for any of them.

import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureLocalSecrets, LOCAL_ADMIN_SECRET } from '../../local/secrets.ts';
import { startLocalStack } from '../../local/stack.ts';
import { isAirlockError } from '../../shared/errors.ts';
import { SECRET_NAMES } from '../../shared/secrets/index.ts';
import { freePort } from '../global-setup.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A data dir with a valid secrets.json, then `corrupt` applied to it; returns the path and every value it held. */
async function corruptedSecrets(corrupt: (path: string, secrets: Record<string, any>) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-secrets-'));
  dirs.push(dir);
  const path = join(dir, 'secrets.json');
  await ensureLocalSecrets(path, 54329);
  const secrets = JSON.parse(await readFile(path, 'utf8')) as Record<string, any>;
  await corrupt(path, secrets);
  return { dir, path, values: secretValues(secrets) };
}

/** Every string long enough to be a secret (passwords, keys, JWK members) in the original file. */
function secretValues(value: unknown): string[] {
  if (typeof value === 'string') return value.length >= 12 ? [value] : [];
  if (value && typeof value === 'object') return Object.values(value).flatMap(secretValues);
  return [];
}

const write = (path: string, secrets: unknown) => writeFile(path, JSON.stringify(secrets), { mode: 0o600 });

const cases: Array<[string, (path: string, secrets: Record<string, any>) => Promise<void>, RegExp]> = [
  [
    'the signing keys are missing',
    async (path, secrets) => {
      delete secrets[SECRET_NAMES.signingKeys];
      await write(path, secrets);
    },
    /secret "airlock\/signing-keys" is missing/,
  ],
  [
    'a signing key lost its private part',
    async (path, secrets) => {
      delete secrets[SECRET_NAMES.signingKeys].keys[0].d;
      await write(path, secrets);
    },
    /secret "airlock\/signing-keys" has the wrong shape \(check: keys\.0\.d\)/,
  ],
  [
    'the query keys are too short',
    async (path, secrets) => {
      secrets[SECRET_NAMES.queryKeys].roleKey = secrets[SECRET_NAMES.queryKeys].roleKey.slice(0, 16);
      await write(path, secrets);
    },
    /secret "airlock\/query-keys" has the wrong shape \(check: roleKey\)/,
  ],
  [
    'the admin credential has no password',
    async (path, secrets) => {
      secrets[LOCAL_ADMIN_SECRET].password = '';
      await write(path, secrets);
    },
    /secret "airlock\/shop\/admin" has the wrong shape \(check: password\)/,
  ],
  [
    'the file is not JSON',
    async (path) => {
      const text = await readFile(path, 'utf8');
      await writeFile(path, text.slice(0, text.length / 2), { mode: 0o600 });
    },
    /secrets file .*secrets\.json is not a JSON object/,
  ],
  [
    'the file is readable by others (0644)',
    async (path) => {
      await chmod(path, 0o644);
    },
    /secrets file .*secrets\.json must have mode 0600/,
  ],
];

describe('local secrets', () => {
  it.each(cases)(
    'ensureLocalSecrets refuses when %s, naming it and showing no value',
    async (_name, corrupt, message) => {
      const { path, values } = await corruptedSecrets(corrupt);
      const error = await ensureLocalSecrets(path, 54329).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isAirlockError(error, 'invalid_config'), String(error)).toBe(true);
      const text = (error as Error).message;
      expect(text).toMatch(message);
      expect(values.filter((value) => text.includes(value))).toEqual([]);
    },
  );

  it.each(cases)(
    'startLocalStack refuses to start when %s, before Postgres is started',
    async (_name, corrupt, message) => {
      const { dir, values } = await corruptedSecrets(corrupt);
      const config = {
        host: '127.0.0.1',
        port: await freePort(),
        pgPort: await freePort(),
        dataDir: dir,
        policyPath: new URL('../../airlock.policy.yaml', import.meta.url).pathname,
      };
      const error = await startLocalStack(config).then(
        async (stack) => {
          await stack.close();
          return undefined;
        },
        (caught: unknown) => caught,
      );
      expect(String((error as Error | undefined)?.message)).toMatch(message);
      expect(values.filter((value) => String((error as Error).message).includes(value))).toEqual([]);
      await expect(readFile(join(dir, 'postgres', 'PG_VERSION'))).rejects.toThrow();
    },
  );

  it('a fresh data dir gets a 0600 secrets file that passes its own checks', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-secrets-'));
    dirs.push(dir);
    const path = join(dir, 'secrets.json');
    await ensureLocalSecrets(path, 54329);
    await expect(ensureLocalSecrets(path, 54329)).resolves.toBeDefined();
  });

  it('a secrets file from before the audit key gets one on the next start, its other keys untouched', async () => {
    const { path } = await corruptedSecrets(async (file, secrets) => {
      delete secrets[SECRET_NAMES.queryKeys].auditKey;
      await write(file, secrets);
    });
    const before = JSON.parse(await readFile(path, 'utf8'))[SECRET_NAMES.queryKeys];
    expect(before.auditKey).toBeUndefined();
    await ensureLocalSecrets(path, 54329);
    const after = JSON.parse(await readFile(path, 'utf8'))[SECRET_NAMES.queryKeys];
    expect(after).toEqual({ ...before, auditKey: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    // A second start keeps the key it was given.
    await ensureLocalSecrets(path, 54329);
    expect(JSON.parse(await readFile(path, 'utf8'))[SECRET_NAMES.queryKeys]).toEqual(after);
  });
});
