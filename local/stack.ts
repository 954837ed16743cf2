// The whole local stack in one process: embedded infrastructure, the Airlock app on Node, the sweeper on
// an interval, its logs and metrics. Stops every part on close, leaving no Postgres process behind.

import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { type ServerType, serve } from '@hono/node-server';
import { type Airlock, assembleAirlock } from '../shared/airlock/index.ts';
import { AirlockError } from '../shared/errors.ts';
import { checkPolicyConnections, describeFindings } from '../shared/masking/index.ts';
import { createLogger, type Logger, type Metrics, observeSweep } from '../shared/observe/index.ts';
import type { Policy } from '../shared/policy/index.ts';
import { loadPolicyFile } from '../shared/policy/index.ts';
import { createPrometheusMetrics } from '../shared/prometheus/index.ts';
import { createDynamoClient, type DynamoHotPath, hotPathFor } from '../shared/store/index.ts';
import type { LocalConfig } from './config.ts';
import { ensureTables, localTableNames } from './dynamo.ts';
import { startLocalExport } from './export.ts';
import { type LocalInfra, startLocalInfra } from './infra.ts';
import { lockDataDir } from './lock.ts';
import { assertPortFree } from './ports.ts';

export const DEFAULT_LOCAL_ORIGINS = ['http://127.0.0.1:8787', 'http://localhost:8787'];

export interface LocalStack {
  baseUrl: string;
  infra: LocalInfra;
  airlock: Airlock;
  policy: Policy;
  /** What GET /metrics shows. */
  metrics: Metrics;
  close(): Promise<void>;
}

export interface LocalStackOptions {
  /** Default: JSON lines on stdout at the configured level. */
  logger?: Logger;
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
    ...(policy.console ? { console: { ...policy.console, issuer: move(policy.console.issuer) } } : {}),
  };
}

export async function startLocalStack(config: LocalConfig, options: LocalStackOptions = {}): Promise<LocalStack> {
  const logger = options.logger ?? createLogger({ level: config.logLevel ?? 'info' });
  const baseUrl = `http://${config.host}:${config.port}`;
  const policy = localizePolicy(await loadPolicyFile(config.policyPath), baseUrl);
  // Before anything starts or is seeded: the data dir is ours, and both ports are free.
  const lock = await lockDataDir(config.dataDir, config.dataDirName ?? config.dataDir);
  let infra: LocalInfra | undefined;
  let server: ServerType | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  let exporting: { stop(): Promise<void> } | undefined;
  let hotPath: DynamoHotPath | undefined;
  const close = async () => {
    if (sweeper) clearInterval(sweeper);
    await exporting?.stop();
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    hotPath?.close();
    await infra?.stop();
    await lock.release();
  };
  try {
    await assertPortFree(config.host, config.port, 'AIRLOCK_PORT');
    await assertPortFree('127.0.0.1', config.pgPort, 'AIRLOCK_PG_PORT');
    infra = await startLocalInfra({
      dataDir: config.dataDir,
      pgPort: config.pgPort,
      log: (line) => logger.debug({ part: 'infra' }, line),
      ...(config.dataDirName ? { dataDirName: config.dataDirName } : {}),
    });
    // A masked column, profile role or guardrail table the database does not have stops the start, never a silent pass.
    const findings = await checkPolicyConnections({ policy, secrets: infra.secrets, wire: infra.wire });
    for (const line of describeFindings(findings.filter((finding) => finding.severity === 'warning')))
      logger.warn({ part: 'policy' }, line);
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
    hotPath = await hotPathFor(dynamo);
    const metrics = createPrometheusMetrics();
    const airlock = await assembleAirlock({
      policy,
      secrets: infra.secrets,
      dynamo,
      hotPath,
      tables,
      wire: infra.wire,
      parts: { api: true, query: true },
      dev: { baseUrl, outboxDir: join(config.dataDir, 'outbox') },
      observe: { logger, metrics },
    });
    exporting = await startLocalExport({
      policy,
      secrets: infra.secrets,
      dynamo,
      tables,
      logger,
      metrics,
      cwd: dirname(config.policyPath),
    });
    server = await listen(airlock, config);
    let sweeping = false;
    sweeper = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      // observeSweep logs every run and its failures; nothing more to do with them here.
      observeSweep(() => airlock.sweep(), { logger, metrics })
        .catch(() => {})
        .finally(() => (sweeping = false));
    }, 10_000);
    sweeper.unref();
    return { baseUrl, infra, airlock, policy, metrics, close };
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
