// Starts one real local infrastructure for the whole run (embedded Postgres with the demo data,
// the WebSocket proxy, dynalite) in a throw-away data dir on free ports; tests isolate by names.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { TestProject } from 'vitest/node';
import { startLocalInfra, type LocalInfra } from '../local/infra.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    infra: {
      dataDir: string;
      secretsPath: string;
      pgPort: number;
      proxyAddress: string;
      dynamoEndpoint: string;
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

let infra: LocalInfra | undefined;
let dataDir: string | undefined;

export async function setup(project: TestProject) {
  dataDir = await mkdtemp(join(tmpdir(), 'airlock-test-'));
  infra = await startLocalInfra({ dataDir, pgPort: await freePort(), memoryStore: true });
  project.provide('infra', {
    dataDir,
    secretsPath: infra.secretsPath,
    pgPort: infra.pgPort,
    proxyAddress: infra.proxyAddress,
    dynamoEndpoint: infra.dynamoEndpoint,
  });
}

export async function teardown() {
  await infra?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}
