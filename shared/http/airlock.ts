// The composition root: builds one Airlock (stores, keys, services, the Hono app) from configuration.
// Lambda entry points and the local stack call this; nothing here reads the environment.

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDynamoAuditLog } from '../audit/index.ts';
import { createGrantService, type GrantService } from '../grants/service.ts';
import { createGrantStore } from '../grants/store.ts';
import { createDevIssuer } from '../identity/dev-issuer.ts';
import { loadSigningKeys } from '../identity/grant-token.ts';
import { createIdentityVerifier } from '../identity/verify.ts';
import type { Policy } from '../policy/schema.ts';
import { createConnectionAdmins } from '../postgres/admin.ts';
import type { WireOptions } from '../postgres/driver.ts';
import { GrantJwksSecret, QueryKeysSecret, readSecret, SECRET_NAMES, SigningKeysSecret, type SecretSource } from '../secrets/source.ts';
import type { TableNames } from '../store/tables.ts';
import { createApp, type AirlockApp, type Routes } from './app.ts';
import { devRoutes } from './dev.ts';
import { grantRoutes } from './grants.ts';
import { queryRoutes } from './query.ts';
import { openApiRoutes } from './openapi.ts';
import { loadVerificationKeys } from '../identity/grant-token.ts';
import { connectionTarget } from '../postgres/admin.ts';
import { createSessionPool } from '../postgres/sessions.ts';
import { createQueryService } from '../query/service.ts';
import type { StatementGate } from '../query/gate.ts';

export interface AirlockConfig {
  policy: Policy;
  secrets: SecretSource;
  dynamo: DynamoDBClient;
  tables: TableNames;
  wire: WireOptions;
  /** Which halves this process serves: the API function, the query function, or both (local). */
  parts: { api: boolean; query: boolean };
  now?: () => Date;
  /** Role prefix of this deployment (`airlock_<tag>_`) when several share a database; default `airlock_`. */
  rolePrefix?: string;
  /** Local mode only: the dev issuer at `${baseUrl}/dev`. */
  dev?: { baseUrl: string; outboxDir: string };
}

export interface Airlock {
  app: AirlockApp;
  grants?: GrantService;
  sweep(): Promise<import('../grants/service.ts').SweepReport>;
  close(): Promise<void>;
}

export async function assembleAirlock(config: AirlockConfig): Promise<Airlock> {
  const { policy, secrets } = config;
  const now = config.now ?? (() => new Date());
  const audit = createDynamoAuditLog({ client: config.dynamo, table: config.tables.audit, now });
  const store = createGrantStore({ client: config.dynamo, table: config.tables.grants });
  const queryKeys = await readSecret(secrets, SECRET_NAMES.queryKeys, QueryKeysSecret);
  const publicJwks = await readSecret(secrets, SECRET_NAMES.grantJwks, GrantJwksSecret);
  const groups: Routes[] = [];

  const identityIssuers = [...policy.identity.issuers];
  let grants: GrantService | undefined;
  const admins = config.parts.api ? createConnectionAdmins({ policy, secrets, wire: config.wire, rolePrefix: config.rolePrefix }) : undefined;
  if (admins) {
    const signingKeys = await loadSigningKeys(await readSecret(secrets, SECRET_NAMES.signingKeys, SigningKeysSecret));
    grants = createGrantService({
      policy,
      store,
      audit,
      roles: admins.get,
      rolePrefix: config.rolePrefix,
      target: (connection) => connectionTarget(policy, secrets, connection),
      roleKey: queryKeys.roleKey,
      signingKeys,
      issuer: policy.publicUrl,
      now,
    });
    const identity = createIdentityVerifier({ issuers: identityIssuers, now });
    groups.push(grantRoutes({ policy, identity, grants, audit }));
    groups.push((app) => app.get('/.well-known/jwks.json', (c) => c.json(signingKeys.publicJwks)));
    groups.push(openApiRoutes(policy.publicUrl));
    if (config.dev) {
      const privateJwks = await readSecret(secrets, SECRET_NAMES.devIssuer, SigningKeysSecret);
      groups.push(devRoutes({ issuer: createDevIssuer({ issuer: `${config.dev.baseUrl}/dev`, privateJwks, now }) }));
    }
  }
  const sessions = createSessionPool({ wire: config.wire, now });
  if (config.parts.query) {
    const holdOnly: StatementGate = {
      admit: async (held) => ({ run: false, approval: { id: held.paramsHash.slice(0, 20), status: 'pending' } }),
    };
    const query = createQueryService({
      policy,
      store,
      audit,
      verifierKeys: await loadVerificationKeys(publicJwks),
      issuer: policy.publicUrl,
      roleKey: queryKeys.roleKey,
      maskingKey: queryKeys.maskingKey,
      sessions,
      gate: holdOnly,
      now,
    });
    groups.push(queryRoutes({ query }));
  }

  const app = createApp({ maxBodyBytes: policy.limits.maxBodyBytes }, ...groups);
  return {
    app,
    grants,
    sweep: async () => {
      if (!grants) throw new Error('the sweeper runs with the API half');
      return grants.sweep();
    },
    close: async () => {
      await sessions.closeAll();
      await admins?.close();
    },
  };
}
