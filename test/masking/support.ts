// What the masking-in-the-database suites share: a deployment prefix of their own, a role admin that sets up
// masking like the API's, logging in as a minted role, and removing everything a prefix created.

import { randomBytes } from 'node:crypto';
import { LOCAL_ADMIN_SECRET } from '../../local/secrets.ts';
import { createMaskingEnforcer, type MaskingEnforcer } from '../../shared/masking/enforce.ts';
import { maskingNames } from '../../shared/masking/names.ts';
import { parsePolicyText } from '../../shared/policy/load.ts';
import { type Policy, Profile } from '../../shared/policy/schema.ts';
import { connectClient, type PgClient } from '../../shared/postgres/driver.ts';
import { derivePassword } from '../../shared/postgres/password.ts';
import { quoteIdent } from '../../shared/postgres/quote.ts';
import { roleNameFor } from '../../shared/postgres/role-names.ts';
import { createRoleAdmin, type RoleAdmin } from '../../shared/postgres/roles.ts';
import { DatabaseSecret, QueryKeysSecret, readSecret, SECRET_NAMES } from '../../shared/secrets/index.ts';
import { DEMO_POLICY_TEXT } from '../support/airlock.ts';
import { adminClient, adminTarget, catalogChange, secrets, wire } from '../support/infra.ts';

export const ROLE_KEY = 'k'.repeat(32);
export const READ = Profile.parse({ memberOf: ['pg_read_all_data'], readOnly: true });
export const WRITE = Profile.parse({ memberOf: ['pg_read_all_data', 'pg_write_all_data'] });

/** A deployment prefix nobody else uses: `airlock_m<hex>_`. */
export const freshPrefix = () => `airlock_m${randomBytes(4).toString('hex')}_`;
export const freshName = (base: string) => `${base}_${randomBytes(4).toString('hex')}`;

/** The demo policy with more masked columns (appended to masking.columns) and the profiles replaced when given. */
export function policyWith(
  options: { masked?: Array<[string, string]>; profiles?: Record<string, unknown>; guardrailTables?: string[] } = {},
): Policy {
  const demo = parsePolicyText(DEMO_POLICY_TEXT, 'demo policy');
  const document = JSON.parse(JSON.stringify(demo)) as Record<string, any>;
  for (const [column, strategy] of options.masked ?? []) document.masking.columns.push({ column, strategy });
  if (options.profiles) document.connections.shop.profiles = options.profiles;
  if (options.guardrailTables)
    document.guardrails.push({
      name: 'guarded',
      statements: ['delete'],
      tables: options.guardrailTables,
      action: 'block',
    });
  return parsePolicyText(JSON.stringify(document), 'test policy');
}

export async function maskingKey(): Promise<string> {
  return (await readSecret(secrets(), SECRET_NAMES.queryKeys, QueryKeysSecret)).maskingKey;
}

export interface MaskingAdmin {
  enforcer: MaskingEnforcer;
  admin: RoleAdmin;
  prefix: string;
  /** Mints a role for a fresh grant id with this profile; returns its name and a session logged in as it. */
  mint(profile: typeof READ): Promise<{ role: string; session: PgClient }>;
  close(): Promise<void>;
}

/** A role admin that sets up and keeps masking as the API does (createConnectionAdmins), on its own prefix. */
export async function maskingAdmin(policy: Policy, prefix = freshPrefix()): Promise<MaskingAdmin> {
  const enforcer = createMaskingEnforcer({ policy, connection: 'shop', prefix, hashKey: await maskingKey() });
  const admin = createRoleAdmin({
    connect: () => adminClient(),
    prefix,
    roleKey: ROLE_KEY,
    masking: (client) => enforcer.ensure(client),
  });
  const minted: string[] = [];
  const sessions: PgClient[] = [];
  return {
    enforcer,
    admin,
    prefix,
    async mint(profile) {
      const grantId = randomBytes(10).toString('hex');
      const { role } = await admin.mintRole({
        grantId,
        validUntil: new Date(Date.now() + 10 * 60_000),
        profile,
        password: derivePassword(ROLE_KEY, grantId),
        statementTimeoutSeconds: 30,
      });
      minted.push(role);
      const session = await connectAs(role, derivePassword(ROLE_KEY, grantId));
      sessions.push(session);
      return { role, session };
    },
    async close() {
      for (const session of sessions) await session.end().catch(() => {});
      for (const role of minted) await admin.revokeRole(role);
      await dropMasking(prefix);
    },
  };
}

export async function connectAs(role: string, password: string): Promise<PgClient> {
  return connectClient({ ...(await adminTarget()), user: role, password }, wire());
}

export async function withAdmin<T>(work: (admin: PgClient) => Promise<T>, database = 'shop'): Promise<T> {
  const client = await adminClient(database);
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Removes a prefix's masking schemas and roles (what enforce.ts created), in `database`. */
export async function dropMasking(prefix: string, database = 'shop'): Promise<void> {
  const names = maskingNames(prefix);
  await catalogChange(() =>
    withAdmin(async (client) => {
      await client.query(
        `DROP SCHEMA IF EXISTS ${quoteIdent(names.schema)}, ${quoteIdent(names.privateSchema)} CASCADE`,
      );
      for (const role of [names.reader, names.writer, names.owner]) {
        const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
        if (exists.rowCount) await client.query(`DROP OWNED BY ${quoteIdent(role)}`);
      }
    }, database),
  );
}

/** Drops a prefix's roles (cluster-wide) once no database holds anything of theirs. */
export async function dropMaskingRoles(prefix: string): Promise<void> {
  const names = maskingNames(prefix);
  await withAdmin(async (client) => {
    for (const role of [names.reader, names.writer, names.owner])
      await client.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
  });
}

/** The SQLSTATE a promise fails with (the test fails if it succeeds). */
export async function sqlstateOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return String((error as { code?: unknown }).code);
  }
  throw new Error('expected the statement to be refused');
}

export const adminSecret = () => readSecret(secrets(), LOCAL_ADMIN_SECRET, DatabaseSecret);
export { roleNameFor };
