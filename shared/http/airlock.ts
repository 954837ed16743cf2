// The composition root: builds one Airlock (stores, keys, services, the Hono app) from configuration.
// Lambda entry points and the local stack call this; nothing here reads the environment.

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  createApprovalDecisions,
  createApprovalRequests,
  createApprovalStore,
  createOutboxMailer,
  type Mailer,
  missingMailer,
} from '../approvals/index.ts';
import { createDynamoAuditLog } from '../audit/index.ts';
import { createGrantService, type GrantService } from '../grants/service.ts';
import { createGrantStore } from '../grants/store.ts';
import { createDevIssuer } from '../identity/dev-issuer.ts';
import { loadSigningKeys, loadVerificationKeys } from '../identity/grant-token.ts';
import { createIdentityVerifier } from '../identity/verify.ts';
import {
  createLogger,
  createReadiness,
  type Logger,
  type Metrics,
  noMetrics,
  observeAuditLog,
  observeRoutes,
  readinessChecks,
} from '../observe/index.ts';
import type { Policy } from '../policy/schema.ts';
import { connectionTarget, createConnectionAdmins } from '../postgres/admin.ts';
import type { WireOptions } from '../postgres/driver.ts';
import { createSessionPool } from '../postgres/sessions.ts';
import { createQueryService, type QueryProfile } from '../query/service.ts';
import {
  GrantJwksSecret,
  QueryKeysSecret,
  readSecret,
  SECRET_NAMES,
  type SecretSource,
  SigningKeysSecret,
} from '../secrets/source.ts';
import type { TableNames } from '../store/tables.ts';
import { type AirlockApp, createApp, type Routes } from './app.ts';
import { approvalRoutes } from './approvals.ts';
import { devRoutes } from './dev.ts';
import { grantRoutes } from './grants.ts';
import { mcpRoutes } from './mcp.ts';
import { openApiRoutes } from './openapi.ts';
import { outboxRoutes } from './outbox.ts';
import { queryRoutes } from './query.ts';

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
  /** Sends approval emails (SES in AWS); default: the `.eml` outbox in local mode, else none (approvals fail closed). */
  mailer?: Mailer;
  /** Per-phase timings of the query path (benchmarks). */
  queryProfile?: QueryProfile;
  /** Request log lines and metrics; default: JSON lines on stdout at `warn`, no metrics. */
  observe?: { logger?: Logger; metrics?: Metrics };
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
  const logger = config.observe?.logger ?? createLogger({ level: 'warn' });
  const metrics = config.observe?.metrics ?? noMetrics;
  const audit = observeAuditLog(createDynamoAuditLog({ client: config.dynamo, table: config.tables.audit, now }), {
    metrics,
  });
  const store = createGrantStore({ client: config.dynamo, table: config.tables.grants });
  const queryKeys = await readSecret(secrets, SECRET_NAMES.queryKeys, QueryKeysSecret);
  const publicJwks = await readSecret(secrets, SECRET_NAMES.grantJwks, GrantJwksSecret);
  const groups: Routes[] = [];
  const approvalStore = createApprovalStore({ client: config.dynamo, table: config.tables.approvals });
  // Only the API half holds the signing key and sends mail; a query-only process records holds,
  // and the API side's sweeper signs and sends their links.
  const signingKeys = config.parts.api
    ? await loadSigningKeys(await readSecret(secrets, SECRET_NAMES.signingKeys, SigningKeysSecret))
    : undefined;
  const mailer =
    config.mailer ??
    (config.dev ? createOutboxMailer({ dir: config.dev.outboxDir, from: policy.mail.from, now }) : missingMailer);
  const approvals = createApprovalRequests({
    policy,
    store: approvalStore,
    sender: signingKeys ? { mailer, signingKeys } : undefined,
    now,
  });

  const identityIssuers = [...policy.identity.issuers];
  let grants: GrantService | undefined;
  const admins = config.parts.api
    ? createConnectionAdmins({ policy, secrets, wire: config.wire, rolePrefix: config.rolePrefix })
    : undefined;
  if (admins && signingKeys) {
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
      approvals,
      now,
    });
    const identity = createIdentityVerifier({ issuers: identityIssuers, now });
    groups.push(grantRoutes({ policy, identity, grants, audit }));
    const decisions = createApprovalDecisions({
      publicUrl: policy.publicUrl,
      store: approvalStore,
      grantStore: store,
      grants,
      audit,
      signingKeys,
      codeKey: queryKeys.roleKey,
      now,
    });
    groups.push(approvalRoutes({ decisions }));
    groups.push((app) => app.get('/.well-known/jwks.json', (c) => c.json(signingKeys.publicJwks)));
    groups.push(openApiRoutes(policy.publicUrl));
    if (config.dev) {
      const privateJwks = await readSecret(secrets, SECRET_NAMES.devIssuer, SigningKeysSecret);
      groups.push(devRoutes({ issuer: createDevIssuer({ issuer: `${config.dev.baseUrl}/dev`, privateJwks, now }) }));
      groups.push(outboxRoutes({ dir: config.dev.outboxDir }));
    }
  }
  const sessions = createSessionPool({ wire: config.wire, now });
  if (config.parts.query) {
    const query = createQueryService({
      policy,
      store,
      audit,
      verifierKeys: await loadVerificationKeys(publicJwks),
      issuer: policy.publicUrl,
      roleKey: queryKeys.roleKey,
      maskingKey: queryKeys.maskingKey,
      sessions,
      gate: approvals.gate,
      profile: config.queryProfile,
      now,
    });
    groups.push(queryRoutes({ query }));
    // MCP composes both halves in-process (grants by identity, statements through the same query path).
    if (grants)
      groups.push(
        mcpRoutes({ policy, identity: createIdentityVerifier({ issuers: identityIssuers, now }), grants, query }),
      );
  }

  const readiness = createReadiness({
    checks: readinessChecks({ store, secrets, policy, wire: config.wire, admin: config.parts.api }),
  });
  groups.push(observeRoutes({ readiness, metrics }));
  const app = createApp({ maxBodyBytes: policy.limits.maxBodyBytes, observe: { logger, metrics } }, ...groups);
  return {
    app,
    grants,
    sweep: async () => {
      if (!grants) throw new Error('the sweeper runs with the API half');
      const report = await grants.sweep();
      await approvals.notifyPending().catch(() => report.errors++);
      return report;
    },
    close: async () => {
      await sessions.closeAll();
      await admins?.close();
    },
  };
}
