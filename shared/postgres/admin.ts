// Admin connections per policy connection: the admin credential is read from its secret when needed
// and used only to mint and revoke roles and to keep masking in step. The query side never imports this module.

import { AirlockError } from '../errors.ts';
import type { Policy } from '../policy/index.ts';
import { DatabaseSecret, QueryKeysSecret, readSecret, SECRET_NAMES, type SecretSource } from '../secrets/index.ts';
import { connectClient, type DatabaseTarget, type PgClient, type WireOptions } from './driver.ts';
import { createClientPool } from './pool.ts';
import { createRoleAdmin, type RoleAdmin, type RoleMasking } from './roles.ts';

/** Admin sessions kept open per connection, so minting a role does not pay for a login. */
const ADMIN_SESSIONS = 4;
/** A mint or revocation waits at most this long for a free admin session (each one's statements are bounded too). */
const ADMIN_ACQUIRE_TIMEOUT_MS = 15_000;

export function adminTargetFrom(secret: DatabaseSecret): DatabaseTarget {
  return {
    host: secret.host,
    port: secret.port,
    user: secret.username,
    password: secret.password,
    database: secret.dbname,
  };
}

/** The database a connection's roles log in to (host, port, database; never the admin's user). */
export async function connectionTarget(
  policy: Policy,
  secrets: SecretSource,
  connection: string,
): Promise<Omit<DatabaseTarget, 'user' | 'password'>> {
  const {
    user: _user,
    password: _password,
    ...target
  } = adminTargetFrom(await adminSecret(policy, secrets, connection));
  return target;
}

export async function adminSecret(policy: Policy, secrets: SecretSource, connection: string): Promise<DatabaseSecret> {
  const config = policy.connections[connection];
  if (!config) throw new AirlockError('invalid_config', `unknown connection "${connection}"`);
  return readSecret(secrets, config.adminSecret, DatabaseSecret);
}

export interface ConnectionAdmins {
  get(connection: string): Promise<RoleAdmin>;
  close(): Promise<void>;
}

/** A connection's masking upkeep (shared/masking): brings the database in step and says how to mint on it. */
export type ConnectionMasking = (connection: string) => (client: PgClient) => Promise<RoleMasking>;

export function createConnectionAdmins(options: {
  policy: Policy;
  secrets: SecretSource;
  wire: WireOptions;
  rolePrefix?: string;
  /** Masking in the database, kept in step on each mint; absent: roles get the policy's memberships as written. */
  masking?: ConnectionMasking;
}): ConnectionAdmins {
  const admins = new Map<string, Promise<RoleAdmin>>();
  const pools: Array<{ close(): Promise<void> }> = [];
  const open = async (connection: string): Promise<RoleAdmin> => {
    // The key that names roles and keys their locks: the same one the grant service names them with.
    const { roleKey } = await readSecret(options.secrets, SECRET_NAMES.queryKeys, QueryKeysSecret);
    const pool = createClientPool({
      connect: async () =>
        connectClient(adminTargetFrom(await adminSecret(options.policy, options.secrets, connection)), options.wire),
      max: ADMIN_SESSIONS,
      acquireTimeoutMs: ADMIN_ACQUIRE_TIMEOUT_MS,
    });
    pools.push(pool);
    return createRoleAdmin({
      connect: () => pool.acquire(),
      release: (client, broken) => pool.release(client, broken),
      prefix: options.rolePrefix,
      roleKey,
      ...(options.masking ? { masking: options.masking(connection) } : {}),
    });
  };
  const get = (connection: string): Promise<RoleAdmin> => {
    let admin = admins.get(connection);
    if (!admin) {
      // One admin (one pool) per connection, also when the first callers race; a failed start is tried again.
      admin = open(connection);
      admins.set(connection, admin);
      admin.catch(() => admins.delete(connection));
    }
    return admin;
  };
  return {
    get,
    close: async () => {
      await Promise.all(pools.splice(0).map((pool) => pool.close()));
      admins.clear();
    },
  };
}
