// `npm start`: the local stack on embedded parts, with a newcomer's walkthrough printed at start.
// Ctrl-C or SIGTERM stops every part; a failed start says why and exits non-zero.

import { isAirlockError } from '../shared/errors.ts';
import { describeCause } from '../shared/observe/index.ts';
import { parseLocalConfig } from './config.ts';
import { createLocalLogger } from './log.ts';
import { startLocalStack } from './stack.ts';

// The local stack runs on Node ≥ 20; the SDK's notice about its own future Node 22 floor is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const started = Date.now();
// A terminal gets pretty log lines and the walkthrough on stdout; a pipe gets JSON lines only on stdout.
const terminal = process.stdout.isTTY === true;
const say = (text: string) => (terminal ? process.stdout : process.stderr).write(`${text}\n`);

try {
  const config = parseLocalConfig(process.env, process.cwd());
  const logger = createLocalLogger(config.logLevel ?? 'info', terminal);
  say(`airlock: starting the local stack (data in ${config.dataDir}) …`);
  const stack = await startLocalStack(config, { logger });
  say(walkthrough(stack.baseUrl, config.pgPort, stack.infra.seeded, Date.now() - started));
  logger.info({ url: stack.baseUrl, pgPort: config.pgPort, seeded: stack.infra.seeded }, 'airlock: ready');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`\nairlock: ${signal}, stopping …`);
    await stack.close();
    say('airlock: stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGHUP', () => void stop('SIGHUP'));
  // `npm start` does not pass SIGTERM on to us: when our parent goes away, stop rather than linger.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && void stop('parent exited'), 1000).unref();
} catch (error) {
  process.stderr.write(`airlock: could not start: ${startFailure(error)}\n`);
  process.exit(1);
}

/** Airlock's own errors say what to do; anything else is named with its cause chain. */
function startFailure(error: unknown): string {
  if (isAirlockError(error)) return error.message;
  const cause = describeCause(error);
  const chain: string[] = [];
  for (let link: typeof cause | undefined = cause; link; link = link.cause)
    chain.push(`${link.name}${link.code ? ` (${link.code})` : ''}: ${link.message}`);
  return `${chain.join(' ← ')} (run with AIRLOCK_LOG=debug for the parts' own output)`;
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
