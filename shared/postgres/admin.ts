// Admin connections per policy connection: the admin credential is read from its secret when needed
// and used only to mint and revoke roles and to keep masking in step. The query side never imports this module.

import { AirlockError } from '../errors.ts';
import { checkPolicyAgainstDatabase, createMaskingEnforcer, type MaskingEnforcer } from '../masking/enforce.ts';
import { combineFindings, type PolicyFinding } from '../masking/model.ts';
import type { Policy } from '../policy/schema.ts';
import { DatabaseSecret, QueryKeysSecret, readSecret, SECRET_NAMES, type SecretSource } from '../secrets/source.ts';
import { closeClient, connectClient, type DatabaseTarget, type WireOptions } from './driver.ts';
import { createClientPool } from './pool.ts';
import { createRoleAdmin, type RoleAdmin } from './roles.ts';

/** Admin sessions kept open per connection, so minting a role does not pay for a login. */
const ADMIN_SESSIONS = 4;

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

async function adminSecret(policy: Policy, secrets: SecretSource, connection: string): Promise<DatabaseSecret> {
  const config = policy.connections[connection];
  if (!config) throw new AirlockError('invalid_config', `unknown connection "${connection}"`);
  return readSecret(secrets, config.adminSecret, DatabaseSecret);
}

export interface ConnectionAdmins {
  get(connection: string): Promise<RoleAdmin>;
  close(): Promise<void>;
}

export function createConnectionAdmins(options: {
  policy: Policy;
  secrets: SecretSource;
  wire: WireOptions;
  rolePrefix?: string;
}): ConnectionAdmins {
  const admins = new Map<string, RoleAdmin>();
  const pools: Array<{ close(): Promise<void> }> = [];
  const enforcers = new Map<string, Promise<MaskingEnforcer>>();
  // The hash strategy's key is the query side's masking key: the masking views must hash exactly as output masking does.
  const enforcerFor = (connection: string) => {
    let enforcer = enforcers.get(connection);
    if (!enforcer) {
      enforcer = readSecret(options.secrets, SECRET_NAMES.queryKeys, QueryKeysSecret).then(({ maskingKey }) =>
        createMaskingEnforcer({ policy: options.policy, connection, prefix: options.rolePrefix, hashKey: maskingKey }),
      );
      enforcer.catch(() => enforcers.delete(connection));
      enforcers.set(connection, enforcer);
    }
    return enforcer;
  };
  const get = async (connection: string) => {
    let admin = admins.get(connection);
    if (!admin) {
      const pool = createClientPool({
        connect: async () =>
          connectClient(adminTargetFrom(await adminSecret(options.policy, options.secrets, connection)), options.wire),
        max: ADMIN_SESSIONS,
      });
      pools.push(pool);
      admin = createRoleAdmin({
        connect: () => pool.acquire(),
        release: (client, broken) => pool.release(client, broken),
        prefix: options.rolePrefix,
        masking: async (client) => (await enforcerFor(connection)).ensure(client),
      });
      admins.set(connection, admin);
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

/**
 * The policy checked against every connection's database with its admin credential, changing nothing (local
 * start, `airlock policy check --connect`): one list of findings, errors first, each naming its path in the file.
 */
export async function checkPolicyConnections(options: {
  policy: Policy;
  secrets: SecretSource;
  wire: WireOptions;
  rolePrefix?: string;
}): Promise<PolicyFinding[]> {
  const results = await Promise.all(
    Object.keys(options.policy.connections).map(async (connection) => {
      let client: Awaited<ReturnType<typeof connectClient>> | undefined;
      try {
        client = await connectClient(
          adminTargetFrom(await adminSecret(options.policy, options.secrets, connection)),
          options.wire,
        );
        const findings = await checkPolicyAgainstDatabase(client, {
          policy: options.policy,
          connection,
          prefix: options.rolePrefix,
        });
        return { connection, findings };
      } catch (error) {
        const reason = error instanceof AirlockError ? error.message : 'the check failed';
        const finding: PolicyFinding = {
          severity: 'error',
          path: `connections.${connection}.adminSecret`,
          message: `the database could not be checked: ${reason}`,
        };
        return { connection, findings: [finding] };
      } finally {
        if (client) await closeClient(client);
      }
    }),
  );
  const findings = combineFindings(results);
  return [...findings.filter((f) => f.severity === 'error'), ...findings.filter((f) => f.severity !== 'error')];
}
