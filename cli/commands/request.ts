// `airlock request`: ask for a grant, optionally wait for the humans, keep the grant token.
// Ctrl-C withdraws the request (DELETE /v1/grants/{id}): nobody can approve a grant no one waits for.

import type { ApiClient } from '../api.ts';
import { type CliContext, type Command, flag } from '../args.ts';
import { parseDurationMs, parseDurationSeconds } from '../duration.ts';
import { CliError, EXIT, usageError } from '../exit.ts';
import { describeGrant, type Grant, readGrant, waitingFor } from '../grant-view.ts';
import { startProgress } from '../progress.ts';

const MIN_INTERVAL_MS = 50;

export const request: Command = {
  name: 'request',
  summary: 'request a grant on a connection; with --wait, wait for approval',
  usage: '<connection> --reason "…" [--access read] [--ttl 30m] [--wait]',
  details: [
    'The policy decides: granted now, held for human approval, or denied. The window starts when the',
    "grant becomes active; a TTL above the rule's maxTtl is clamped (the grant shows what it got).",
    'The grant token is kept (mode 0600, per Airlock URL) for `airlock query`.',
    'Durations need a unit: 90s, 15m, 1h, 1h30m. Ctrl-C while the request is made or waited on withdraws it.',
    'See what you could request: airlock connections',
  ].join('\n'),
  options: {
    access: {
      type: 'string',
      short: 'a',
      value: '<profile>',
      description: 'access profile, e.g. read or write (default read)',
    },
    ttl: { type: 'string', value: '<duration>', description: 'window length, e.g. 15m, 1h, 90s (default 30m)' },
    reason: {
      type: 'string',
      short: 'r',
      value: '<text>',
      description: 'why you need it (required; approvers read it)',
    },
    wait: { type: 'boolean', short: 'w', description: 'wait until the grant is active, denied or expired' },
    timeout: {
      type: 'string',
      value: '<duration>',
      description: 'with --wait: give up after this long, e.g. 10m (default: the approval deadline)',
    },
    interval: {
      type: 'string',
      value: '<duration>',
      description: 'with --wait: time between checks, e.g. 2s or 500ms (default 2s)',
    },
    json: { type: 'boolean', description: 'print the grant as JSON (the token is stored, never printed)' },
  },
  positionals: { min: 1, max: 1, name: 'connection' },
  examples: [
    'airlock request shop --reason "investigate order totals" --ttl 15m',
    'airlock request shop --access write --reason "fix order 42" --wait',
  ],
  async run({ flags, positionals, ctx }) {
    const reason = flag.string(flags, 'reason');
    if (!reason?.trim())
      throw usageError('a reason is required', 'add --reason "…": approvers and the audit trail read it');
    const ttlSeconds = parseDurationSeconds(flag.string(flags, 'ttl') ?? '30m', { name: '--ttl', bareUnit: 'm' });
    const intervalMs = Math.max(
      MIN_INTERVAL_MS,
      parseDurationMs(flag.string(flags, 'interval') ?? '2s', { name: '--interval', bareUnit: 's' }),
    );
    const timeoutText = flag.string(flags, 'timeout');
    const timeoutMs =
      timeoutText === undefined ? undefined : parseDurationMs(timeoutText, { name: '--timeout', bareUnit: 'm' });
    const api = ctx.api();
    const interrupt = watchInterrupt(ctx);
    try {
      const response = await api.call('POST', '/v1/grants', {
        bearer: 'identity',
        body: { connection: positionals[0], access: flag.string(flags, 'access') ?? 'read', ttl: ttlSeconds, reason },
      });
      let { grant, token } = readGrant(response.body);
      if (!interrupt.interrupted && grant.status === 'pending' && flag.bool(flags, 'wait'))
        ({ grant, token } = await waitForGrant(ctx, grant, intervalMs, timeoutMs, interrupt));
      if (interrupt.interrupted) return await withdraw(ctx, api, grant, flag.bool(flags, 'json'));
      // Past this point nothing is withdrawn: Ctrl-C ends the process as usual.
      interrupt.stop();
      if (token && grant.expiresAt) {
        await ctx.tokens().put(api.baseUrl, {
          id: grant.id,
          token,
          connection: grant.connection,
          access: grant.access,
          expiresAt: grant.expiresAt,
        });
      }
      print(ctx, grant, flag.bool(flags, 'json'));
      if (grant.status === 'active') {
        if (!flag.bool(flags, 'json'))
          ctx.stderr.write(`grant token stored for ${api.baseUrl}; next: airlock query "SELECT …"\n`);
        return EXIT.ok;
      }
      if (grant.status === 'pending') {
        const waited = flag.bool(flags, 'wait') ? 'gave up waiting; ' : '';
        ctx.stderr.write(`${waited}a human must approve first; check with: airlock status ${grant.id}\n`);
        return EXIT.pending;
      }
      ctx.stderr.write(`grant ${grant.id} is ${grant.status}\n`);
      return EXIT.refused;
    } finally {
      interrupt.stop();
    }
  },
};

