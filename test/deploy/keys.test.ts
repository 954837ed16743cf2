import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { newKeySet, retireSigningKey, rotateSigningKeys, withAuditKey } from '../../scripts/keys.ts';
import {
  loadSigningKeys,
  loadVerificationKeys,
  signGrantToken,
  verifyGrantToken,
} from '../../shared/identity/grant-token.ts';
import { GrantJwksSecret, QueryKeysSecret, SigningKeysSecret } from '../../shared/secrets/index.ts';

const issuer = 'https://airlock.example.com';
const sign = async (set: { keys: SigningKeysSecret['keys'] }) =>
  signGrantToken(await loadSigningKeys(set), {
    subject: 'agent:a',
    grantId: 'g1',
    expiresAt: new Date(Date.now() + 60_000),
    issuer,
  });
const verifies = async (token: string, jwks: GrantJwksSecret) =>
  verifyGrantToken(await loadVerificationKeys(jwks), token, { issuer }).then(
    () => true,
    () => false,
  );

describe('npm run keys', () => {
  it('makes secrets in the shapes the functions read, with no private key in the public set', async () => {
    const keys = await newKeySet();
    expect(SigningKeysSecret.safeParse(keys.signingKeys).success).toBe(true);
    expect(GrantJwksSecret.safeParse(keys.grantJwks).success).toBe(true);
    expect(QueryKeysSecret.safeParse(keys.queryKeys).success).toBe(true);
    expect(keys.grantJwks.keys.every((key) => !('d' in key))).toBe(true);
    expect(new Set([keys.queryKeys.roleKey, keys.queryKeys.maskingKey, keys.queryKeys.auditKey]).size).toBe(3);
    expect(await verifies(await sign(keys.signingKeys), keys.grantJwks)).toBe(true);
  });

  it('adds an audit key to an existing stage’s query keys, keeping the others, and never replaces one', async () => {
    const { queryKeys } = await newKeySet();
    const { auditKey: _old, ...older } = queryKeys;
    const added = withAuditKey(older);
    expect(added).toEqual({ ...older, auditKey: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(added.auditKey).not.toBe(queryKeys.auditKey);
    expect(() => withAuditKey(queryKeys)).toThrow(/already has an auditKey/);
  });

  it('rotates with two keys published while the old one retires', async () => {
    const first = await newKeySet();
    const oldToken = await sign(first.signingKeys);
    const rotated = await rotateSigningKeys(first.signingKeys);
    expect(rotated.signingKeys.keys.map((key) => key.kid).slice(1)).toEqual([first.signingKeys.keys[0]!.kid]);
    const newToken = await sign(rotated.signingKeys);
    // During rotation both verify; the new key signs.
    expect(await verifies(oldToken, rotated.grantJwks)).toBe(true);
    expect(await verifies(newToken, rotated.grantJwks)).toBe(true);
    expect(await verifies(newToken, first.grantJwks)).toBe(false);
    const oldKid = first.signingKeys.keys[0]!.kid;
    expect(() => retireSigningKey(rotated.signingKeys, rotated.signingKeys.keys[0]!.kid)).toThrow(/signing now/);
    const retired = retireSigningKey(rotated.signingKeys, oldKid);
    expect(await verifies(oldToken, retired.grantJwks)).toBe(false);
    expect(await verifies(newToken, retired.grantJwks)).toBe(true);
  });

  it('writes 0600 files and prints put-secret-value commands, never a key', async () => {
    const out = await mkdtemp(join(tmpdir(), 'airlock-keys-'));
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [
        '--import',
        'tsx',
        'scripts/keys.ts',
        'new',
        '--stage',
        'prod',
        '--out',
        out,
      ]);
      expect((await readdir(out)).sort()).toEqual(['grant-jwks.json', 'query-keys.json', 'signing-keys.json']);
      for (const file of await readdir(out)) expect((await stat(join(out, file))).mode & 0o777).toBe(0o600);
      expect(stdout).toContain(
        `aws secretsmanager put-secret-value --secret-id airlock/prod/signing-keys --secret-string file://${out}/signing-keys.json`,
      );
      const signing = JSON.parse(await readFile(join(out, 'signing-keys.json'), 'utf8')) as SigningKeysSecret;
      expect(stdout).not.toContain(signing.keys[0]!.d as string);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
