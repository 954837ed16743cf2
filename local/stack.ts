// The whole local stack in one process: embedded infrastructure, the Airlock app on Node, and the
// sweeper on an interval. Stops every part on close, leaving no Postgres process behind.

import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { AirlockError } from '../shared/errors.ts';
import { type Airlock, assembleAirlock } from '../shared/http/airlock.ts';
import { describeFindings } from '../shared/masking/model.ts';
import { loadPolicyFile } from '../shared/policy/load.ts';
import type { Policy } from '../shared/policy/schema.ts';
import { checkPolicyConnections } from '../shared/postgres/admin.ts';
import { createDynamoClient } from '../shared/store/dynamo.ts';
import type { LocalConfig } from './config.ts';
import { ensureTables, localTableNames } from './dynamo.ts';
import { type LocalInfra, startLocalInfra } from './infra.ts';

export const DEFAULT_LOCAL_ORIGINS = ['http://127.0.0.1:8787', 'http://localhost:8787'];

export interface LocalStack {
  baseUrl: string;
  infra: LocalInfra;
  airlock: Airlock;
  policy: Policy;
  close(): Promise<void>;
}

/**
 * The demo policy names http://127.0.0.1:8787. When the stack runs elsewhere, its own URLs in the
 * policy (publicUrl, the dev issuer) are moved to where it really listens; other issuers stay as written.
 */
export function localizePolicy(policy: Policy, baseUrl: string): Policy {
  const move = (url: string) => {
    const origin = DEFAULT_LOCAL_ORIGINS.find((candidate) => url === candidate || url.startsWith(`${candidate}/`));
    return origin ? baseUrl + url.slice(origin.length) : url;
  };
  return {
    ...policy,
    publicUrl: move(policy.publicUrl),
    identity: {
      issuers: policy.identity.issuers.map((issuer) => ({
        ...issuer,
        issuer: move(issuer.issuer),
        ...(issuer.jwksUri ? { jwksUri: move(issuer.jwksUri) } : {}),
      })),
    },
  };
}

export async function startLocalStack(
  config: LocalConfig,
  log: (line: string) => void = () => {},
): Promise<LocalStack> {
  const baseUrl = `http://${config.host}:${config.port}`;
  const policy = localizePolicy(await loadPolicyFile(config.policyPath), baseUrl);
  const infra = await startLocalInfra({ dataDir: config.dataDir, pgPort: config.pgPort, log });
  let server: ServerType | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  const close = async () => {
    if (sweeper) clearInterval(sweeper);
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    await infra.stop();
  };
  try {
    // A masked column, profile role or guardrail table the database does not have stops the start, never a silent pass.
    const findings = await checkPolicyConnections({ policy, secrets: infra.secrets, wire: infra.wire });
    for (const line of describeFindings(findings.filter((finding) => finding.severity === 'warning')))
      log(`policy: ${line}`);
    const errors = describeFindings(findings.filter((finding) => finding.severity === 'error'));
    if (errors.length > 0)
      throw new AirlockError(
        'invalid_config',
        `${config.policyPath} does not match the database:\n  ${errors.join('\n  ')}`,
        { issues: errors },
      );
    const dynamo = createDynamoClient({ region: 'local', endpoint: infra.dynamoEndpoint });
    const tables = localTableNames();
    await ensureTables(dynamo, tables);
    const airlock = await assembleAirlock({
      policy,
      secrets: infra.secrets,
      dynamo,
      tables,
      wire: infra.wire,
      parts: { api: true, query: true },
      dev: { baseUrl, outboxDir: join(config.dataDir, 'outbox') },
    });
    server = await listen(airlock, config);
    let sweeping = false;
    sweeper = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      airlock
        .sweep()
        .then(
          (report) =>
            report.expired + report.orphansReaped > 0 &&
            log(`sweeper: ${report.expired} expired, ${report.orphansReaped} orphan roles reaped`),
        )
        .catch((error: unknown) => log(`sweeper: ${(error as Error).message}`))
        .finally(() => (sweeping = false));
    }, 10_000);
    sweeper.unref();
    return { baseUrl, infra, airlock, policy, close };
  } catch (error) {
    await close();
    throw error;
  }
}

function listen(airlock: Airlock, config: LocalConfig): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve(
      { fetch: airlock.app.fetch, port: config.port, hostname: config.host },
      (info: AddressInfo) => {
        void info;
        resolve(server);
      },
    );
    // Longer than clients' idle keep-alive, so a reused connection is never closed under a request.
    (server as import('node:http').Server).keepAliveTimeout = 65_000;
    server.once('error', reject);
  });
}
