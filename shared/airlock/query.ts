// The query function's composition root: POST /v1/query (and the health routes) with only what a statement needs.
// Must never build the grants service, role minting, approval decisions, mail, the operator plane, MCP or the console.

import { createApprovalRequests, createApprovalStore } from '../approvals/index.ts';
import { createDynamoAuditLog, createDynamoHeadAnchor } from '../audit/index.ts';
import { createGrantStore } from '../grants/index.ts';
import { createApp, observeRoutes, queryRoutes, requestGuardOptions, systemRoutes } from '../http/index.ts';
import { loadVerificationKeys } from '../identity/index.ts';
import { createReadiness, observeAuditLog, readinessChecks } from '../observe/index.ts';
import { createSessionPool } from '../postgres/index.ts';
import { createQueryService } from '../query/index.ts';
import { GrantJwksSecret, readSecret, SECRET_NAMES } from '../secrets/index.ts';
import { parserHealthy } from '../sql/index.ts';
import type { Airlock, AirlockConfig } from './assemble.ts';
import { assembleBasics } from './basics.ts';

/** The query half alone (`parts` is ignored): what the query function serves. */
export async function assembleQueryAirlock(config: Omit<AirlockConfig, 'parts' | 'mailer' | 'dev'>): Promise<Airlock> {
  const { policy, secrets, tables } = config;
  const { now, logger, metrics, queryKeys, client, perStatement } = await assembleBasics(config);
  // The query path appends to grant chains only, so only the grant record anchors a head here.
  const audit = observeAuditLog(
    createDynamoAuditLog({
      client: perStatement,
      table: tables.audit,
      now,
      chain: {
        key: queryKeys.auditKey,
        anchor: createDynamoHeadAnchor({ client: perStatement, table: tables.grants }),
      },
    }),
    { metrics },
  );
  const store = createGrantStore({ client: perStatement, table: tables.grants });
  // Holds are recorded here; the API side's sweeper signs and sends their links.
  const approvals = createApprovalRequests({
    policy,
    store: createApprovalStore({ client, table: tables.approvals }),
    now,
  });
  const sessions = createSessionPool({ wire: config.wire, now });
  const query = createQueryService({
    policy,
    store,
    audit,
    verifierKeys: await loadVerificationKeys(await readSecret(secrets, SECRET_NAMES.grantJwks, GrantJwksSecret)),
    issuer: policy.publicUrl,
    roleKey: queryKeys.roleKey,
    maskingKey: queryKeys.maskingKey,
    sessions,
    gate: approvals.gate,
    profile: config.queryProfile,
    now,
  });
  const readiness = createReadiness({
    checks: [
      ...readinessChecks({ store, secrets, policy, wire: config.wire, admin: false }),
      {
        name: 'parser',
        run: async () => {
          if (!parserHealthy()) throw new Error('the SQL parser overflowed and refuses to parse: restart this process');
        },
      },
    ],
  });
  const app = createApp(
    {
      maxBodyBytes: policy.limits.maxBodyBytes,
      publicUrl: policy.publicUrl,
      observe: { logger, metrics },
      guard: requestGuardOptions(policy, undefined),
    },
    systemRoutes({ publicUrl: policy.publicUrl, issuers: policy.identity.issuers.map((issuer) => issuer.issuer) }),
    observeRoutes({ readiness, metrics }),
    queryRoutes({ query }),
  );
  return {
    app,
    sweep: async () => {
      throw new Error('the sweeper runs with the API half');
    },
    close: async () => {
      await sessions.closeAll();
    },
  };
}
