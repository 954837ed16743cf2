// Temporary roles for the wire tests, minted like a grant's (read: read-only transactions by default; write), under a
// prefix of their own and logged in through the WebSocket proxy, as the query path does. Revoked by revokeAll().

import { randomBytes } from 'node:crypto';
import { newId } from '../../shared/ids.ts';
import { Profile } from '../../shared/policy/schema.ts';
import { connectClient, type PgClient } from '../../shared/postgres/driver.ts';
import { derivePassword } from '../../shared/postgres/password.ts';
import { createRoleAdmin } from '../../shared/postgres/roles.ts';
import type { GrantSessionTarget } from '../../shared/postgres/sessions.ts';
import { adminTarget, wire } from '../support/infra.ts';

const ROLE_KEY = 'w'.repeat(32);
const PROFILES = {
  read: Profile.parse({ memberOf: ['pg_read_all_data'], readOnly: true }),
  write: Profile.parse({ memberOf: ['pg_read_all_data', 'pg_write_all_data'] }),
};

export interface TestRole {
  role: string;
  grantId: string;
  /** A session logged in as the role, through the proxy. */
  connect(): Promise<PgClient>;
  /** What the session pool needs to open the role's sessions. */
  target(maxSessions?: number): Promise<GrantSessionTarget>;
}

export function createTestRoles() {
  const prefix = `airlock_w${randomBytes(3).toString('hex')}_`;
  const admin = createRoleAdmin({
    connect: async () => connectClient(await adminTarget(), wire()),
    prefix,
    roleKey: 'grant-roles-test-key-0123456789abcdef',
  });
  const minted: string[] = [];

  async function mint(access: 'read' | 'write', connectionLimit = 5): Promise<TestRole> {
    const grantId = newId();
    const password = derivePassword(ROLE_KEY, grantId);
    const validUntil = new Date(Date.now() + 30 * 60_000);
    const { role } = await admin.mintRole({
      grantId,
      validUntil,
      profile: { ...PROFILES[access], connectionLimit },
      password,
      statementTimeoutSeconds: 120,
    });
    minted.push(role);
    const target = async (maxSessions = 5): Promise<GrantSessionTarget> => ({
      ...(await adminTarget()),
      user: role,
      password,
      grantId,
      expiresAt: validUntil,
      maxSessions,
    });
    return {
      role,
      grantId,
      target,
      connect: async () => connectClient({ ...(await adminTarget()), user: role, password }, wire()),
    };
  }

  async function revokeAll(): Promise<void> {
    for (const role of minted.splice(0)) await admin.revokeRole(role);
  }

  return { mint, revokeAll };
}
