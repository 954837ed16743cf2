// Role passwords: derivation is stable per grant, and our SCRAM verifier is byte-for-byte what Postgres stores.
// Must never leave a test role behind; roles here are outside the airlock_ prefix and dropped in afterAll.

import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import { connectClient } from '../../shared/postgres/driver.ts';
import { derivePassword, scramVerifier } from '../../shared/postgres/password.ts';
import { quoteIdent, quoteLiteral } from '../../shared/postgres/quote.ts';
import { adminClient, adminTarget, wire } from '../support/infra.ts';

const ROLE_KEY = 'k'.repeat(32);
const testRoles: string[] = [];
const testRole = () => {
  const name = `scram_test_${randomBytes(4).toString('hex')}`;
  testRoles.push(name);
  return name;
};

afterAll(async () => {
  const client = await adminClient();
  try {
    for (const role of testRoles) await client.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
  } finally {
    await client.end();
  }
});

describe('derivePassword', () => {
  it('is stable for a grant and differs per grant and per key', () => {
    const a = derivePassword(ROLE_KEY, 'grant-a');
    expect(derivePassword(ROLE_KEY, 'grant-a')).toBe(a);
    expect(derivePassword(ROLE_KEY, 'grant-b')).not.toBe(a);
    expect(derivePassword('j'.repeat(32), 'grant-a')).not.toBe(a);
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses an empty key or grant id', () => {
    expect(() => derivePassword('', 'grant-a')).toThrow(/role key/);
    expect(() => derivePassword(ROLE_KEY, '')).toThrow(/grant id/);
  });
});

describe('scramVerifier', () => {
  it("has PostgreSQL's storage format, 4096 iterations and a fresh salt by default", () => {
    const verifier = scramVerifier('secret');
    expect(verifier).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    expect(scramVerifier('secret')).not.toBe(verifier);
    const salt = Buffer.from('0123456789abcdef');
    expect(scramVerifier('secret', { salt })).toBe(scramVerifier('secret', { salt }));
  });

  it('equals the verifier Postgres computes itself for the same salt and iterations', async () => {
    const client = await adminClient();
    try {
      for (const password of ['pencil', derivePassword(ROLE_KEY, 'grant-a'), `it's "quoted" \\ $1`]) {
        const role = testRole();
        // The one place a plaintext password goes to the server: to get Postgres's own verifier to compare with.
        await client.query(`SET password_encryption = 'scram-sha-256'`);
        await client.query(`CREATE ROLE ${quoteIdent(role)} PASSWORD ${quoteLiteral(password)}`);
        const stored = await client.query<{ rolpassword: string }>(
          `SELECT rolpassword FROM pg_authid WHERE rolname = $1`,
          [role],
        );
        const verifier = stored.rows[0]!.rolpassword;
        const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(verifier);
        expect(match).not.toBeNull();
        expect(
          scramVerifier(password, { iterations: Number(match![1]), salt: Buffer.from(match![2]!, 'base64') }),
        ).toBe(verifier);
      }
    } finally {
      await client.end();
    }
  });

  it('gives a verifier Postgres logs in with, at any iteration count', async () => {
    const client = await adminClient();
    const password = derivePassword(ROLE_KEY, 'grant-login');
    const role = testRole();
    try {
      await client.query(
        `CREATE ROLE ${quoteIdent(role)} LOGIN PASSWORD ${quoteLiteral(scramVerifier(password, { iterations: 8192 }))}`,
      );
    } finally {
      await client.end();
    }
    const session = await connectClient({ ...(await adminTarget()), user: role, password }, wire());
    try {
      const who = await session.query<{ me: string }>('SELECT current_user AS me');
      expect(who.rows[0]!.me).toBe(role);
    } finally {
      await session.end();
    }
    const wrong = await connectClient({ ...(await adminTarget()), user: role, password: `${password}x` }, wire()).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isAirlockError(wrong, 'unavailable')).toBe(true);
    expect((wrong as { sqlstate?: string }).sqlstate).toBe('28P01');
  });

  it('refuses passwords Postgres would SASLprep differently, and bad options', () => {
    for (const password of ['', 'pässword', 'tab\there', 'emoji🔑']) {
      expect(() => scramVerifier(password), password).toThrow(/printable ASCII/);
    }
    expect(() => scramVerifier('secret', { iterations: 0 })).toThrow(/iterations/);
    expect(() => scramVerifier('secret', { iterations: 1.5 })).toThrow(/iterations/);
    expect(() => scramVerifier('secret', { salt: Buffer.alloc(0) })).toThrow(/salt/);
  });
});
