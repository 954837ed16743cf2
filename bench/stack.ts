// The benchmarks' local stack, one process per part as in AWS: embedded Postgres, the WebSocket proxy, the
// store (dynalite), pgbouncer and each broker run apart from the client, so the OS can say what each costs.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ensureTables, localTableNames } from '../local/dynamo.ts';
import { prepareShop } from '../local/infra.ts';
import { startLocalPostgres } from '../local/postgres.ts';
import { ensureLocalSecrets, LOCAL_ADMIN_SECRET } from '../local/secrets.ts';
import type { WireOptions } from '../shared/postgres/index.ts';
import { DatabaseSecret, readSecret, type SecretSource } from '../shared/secrets/index.ts';
import { createDynamoClient } from '../shared/store/index.ts';
import { type HttpClient, httpClient } from './measure.ts';
import type { BrokerConfig, BrokerReply, BrokerRequest, BrokerVariant } from './protocol.ts';

export interface BenchStack {
  dataDir: string;
  secretsPath: string;
  secrets: SecretSource;
  admin: DatabaseSecret;
  wire: WireOptions;
  proxyAddress: string;
  storeEndpoint: string;
  policyPath: string;
  /** Where pgbouncer listens once started (reserved up front: the proxy's allow-list names it). */
  pgbouncerPort: number;
  pids: { postgres: number; proxy: number; store: number };
  startBroker(name: string, variant: BrokerVariant): Promise<Broker>;
  /** pgbouncer in transaction pooling mode in front of Postgres, accepting these logins. */
  startPgbouncer(logins: Array<{ user: string; password: string }>, poolSize: number): Promise<{ pid: number }>;
  close(): Promise<void>;
}

export interface Broker {
  name: string;
  variant: BrokerVariant;
  baseUrl: string;
  /** Its grants' roles are `${rolePrefix}…` (see roleNameFor). */
  rolePrefix: string;
  pid: number;
  http: HttpClient;
  ask(request: BrokerRequest): Promise<unknown>;
  close(): Promise<void>;
}

