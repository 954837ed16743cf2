// `npm start`: the local stack on embedded parts, with a newcomer's walkthrough printed at start.
// Ctrl-C or SIGTERM stops every part; a failed start says why and exits non-zero.

import { isAirlockError } from '../shared/errors.ts';
import { parseLocalConfig } from './config.ts';
import { startLocalStack } from './stack.ts';

// The local stack runs on Node ≥ 20; the SDK's notice about its own future Node 22 floor is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const started = Date.now();
const verbose = process.env.AIRLOCK_LOG === 'debug';

try {
  const config = parseLocalConfig(process.env, process.cwd());
  console.log(`airlock: starting the local stack (data in ${config.dataDir}) …`);
  const stack = await startLocalStack(config, (line) => verbose && console.log(`  ${line}`));
  console.log(walkthrough(stack.baseUrl, config.pgPort, stack.infra.seeded, Date.now() - started));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\nairlock: ${signal}, stopping …`);
    await stack.close();
    console.log('airlock: stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGHUP', () => void stop('SIGHUP'));
  // `npm start` does not pass SIGTERM on to us: when our parent goes away, stop rather than linger.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && void stop('parent exited'), 1000).unref();
} catch (error) {
  const message = isAirlockError(error) ? error.message : error instanceof Error ? error.message : String(error);
  console.error(`airlock: could not start: ${message}`);
  process.exit(1);
}

function walkthrough(base: string, pgPort: number, seeded: boolean, ms: number): string {
  return `
airlock: ready in ${(ms / 1000).toFixed(1)} s at ${base}  (Postgres on 127.0.0.1:${pgPort}${seeded ? ', demo data seeded' : ''})

Try it (copy-paste):

  # 1. an identity token from the local dev issuer
  TOKEN=$(curl -s -X POST ${base}/dev/token -H 'content-type: application/json' \\
    -d '{"sub":"agent:demo","groups":["finance"]}' | node -pe 'JSON.parse(fs.readFileSync(0)).token')

  # 2. a read grant on the demo database (policy: airlock.policy.yaml)
  GRANT=$(curl -s -X POST ${base}/v1/grants -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
    -d '{"connection":"shop","access":"read","ttl":"15m","reason":"try airlock"}' | node -pe 'JSON.parse(fs.readFileSync(0)).token')

  # 3. a query as the grant's temporary role: sensitive columns come back masked
  curl -s -X POST ${base}/v1/query -H "authorization: Bearer $GRANT" -H 'content-type: application/json' \\
    -d '{"sql":"SELECT id, name, email, card_number FROM customers ORDER BY id LIMIT 3"}'

Emails (approvals) land in ${base}/dev/outbox. Ctrl-C stops everything.
`;
}
