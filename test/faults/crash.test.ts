// A process that dies between minting a role and recording the grant leaves a role behind: the sweeper
// reaps it (at once when no grant accounts for it, after the activation grace when a pending one does).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGrantStore } from '../../shared/grants/store.ts';
import { newId } from '../../shared/ids.ts';
import { type ConnectionAdmins, createConnectionAdmins } from '../../shared/postgres/admin.ts';
import { closeClient, connectClient } from '../../shared/postgres/driver.ts';
import { derivePassword } from '../../shared/postgres/password.ts';
import { QueryKeysSecret, readSecret, SECRET_NAMES } from '../../shared/secrets/index.ts';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { adminClient, adminTarget, dynamo, secrets, wire } from '../support/infra.ts';
import { expectSessionEnded, grantRecord } from '../support/stack.ts';

let stack: TestAirlock;
let admins: ConnectionAdmins;
let roleKey: string;

beforeAll(async () => {
  stack = await startTestAirlock();
  // The same role admin the broker uses: what it minted just before the process died.
  admins = createConnectionAdmins({
    policy: stack.policy,
    secrets: secrets(),
    wire: wire(),
    rolePrefix: stack.rolePrefix,
  });
  roleKey = (await readSecret(secrets(), SECRET_NAMES.queryKeys, QueryKeysSecret)).roleKey;
});

afterAll(async () => {
  await admins.close();
  await stack.close();
});

async function mintFor(grantId: string) {
  const admin = await admins.get('shop');
  return admin.mintRole({
    grantId,
    validUntil: new Date(stack.clock.now().getTime() + 600_000),
    profile: stack.policy.connections.shop!.profiles.read!,
    password: derivePassword(roleKey, grantId),
    statementTimeoutSeconds: 30,
  });
}

async function roleExists(role: string): Promise<boolean> {
  const admin = await adminClient();
  try {
    return (await admin.query(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [role])).rowCount === 1;
  } finally {
    await closeClient(admin);
  }
}

describe('a crash between minting a role and storing the grant', () => {
  it('no grant was stored: the next sweep drops the role and cuts its open session', async () => {
    const grantId = newId();
    const { role } = await mintFor(grantId);
    expect(role).toBe(stack.roleOf(grantId));
    const session = await connectClient(
      { ...(await adminTarget()), user: role, password: derivePassword(roleKey, grantId) },
      wire(),
    );
    expect((await session.query('SELECT count(*)::int AS n FROM orders')).rows[0].n).toBe(5000);

    const report = await stack.airlock.sweep();
    expect(report.orphansReaped).toBeGreaterThanOrEqual(1);
    expect(report.errors).toBe(0);
    expect(await roleExists(role)).toBe(false);
    await expectSessionEnded(session);
    await closeClient(session);
  });

  it('the grant was stored pending: the role lives through the activation grace, then the grant expires and the role goes', async () => {
    const grantId = newId();
    const requestedAt = stack.clock.now();
    const dueAt = new Date(requestedAt.getTime() + 120_000);
    const pending = grantRecord({
      id: grantId,
      subject: 'agent:crashed',
      issuer: `${stack.baseUrl}/dev`,
      reason: 'crash test',
      requestedAt: requestedAt.toISOString(),
      role: stack.roleOf(grantId),
      dueAt: dueAt.toISOString(),
      ttl: Math.floor(dueAt.getTime() / 1000) + 30 * 86400,
    });
    const store = createGrantStore({ client: dynamo(), table: stack.tables.grants });
    await store.create(pending);
    await mintFor(grantId);

    await stack.airlock.sweep();
    expect(await roleExists(pending.role)).toBe(true);

    stack.clock.advance(121);
    try {
      const report = await stack.airlock.sweep();
      expect(report.errors).toBe(0);
    } finally {
      stack.clock.advance(-121);
    }
    expect(await roleExists(pending.role)).toBe(false);
    expect((await store.get(grantId))?.status).toBe('expired');
  });
});