const ENV = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startBenchStack(options: { profileDir?: string } = {}): Promise<BenchStack> {
  const { profileDir } = options;
  const dataDir = await mkdtemp(join(tmpdir(), 'airlock-bench-'));
  const children: ChildProcess[] = [];
  const stops: Array<() => Promise<void>> = [];
  // A crashed run must not leave processes behind (IPC children also exit when their parent goes).
  const killAll = () => {
    for (const child of children) child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const close = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    process.off('exit', killAll);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const pgPort = await freePort();
    const pgbouncerPort = await freePort();
    const secretsPath = join(dataDir, 'secrets.json');
    const secrets = await ensureLocalSecrets(secretsPath, pgPort);
    const admin = await readSecret(secrets, LOCAL_ADMIN_SECRET, DatabaseSecret);
    const pg = await startLocalPostgres({ dataDir, port: pgPort, adminPassword: admin.password });
    stops.push(() => pg.stop());
    const postgresPid = Number(readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);

    const proxy = await startChild(
      children,
      [
        '--import',
        'tsx',
        new URL('./proxy.ts', import.meta.url).pathname,
        `127.0.0.1:${pgPort}`,
        `localhost:${pgPort}`,
        `127.0.0.1:${pgbouncerPort}`,
      ],
      {},
    );
    stops.push(() => stopChild(proxy.child));
    const proxyAddress = (proxy.message as { address: string }).address;
    const wire: WireOptions = { wsProxy: proxyAddress, secureWebSocket: false };
    await prepareShop(admin, wire);

    const store = await startStoreProcess(children);
    stops.push(() => stopChild(store.child));
    const setupClient = createDynamoClient({ region: 'local', endpoint: store.endpoint });
    stops.push(async () => setupClient.destroy());
    const policyPath = new URL('../airlock.policy.yaml', import.meta.url).pathname;

    const startBroker = async (name: string, variant: BrokerVariant): Promise<Broker> => {
      const tablePrefix = `bench-${name}`;
      await ensureTables(setupClient, localTableNames(tablePrefix));
      const port = await freePort();
      const config: BrokerConfig = {
        port,
        policyPath,
        secretsPath,
        storeEndpoint: store.endpoint,
        tablePrefix,
        rolePrefix: `airlock_${name.replace(/[^a-z0-9]/g, '')}_`,
        wsProxy: proxyAddress,
        dataDir,
        variant,
      };
      const { child } = await startChild(
        children,
        [
          // --profile=<dir>: the broker writes a V8 CPU profile there when it stops.
          ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
          '--import',
          'tsx',
          new URL('./broker.ts', import.meta.url).pathname,
        ],
        {
          BENCH_BROKER: JSON.stringify(config),
        },
      );
      const pending = new Map<number, (reply: BrokerReply) => void>();
      let nextId = 0;
      child.on('message', (reply: BrokerReply) => pending.get(reply.id)?.(reply));
      const baseUrl = `http://127.0.0.1:${port}`;
      const http = httpClient(baseUrl);
      const broker: Broker = {
        name,
        variant,
        baseUrl,
        rolePrefix: config.rolePrefix,
        pid: child.pid!,
        http,
        ask: (request) =>
          new Promise((resolve, reject) => {
            const id = nextId++;
            pending.set(id, (reply) => {
              pending.delete(id);
              if (reply.ok) resolve(reply.value);
              else reject(new Error(`broker ${name}: ${reply.error}`));
            });
            child.send({ ...request, id });
          }),
        close: async () => {
          http.close();
          await stopChild(child);
        },
      };
      stops.push(() => broker.close());
      return broker;
    };

    const startPgbouncer = async (logins: Array<{ user: string; password: string }>, poolSize: number) => {
      const dir = join(dataDir, 'pgbouncer');
      await mkdir(dir, { recursive: true });
      const quote = (value: string) => `"${value.replace(/"/g, '""')}"`;
      await writeFile(join(dir, 'userlist.txt'), logins.map((l) => `${quote(l.user)} ${quote(l.password)}`).join('\n'));
      await writeFile(
        join(dir, 'pgbouncer.ini'),
        [
          '[databases]',
          `${admin.dbname} = host=127.0.0.1 port=${pgPort} dbname=${admin.dbname}`,
          '[pgbouncer]',
          'listen_addr = 127.0.0.1',
          `listen_port = ${pgbouncerPort}`,
          'unix_socket_dir =',
          'auth_type = scram-sha-256',
          `auth_file = ${join(dir, 'userlist.txt')}`,
          'pool_mode = transaction',
          `default_pool_size = ${poolSize}`,
          'max_client_conn = 200',
          'ignore_startup_parameters = extra_float_digits,options',
          `logfile = ${join(dir, 'pgbouncer.log')}`,
          '',
        ].join('\n'),
      );
      // pgbouncer refuses to run as root: it drops to the postgres user, who must read its files.
      const asRoot = userInfo().uid === 0;
      if (asRoot) {
        const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
        const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
        await chmod(dataDir, 0o711);
        for (const path of [dir, join(dir, 'userlist.txt'), join(dir, 'pgbouncer.ini')]) await chown(path, uid, gid);
      }
      const child = spawn('pgbouncer', [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], {
        stdio: 'ignore',
      });
      children.push(child);
      stops.push(() => stopChild(child, 'SIGINT'));
      for (let i = 0; i < 100 && !(await listening(pgbouncerPort)); i++) {
        if (child.exitCode !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (!(await listening(pgbouncerPort)))
        throw new Error(`pgbouncer did not start (see ${join(dir, 'pgbouncer.log')})`);
      return { pid: child.pid! };
    };

    return {
      dataDir,
      secretsPath,
      secrets,
      admin,
      wire,
      proxyAddress,
      storeEndpoint: store.endpoint,
      policyPath,
      pgbouncerPort,
      pids: { postgres: postgresPid, proxy: proxy.child.pid!, store: store.child.pid! },
      startBroker,
      startPgbouncer,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Starts a Node child with an IPC channel and waits for its first message (its address, or that it is ready). */
async function startChild(
  children: ChildProcess[],
  args: string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; message: unknown }> {
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...ENV, ...env },
  });
  children.push(child);
  const message = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code, signal) =>
      reject(new Error(`${args.at(-1)} exited (${signal ?? code}) before it was ready`)),
    );
  });
  return { child, message };
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.disconnect();
  else child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function startStoreProcess(children: ChildProcess[]): Promise<{ endpoint: string; child: ChildProcess }> {
  const port = await freePort();
  const cli = createRequire(import.meta.url).resolve('dynalite/cli.js');
  const child = spawn(process.execPath, [cli, '--host', '127.0.0.1', '--port', String(port), '--createTableMs', '0'], {
    stdio: 'ignore',
  });
  children.push(child);
  for (let i = 0; i < 100; i++) {
    if (await listening(port)) return { endpoint: `http://127.0.0.1:${port}`, child };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill();
  throw new Error('the store process did not start');
}
