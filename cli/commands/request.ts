// `airlock request`: ask for a grant, optionally wait for the humans, keep the grant token.

import { type CliContext, type Command, flag } from '../args.ts';
import { EXIT, usageError } from '../exit.ts';
import { describeGrant, type Grant, readGrant, waitingFor } from '../grant-view.ts';
import { startProgress } from '../progress.ts';

export const request: Command = {
  name: 'request',
  summary: 'request a grant on a connection; with --wait, wait for approval',
  usage: '<connection> --reason "…" [--access read] [--ttl 30m] [--wait]',
  details: [
    'The policy decides: granted now, held for human approval, or denied. The window starts when the',
    "grant becomes active; a TTL above the rule's maxTtl is clamped (the grant shows what it got).",
    'The grant token is kept (mode 0600, per Airlock URL) for `airlock query`.',
  ].join('\n'),
  options: {
    access: {
      type: 'string',
      short: 'a',
      value: '<profile>',
      description: 'access profile, e.g. read or write (default read)',
    },
    ttl: { type: 'string', value: '<duration>', description: 'window length: seconds or 30m, 1h (default 30m)' },
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
      description: 'with --wait: give up after this long (default: the approval deadline)',
    },
    interval: { type: 'string', value: '<seconds>', description: 'with --wait: seconds between checks (default 2)' },
    json: { type: 'boolean', description: 'print the grant as JSON (the token is stored, never printed)' },
  },
  positionals: { min: 1, max: 1 },
  examples: [
    'airlock request shop --reason "investigate order totals" --ttl 15m',
    'airlock request shop --access write --reason "fix order 42" --wait',
  ],
  async run({ flags, positionals, ctx }) {
    const reason = flag.string(flags, 'reason');
    if (!reason?.trim())
      throw usageError('a reason is required', 'add --reason "…": approvers and the audit trail read it');
    const ttl = flag.string(flags, 'ttl') ?? '30m';
    const interval = seconds(flag.string(flags, 'interval') ?? '2', '--interval');
    const timeout =
      flag.string(flags, 'timeout') === undefined ? undefined : seconds(flag.string(flags, 'timeout')!, '--timeout');
    const api = ctx.api();
    const response = await api.call('POST', '/v1/grants', {
      bearer: 'identity',
      body: { connection: positionals[0], access: flag.string(flags, 'access') ?? 'read', ttl, reason },
    });
    let { grant, token } = readGrant(response.body);
    if (grant.status === 'pending' && flag.bool(flags, 'wait'))
      ({ grant, token } = await waitForGrant(ctx, grant, interval, timeout));
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
  },
};

function print(ctx: CliContext, grant: Grant, json: boolean) {
  ctx.stdout.write(json ? `${JSON.stringify({ grant }, null, 2)}\n` : describeGrant(grant, ctx.out, ctx.now()));
}

function seconds(value: string, name: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value);
  if (!match) throw usageError(`${name} expects a duration like 2, 30s or 10m`);
  const unit = (match[2] ?? 's') as 'ms' | 's' | 'm' | 'h';
  return Number(match[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit];
}

/** Polls GET /v1/grants/{id} until the grant leaves `pending` or the wait times out. */
async function waitForGrant(
  ctx: CliContext,
  first: Grant,
  intervalSeconds: number,
  timeoutSeconds?: number,
): Promise<{ grant: Grant; token?: string }> {
  const api = ctx.api();
  const progress = startProgress(ctx.stderr);
  const deadline = timeoutSeconds === undefined ? Infinity : Date.now() + timeoutSeconds * 1000;
  let current: { grant: Grant; token?: string } = { grant: first };
  try {
    while (current.grant.status === 'pending' && Date.now() < deadline) {
      progress.update(waitingFor(current.grant, ctx.now()));
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(50, Math.min(intervalSeconds * 1000, deadline - Date.now()))),
      );
      current = readGrant(
        (await api.call('GET', `/v1/grants/${encodeURIComponent(first.id)}`, { bearer: 'identity' })).body,
      );
    }
  } finally {
    progress.stop();
  }
  return current;
}
