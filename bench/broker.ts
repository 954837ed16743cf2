// The broker under test in a process of its own: the real Airlock app (both halves, as `npm start` serves
// it) over HTTP, driven by bench/run.ts through IPC for what HTTP cannot do (move its clock, sweep, read its
// phase timings). A variant may swap the store client; it never changes the query path's code.

import { join } from 'node:path';
import { GetItemCommand, type GetItemCommandOutput } from '@aws-sdk/client-dynamodb';
import { type ServerType, serve } from '@hono/node-server';
import { localTableNames } from '../local/dynamo.ts';
import { localizePolicy } from '../local/stack.ts';
import { assembleAirlock } from '../shared/airlock/index.ts';
import { loadPolicyFile } from '../shared/policy/index.ts';
import type { QueryPhase } from '../shared/query/index.ts';
import { createFileSecretSource } from '../shared/secrets/index.ts';
import { createDynamoClient, hotPathFor } from '../shared/store/index.ts';
import type { BrokerConfig, BrokerReply, BrokerRequest, PhaseTotals } from './protocol.ts';

const config = JSON.parse(process.env.BENCH_BROKER ?? '{}') as BrokerConfig;
const baseUrl = `http://127.0.0.1:${config.port}`;
const tables = localTableNames(config.tablePrefix);
let offsetMs = 0;
const now = () => new Date(Date.now() + offsetMs);

const sdk = createDynamoClient({ region: 'local', endpoint: config.storeEndpoint });
const dynamo = config.variant === 'grant-cache' ? withGrantCache(sdk, tables.grants) : sdk;
// Through the composition root's seam, as the functions and the local stack build it.
const hotPath = config.variant === 'hot-path' ? await hotPathFor(sdk) : undefined;

const phases = new Map<QueryPhase, PhaseTotals>();
const demo = localizePolicy(await loadPolicyFile(config.policyPath), baseUrl);
// The benchmarks measure the broker, not a subject's quotas: one identity asks for up to 1,000 grants.
const airlock = await assembleAirlock({
  policy: { ...demo, limits: { ...demo.limits, grantsPerSubject: 1000, sessionsPerSubject: 10_000 } },
  secrets: createFileSecretSource(config.secretsPath),
  dynamo,
  ...(hotPath ? { hotPath } : {}),
  tables,
  wire: { wsProxy: config.wsProxy, secureWebSocket: false },
  parts: { api: true, query: true },
  now,
  rolePrefix: config.rolePrefix,
  dev: { baseUrl, outboxDir: join(config.dataDir, `outbox-${config.tablePrefix}`) },
  queryProfile: {
    record(phase, cpuMicros, wallMs) {
      const totals = phases.get(phase) ?? { records: 0, cpuUs: 0, wallMs: 0 };
      totals.records++;
      totals.cpuUs += cpuMicros;
      totals.wallMs += wallMs;
      phases.set(phase, totals);
    },
  },
});
const server: ServerType = await new Promise((resolve) => {
  const s = serve({ fetch: airlock.app.fetch, port: config.port, hostname: '127.0.0.1' }, () => resolve(s));
});
(server as import('node:http').Server).keepAliveTimeout = 65_000;

/** What the profile hook itself costs per record (two process.cpuUsage and two performance.now calls). */
function hookCostUs(): number {
  const rounds = 20_000;
  const started = process.cpuUsage();
  for (let i = 0; i < rounds; i++) {
    process.cpuUsage(process.cpuUsage());
    performance.now();
    performance.now();
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / rounds;
}
const profileCostUs = hookCostUs();

async function handle(request: BrokerRequest): Promise<unknown> {
  switch (request.cmd) {
    case 'phases': {
      const snapshot = Object.fromEntries(phases);
      phases.clear();
      return { phases: snapshot, profileCostUs };
    }
    case 'advance':
      offsetMs += request.seconds * 1000;
      return offsetMs;
    case 'sweep':
      return airlock.sweep();
    case 'statuses': {
      const principal = { subject: request.subject, issuer: `${baseUrl}/dev`, groups: [], email: null, claims: {} };
      return Promise.all(request.ids.map(async (id) => (await airlock.grants!.get(principal, id)).grant.status));
    }
  }
}

process.on('message', (message: BrokerRequest & { id: number }) => {
  handle(message).then(
    (value) => process.send?.({ id: message.id, ok: true, value } satisfies BrokerReply),
    (error: unknown) => process.send?.({ id: message.id, ok: false, error: String(error) } satisfies BrokerReply),
  );
});
process.on('disconnect', () => {
  server.close();
  void airlock.close().finally(() => process.exit(0));
});
process.send?.({ ready: true });

/**
 * Bench only, and unsafe: every grant is read from the store once and never again, so a revocation written
 * to the store is not seen. It measures what the per-statement grant re-read costs, nothing more.
 */
function withGrantCache(client: typeof sdk, grantsTable: string): typeof sdk {
  const cache = new Map<string, Promise<GetItemCommandOutput>>();
  const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
  const cached = Object.create(client) as typeof sdk;
  cached.send = ((command: unknown) => {
    if (!(command instanceof GetItemCommand) || command.input.TableName !== grantsTable) return send(command);
    const key = JSON.stringify(command.input.Key);
    const hit = cache.get(key) ?? (send(command) as Promise<GetItemCommandOutput>);
    cache.set(key, hit);
    return hit;
  }) as typeof sdk.send;
  return cached;
}
