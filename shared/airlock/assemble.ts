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
import { createDynamoAuditLog, createDynamoHeadAnchor, routeAnchors } from '../audit/index.ts';
import { consoleRoutes, createConsoleSessionStore } from '../console/index.ts';
import { createGrantService, createGrantStore, type GrantService, type SweepReport } from '../grants/index.ts';
import {
  type AirlockApp,
  adminRoutes,
  approvalRoutes,
  connectionRoutes,
  createApp,
  devAuthorizeRoutes,
  devRoutes,
  grantRoutes,
  observeRoutes,
  openApiRoutes,
  outboxRoutes,
  queryRoutes,
  type Routes,
  requestGuardOptions,
  systemRoutes,
} from '../http/index.ts';
import {
  createDevAuthorizer,
  createDevIssuer,
  createIdentityVerifier,
  loadSigningKeys,
  loadVerificationKeys,
} from '../identity/index.ts';
import { createConnectionMasking } from '../masking/index.ts';
import { mcpRoutes } from '../mcp/index.ts';
import { createReadiness, type Logger, type Metrics, observeAuditLog, readinessChecks } from '../observe/index.ts';
import {
  createLockChecker,
  createLockHeadAnchor,
  createLockService,
  createLockStore,
  createOperatorPlane,
  LOCK_CHAIN_PREFIX,
} from '../operators/index.ts';
import type { Policy } from '../policy/index.ts';
import type { WireOptions } from '../postgres/index.ts';
import { connectionTarget, createConnectionAdmins, createSessionPool, ROLE_PREFIX } from '../postgres/index.ts';
import { createQueryService, type QueryProfile } from '../query/index.ts';
import { GrantJwksSecret, readSecret, SECRET_NAMES, type SecretSource, SigningKeysSecret } from '../secrets/index.ts';
import { parserHealthy } from '../sql/index.ts';
import type { DynamoHotPath, TableNames } from '../store/index.ts';
import { assembleBasics } from './basics.ts';

export interface AirlockConfig {
  policy: Policy;
  secrets: SecretSource;
  dynamo: DynamoDBClient;
  /**
   * The per-statement store calls (the query path's grant read, audit appends, the grant chain's head) go through
   * this client without the SDK's middleware when given; everything else through `dynamo`. Its owner closes it.
   */
  hotPath?: DynamoHotPath;
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
  sweep(): Promise<SweepReport>;
  close(): Promise<void>;
}

export async function assembleAirlock(config: AirlockConfig): Promise<Airlock> {
  const { policy, secrets } = config;
  const { now, logger, metrics, queryKeys, client, perStatement } = await assembleBasics(config);
  // Keyed hashes (whoever can write the audit table cannot recompute a chain) and heads anchored on each chain's
  // own record (deleting the newest events shows): a grant's on its grant record, a lock's on its lock record.
  const anchor = routeAnchors(
    { [LOCK_CHAIN_PREFIX]: createLockHeadAnchor({ client, table: config.tables.locks }) },
    createDynamoHeadAnchor({ client: perStatement, table: config.tables.grants }),
  );
  const audit = observeAuditLog(
    createDynamoAuditLog({
      client: perStatement,
      table: config.tables.audit,
      now,
      chain: { key: queryKeys.auditKey, anchor },
    }),
    { metrics },
  );
  const store = createGrantStore({ client: config.dynamo, table: config.tables.grants });
  const publicJwks = await readSecret(secrets, SECRET_NAMES.grantJwks, GrantJwksSecret);
  const groups: Routes[] = [];
  const approvalStore = createApprovalStore({ client: config.dynamo, table: config.tables.approvals });
  const lockStore = createLockStore({ client: config.dynamo, table: config.tables.locks });
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
    ? createConnectionAdmins({
        policy,
        secrets,
        wire: config.wire,
        rolePrefix: config.rolePrefix,
        masking: createConnectionMasking({ policy, secrets, rolePrefix: config.rolePrefix }),
      })
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
      locks: createLockChecker({ store: lockStore, now }),
      now,
    });
    const identity = createIdentityVerifier({ issuers: identityIssuers, now });
    groups.push(grantRoutes({ policy, identity, grants, audit }));
    groups.push(connectionRoutes({ policy, identity }));
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
    groups.push(approvalRoutes({ decisions, console: policy.console !== undefined }));
    const locks = createLockService({
      policy,
      store: lockStore,
      grantStore: store,
      grants,
      roles: admins.get,
      naming: { roleKey: queryKeys.roleKey, prefix: config.rolePrefix ?? ROLE_PREFIX },
      audit,
      now,
    });
    const plane = createOperatorPlane({
      policy,
      grantStore: store,
      grants,
      locks,
      approvalStore,
      decisions,
      audit,
      lockStore,
      now,
    });
    groups.push(adminRoutes({ identity, plane }));
    // The console's session keys are derived from the role key with HKDF, under a purpose of their own.
    if (policy.console)
      groups.push(
        consoleRoutes({
          policy,
          plane,
          sessionSecret: queryKeys.roleKey,
          sessions: createConsoleSessionStore({ client, table: config.tables.sessions }),
          locks: lockStore,
          now,
        }),
      );
    if (config.dev) {
      const privateJwks = await readSecret(secrets, SECRET_NAMES.devIssuer, SigningKeysSecret);
      const devIssuer = createDevIssuer({ issuer: `${config.dev.baseUrl}/dev`, privateJwks, now });
      groups.push(devRoutes({ issuer: devIssuer }));
      groups.push(
        devAuthorizeRoutes({
          authorizer: createDevAuthorizer({ issuer: devIssuer, baseUrl: config.dev.baseUrl, now }),
          issuer: `${config.dev.baseUrl}/dev`,
        }),
      );
      groups.push(outboxRoutes({ dir: config.dev.outboxDir }));
    }
  }
  const sessions = createSessionPool({ wire: config.wire, now });
  if (config.parts.query) {
    const query = createQueryService({
      policy,
      store: createGrantStore({ client: perStatement, table: config.tables.grants }),
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
    checks: [
      ...readinessChecks({ store, secrets, policy, wire: config.wire, admin: config.parts.api }),
      {
        name: 'parser',
        run: async () => {
          if (!parserHealthy()) throw new Error('the SQL parser overflowed and refuses to parse: restart this process');
        },
      },
    ],
  });
  const system = systemRoutes({
    publicUrl: policy.publicUrl,
    issuers: identityIssuers.map((issuer) => issuer.issuer),
    ...(signingKeys ? { publicJwks: signingKeys.publicJwks } : {}),
  });
  // The document lists every route mounted before it.
  const app = createApp(
    {
      maxBodyBytes: policy.limits.maxBodyBytes,
      publicUrl: policy.publicUrl,
      observe: { logger, metrics },
      guard: requestGuardOptions(policy, config.dev),
    },
    system,
    observeRoutes({ readiness, metrics }),
    ...groups,
    ...(config.parts.api ? [openApiRoutes(policy.publicUrl)] : []),
  );
  return {
    app,
    grants,
    sweep: async () => {
      if (!grants) throw new Error('the sweeper runs with the API half');
      const report = await grants.sweep();
      await approvals.notifyPending().catch((cause: unknown) => {
        report.failures.push({ step: 'notify', cause });
        report.errors++;
      });
      return report;
    },
    close: async () => {
      await sessions.closeAll();
      await admins?.close();
    },
  };
}
