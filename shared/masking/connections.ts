// Masking upkeep per connection, as the composition root wires it: one enforcer per connection, keyed by the query
// side's masking key, and the policy checked against every connection's database. Changes nothing it is not asked to.

import { AirlockError } from '../errors.ts';
import type { Policy } from '../policy/index.ts';
import {
  adminSecret,
  adminTargetFrom,
  type ConnectionMasking,
  closeClient,
  connectClient,
  type WireOptions,
} from '../postgres/index.ts';
import { QueryKeysSecret, readSecret, SECRET_NAMES, type SecretSource } from '../secrets/index.ts';
import { checkPolicyAgainstDatabase, createMaskingEnforcer, type MaskingEnforcer } from './enforce.ts';
import { combineFindings, type PolicyFinding } from './model.ts';

/**
 * The masking of every connection of the policy, for the role admins (createConnectionAdmins): the hash strategy's
 * key is the query side's masking key, so the masking views hash exactly as output masking does.
 */
export function createConnectionMasking(options: {
  policy: Policy;
  secrets: SecretSource;
  rolePrefix?: string;
}): ConnectionMasking {
  const enforcers = new Map<string, Promise<MaskingEnforcer>>();
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
  return (connection) => async (client) => (await enforcerFor(connection)).ensure(client);
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
