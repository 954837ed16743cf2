// The readiness checks of an Airlock: its store answers, its secrets can be read, each connection's Postgres
// accepts the admin login. Must never run a statement but `SELECT 1`, nor keep a connection open.

import type { Policy } from '../policy/index.ts';
import { adminTargetFrom, closeClient, connectClient, type WireOptions } from '../postgres/index.ts';
import { DatabaseSecret, QueryKeysSecret, readSecret, SECRET_NAMES, type SecretSource } from '../secrets/index.ts';
import type { ReadinessCheck } from './readiness.ts';

export interface ReadinessChecksOptions {
  /** A read of one item that does not exist: the store answers, or the check fails. */
  store: { get(id: string): Promise<unknown> };
  secrets: SecretSource;
  policy: Policy;
  wire: WireOptions;
  /** Whether this process holds the admin credentials (the API half): only then is Postgres checked. */
  admin: boolean;
  /** Bound on each Postgres login (default 3 s). */
  connectTimeoutMs?: number;
}

/** No grant has this id (ids are 20 base-36 characters): reading it costs one GetItem. */
const PROBE_ID = 'readyz';

export function readinessChecks(options: ReadinessChecksOptions): ReadinessCheck[] {
  const checks: ReadinessCheck[] = [
    { name: 'store', run: async () => void (await options.store.get(PROBE_ID)) },
    {
      name: 'secrets',
      run: async () => void (await readSecret(options.secrets, SECRET_NAMES.queryKeys, QueryKeysSecret)),
    },
  ];
  if (!options.admin) return checks;
  for (const [name, connection] of Object.entries(options.policy.connections)) {
    checks.push({
      name: `postgres:${name}`,
      run: async () => {
        const secret = await readSecret(options.secrets, connection.adminSecret, DatabaseSecret);
        const client = await connectClient(adminTargetFrom(secret), options.wire, {}, options.connectTimeoutMs ?? 3000);
        try {
          await client.query('SELECT 1');
        } finally {
          await closeClient(client);
        }
      },
    });
  }
  return checks;
}
