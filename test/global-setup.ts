// Starts one real local infrastructure for the whole run (embedded Postgres with the demo data,
// the WebSocket proxy, dynalite) in a throw-away data dir on free ports; tests isolate by names.
// The `dynamodb-local` project (AIRLOCK_TEST_STORE) gets the same Postgres, with Amazon's DynamoDB Local as its store.

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { type LocalInfra, startLocalInfra } from '../local/infra.ts';
import { type DynamoDbLocal, startDynamoDbLocal } from './support/dynamodb-local.ts';

export type TestStore = 'dynalite' | 'dynamodb-local';

declare module 'vitest' {
  export interface ProvidedContext {
    infra: {
      dataDir: string;
      secretsPath: string;
      pgPort: number;
      proxyAddress: string;
      dynamoEndpoint: string;
      /** Which DynamoDB implementation `dynamoEndpoint` is. */
      store: TestStore;
    };
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Every project runs this setup in the same process, but each imports its own copy of this module:
 * the run's infrastructure lives on globalThis so that Postgres and DynamoDB Local start once per run.
 */
interface SharedRun {
  dataDir: Promise<string>;
  infra: Promise<LocalInfra>;
  dynamoDbLocal?: Promise<DynamoDbLocal>;
  users: number;
}
const RUN = Symbol.for('airlock.test.run');
const registry = globalThis as { [RUN]?: SharedRun };

function sharedRun(): SharedRun {
  if (!registry[RUN]) {
    const dataDir = mkdtemp(join(tmpdir(), 'airlock-test-'));
    const infra = dataDir.then(async (dir) =>
      startLocalInfra({ dataDir: dir, pgPort: await freePort(), memoryStore: true }),
    );
    registry[RUN] = { dataDir, infra, users: 0 };
  }
  return registry[RUN];
}

function storeOf(project: TestProject): TestStore {
  const store = project.config.env?.AIRLOCK_TEST_STORE ?? 'dynalite';
  if (store !== 'dynalite' && store !== 'dynamodb-local')
    throw new Error(`AIRLOCK_TEST_STORE must be dynalite or dynamodb-local, not "${store}"`);
  return store;
}

function dynamoDbLocalOf(run: SharedRun): Promise<DynamoDbLocal> {
  run.dynamoDbLocal ??= freePort().then(startDynamoDbLocal);
  return run.dynamoDbLocal;
}

export async function setup(project: TestProject) {
  const run = sharedRun();
  run.users++;
  const store = storeOf(project);
  const infra = await run.infra;
  const dynamoEndpoint = store === 'dynamodb-local' ? (await dynamoDbLocalOf(run)).endpoint : infra.dynamoEndpoint;
  project.provide('infra', {
    dataDir: infra.dataDir,
    secretsPath: infra.secretsPath,
    pgPort: infra.pgPort,
    proxyAddress: infra.proxyAddress,
    dynamoEndpoint,
    store,
  });
}

export async function teardown() {
  const run = registry[RUN];
  if (!run || --run.users > 0) return;
  delete registry[RUN];
  await run.dynamoDbLocal?.then(
    (store) => store.stop(),
    () => {},
  );
  await run.infra.then(
    (infra) => infra.stop(),
    () => {},
  );
  await run.dataDir.then(
    (dir) => rm(dir, { recursive: true, force: true }),
    () => {},
  );
}
