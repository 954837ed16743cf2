// The embedded infrastructure of the local stack: Postgres with the demo data, the WebSocket proxy,
// the DynamoDB-compatible store and the secrets file. Started together, stopped together.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { closeClient, connectClient, quoteIdent, type WireOptions } from '../shared/postgres/index.ts';
import { DatabaseSecret, readSecret, type SecretSource } from '../shared/secrets/index.ts';
import { startWsProxy } from '../shared/wsproxy/index.ts';
import { startLocalDynamo } from './dynamo.ts';
import { startLocalPostgres } from './postgres.ts';
import { ensureLocalSecrets, LOCAL_ADMIN_SECRET } from './secrets.ts';
import { seedShop } from './seed.ts';

export interface LocalInfra {
  dataDir: string;
  secrets: SecretSource;
  secretsPath: string;
  pgPort: number;
  wire: WireOptions;
  proxyAddress: string;
  dynamoEndpoint: string;
  seeded: boolean;
  /** Just the embedded Postgres, stopped and started again while everything else keeps running (fault tests). */
  postgres: { stop(): Promise<void>; start(): Promise<void> };
  stop(): Promise<void>;
}

export interface LocalInfraOptions {
  dataDir: string;
  pgPort: number;
  /** Keep dynalite in memory (tests) instead of persisting it in the data dir. */
  memoryStore?: boolean;
  log?: (line: string) => void;
  /** How the user named the data dir, for messages. */
  dataDirName?: string;
}

export async function startLocalInfra(options: LocalInfraOptions): Promise<LocalInfra> {
  const log = options.log ?? (() => {});
  await mkdir(options.dataDir, { recursive: true });
  const secretsPath = join(options.dataDir, 'secrets.json');
  const secrets = await ensureLocalSecrets(secretsPath, options.pgPort);
  const admin = await readSecret(secrets, LOCAL_ADMIN_SECRET, DatabaseSecret);

  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch((error: unknown) => log(`stop: ${String(error)}`));
  };
  try {
    const pg = await startLocalPostgres({
      dataDir: options.dataDir,
      port: options.pgPort,
      adminPassword: admin.password,
      log,
      ...(options.dataDirName ? { dataDirName: options.dataDirName } : {}),
    });
    stops.push(() => pg.close());
    const proxy = await startWsProxy({ targets: [`127.0.0.1:${options.pgPort}`, `localhost:${options.pgPort}`] });
    stops.push(() => proxy.close());
    const wire: WireOptions = { wsProxy: proxy.address, secureWebSocket: false };
    const seeded = await prepareShop(admin, wire);
    const dynamo = await startLocalDynamo({ path: options.memoryStore ? undefined : join(options.dataDir, 'store') });
    stops.push(() => dynamo.close());
    return {
      dataDir: options.dataDir,
      secrets,
      secretsPath,
      pgPort: options.pgPort,
      wire,
      proxyAddress: proxy.address,
      dynamoEndpoint: dynamo.endpoint,
      seeded,
      postgres: { stop: () => pg.stop(), start: () => pg.start() },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Creates the `shop` database and seeds it, once. */
export async function prepareShop(admin: DatabaseSecret, wire: WireOptions): Promise<boolean> {
  const target = { host: admin.host, port: admin.port, user: admin.username, password: admin.password };
  const server = await connectClient({ ...target, database: 'postgres' }, wire);
  try {
    const exists = await server.query(`SELECT 1 FROM pg_database WHERE datname = $1`, [admin.dbname]);
    if (exists.rowCount === 0) await server.query(`CREATE DATABASE ${quoteIdent(admin.dbname)}`);
  } finally {
    await closeClient(server);
  }
  const shop = await connectClient({ ...target, database: admin.dbname }, wire);
  try {
    return await seedShop(shop);
  } finally {
    await closeClient(shop);
  }
}