function print(ctx: CliContext, grant: Grant, json: boolean) {
  ctx.stdout.write(json ? `${JSON.stringify({ grant }, null, 2)}\n` : describeGrant(grant, ctx.out, ctx.now()));
}

interface Interrupt {
  interrupted: boolean;
  /** Settles on the first Ctrl-C. */
  happened: Promise<void>;
  stop(): void;
}

/** The first Ctrl-C is ours (the request is withdrawn); a second one ends the process as usual. */
function watchInterrupt(ctx: CliContext): Interrupt {
  let settle = () => {};
  const interrupt: Interrupt = {
    interrupted: false,
    happened: new Promise<void>((resolve) => {
      settle = resolve;
    }),
    stop: () => {},
  };
  interrupt.stop = ctx.onInterrupt(() => {
    interrupt.interrupted = true;
    interrupt.stop();
    ctx.stderr.write('\ninterrupted: withdrawing the request (Ctrl-C again to leave it as it is)\n');
    settle();
  });
  return interrupt;
}

/** Revokes what the request made: a pending grant can then never be approved, an active one is closed. */
async function withdraw(ctx: CliContext, api: ApiClient, grant: Grant, json: boolean): Promise<number> {
  let ended: Grant;
  try {
    ended = readGrant(
      (await api.call('DELETE', `/v1/grants/${encodeURIComponent(grant.id)}`, { bearer: 'identity' })).body,
    ).grant;
  } catch (error) {
    throw new CliError(
      `could not withdraw request ${grant.id}: ${error instanceof Error ? error.message : String(error)}`,
      EXIT.error,
      `withdraw it yourself: airlock revoke ${grant.id}`,
    );
  }
  await ctx.tokens().remove(api.baseUrl, ended.id);
  print(ctx, ended, json);
  const message =
    ended.status !== 'revoked'
      ? `request ${ended.id} had already ended: it is ${ended.status}`
      : ended.activatedAt
        ? `withdrew grant ${ended.id}: it had been granted, and is now revoked (its window is closed)`
        : `withdrew request ${ended.id}: it is revoked, and approvers can no longer approve it`;
  ctx.stderr.write(`${message}\n`);
  return EXIT.interrupted;
}

/** Polls GET /v1/grants/{id} until the grant leaves `pending`, the wait times out, or Ctrl-C. */
async function waitForGrant(
  ctx: CliContext,
  first: Grant,
  intervalMs: number,
  timeoutMs: number | undefined,
  interrupt: Interrupt,
): Promise<{ grant: Grant; token?: string }> {
  const api = ctx.api();
  const progress = startProgress(ctx.stderr);
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  let current: { grant: Grant; token?: string } = { grant: first };
  try {
    while (current.grant.status === 'pending' && Date.now() < deadline && !interrupt.interrupted) {
      progress.update(waitingFor(current.grant, ctx.now()));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise((resolve) => {
          timer = setTimeout(resolve, Math.max(MIN_INTERVAL_MS, Math.min(intervalMs, deadline - Date.now())));
        }),
        interrupt.happened,
      ]);
      clearTimeout(timer);
      if (interrupt.interrupted) break;
      current = readGrant(
        (await api.call('GET', `/v1/grants/${encodeURIComponent(first.id)}`, { bearer: 'identity' })).body,
      );
    }
  } finally {
    progress.stop();
  }
  return current;
}
