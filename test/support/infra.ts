// What tests get from the shared infrastructure: the secrets, an admin connection to `shop`,
// the DynamoDB client and fresh, uniquely named tables, so test files never step on each other.
// The store is dynalite or Amazon's DynamoDB Local, by vitest project (see vitest.config.ts).

import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { ensureTables, localTableNames } from '../../local/dynamo.ts';
import { LOCAL_ADMIN_SECRET } from '../../local/secrets.ts';
import { connectClient, type DatabaseTarget, type PgClient, type WireOptions } from '../../shared/postgres/driver.ts';
import { createFileSecretSource, DatabaseSecret, readSecret, type SecretSource } from '../../shared/secrets/index.ts';
import { createDynamoClient } from '../../shared/store/dynamo.ts';
import type { TableNames } from '../../shared/store/tables.ts';

export const infra = () => inject('infra');
/** The DynamoDB implementation this project runs on: dynalite, or Amazon's DynamoDB Local. */
export const store = () => inject('infra').store;
export const wire = (): WireOptions => ({ wsProxy: infra().proxyAddress, secureWebSocket: false });
export const secrets = (): SecretSource => createFileSecretSource(infra().secretsPath);
export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

export async function adminTarget(database = 'shop'): Promise<DatabaseTarget> {
  const admin = await readSecret(secrets(), LOCAL_ADMIN_SECRET, DatabaseSecret);
  return { host: admin.host, port: admin.port, user: admin.username, password: admin.password, database };
}

export async function adminClient(database = 'shop'): Promise<PgClient> {
  return connectClient(await adminTarget(database), wire());
}

/**
 * Runs a test's own catalog change (GRANT, ALTER ROLE, DROP OWNED) outside any transaction, again when it meets
 * a concurrent one. Test files share one Postgres, and every stack's masking upkeep GRANTs on the demo tables and
 * schemas: a change of the same catalog row fails with "tuple concurrently updated" (XX000) or a deadlock (40P01),
 * with nothing done. (Airlock's own code retries these where they can happen, transaction and all.)
 */
export async function catalogChange<T>(change: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await change();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt >= 5 || (code !== 'XX000' && code !== '40P01')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}

export const dynamo = () => createDynamoClient({ region: 'local', endpoint: infra().dynamoEndpoint });

export async function freshTables(): Promise<TableNames> {
  const names = localTableNames(uniqueName('t'));
  await ensureTables(dynamo(), names);
  return names;
}
