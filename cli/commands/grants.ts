// `airlock grants`, `airlock status <id>`, `airlock revoke <id>`: the caller's grants, by identity token.

import { type Command, flag } from '../args.ts';
import { EXIT } from '../exit.ts';
import { describeGrant, isOpen, readGrant, readGrants } from '../grant-view.ts';
import { clock, formatSeconds, renderColumns } from '../render.ts';

const json = { type: 'boolean', description: 'print JSON' } as const;

export const grants: Command = {
  name: 'grants',
  summary: 'list your grants, newest first',
  usage: '[--json]',
  details: 'A `*` marks grants whose token this CLI keeps for the Airlock URL.',
  options: { json },
  positionals: { min: 0, max: 0 },
  async run({ flags, ctx }) {
    const api = ctx.api();
    const list = readGrants((await api.call('GET', '/v1/grants', { bearer: 'identity' })).body);
    if (flag.bool(flags, 'json')) {
      ctx.stdout.write(`${JSON.stringify({ grants: list }, null, 2)}\n`);
      return EXIT.ok;
    }
    if (!list.length) {
      ctx.stdout.write('no grants yet; request one: airlock request <connection> --reason "…"\n');
      return EXIT.ok;
    }
    const kept = new Set((await ctx.tokens().list(api.baseUrl)).map((grant) => grant.id));
    const now = ctx.now();
    const rows = list.map((grant) => [
      `${kept.has(grant.id) ? '*' : ' '}${grant.id}`,
      grant.status === 'active' && !isOpen(grant, now) ? 'ended' : grant.status,
      `${grant.access}@${grant.connection}`,
      formatSeconds(grant.ttlSeconds),
      isOpen(grant, now) ? `until ${clock(grant.expiresAt, now)}` : clock(grant.requestedAt, now),
      grant.reason,
    ]);
    ctx.stdout.write(renderColumns([' id', 'status', 'access', 'ttl', 'when', 'reason'], rows, ctx.out));
    return EXIT.ok;
  },
};

export const status: Command = {
  name: 'status',
  summary: 'show one grant and its decisions; keeps its token once active',
  usage: '<grant-id> [--json]',
  options: { json },
  positionals: { min: 1, max: 1, name: 'grant-id' },
  async run({ flags, positionals, ctx }) {
    const api = ctx.api();
    const { grant, token } = readGrant(
      (await api.call('GET', `/v1/grants/${encodeURIComponent(positionals[0]!)}`, { bearer: 'identity' })).body,
    );
    if (token && grant.expiresAt)
      await ctx.tokens().put(api.baseUrl, {
        id: grant.id,
        token,
        connection: grant.connection,
        access: grant.access,
        expiresAt: grant.expiresAt,
      });
    ctx.stdout.write(
      flag.bool(flags, 'json') ? `${JSON.stringify({ grant }, null, 2)}\n` : describeGrant(grant, ctx.out, ctx.now()),
    );
    if (isOpen(grant, ctx.now())) return EXIT.ok;
    return grant.status === 'pending' ? EXIT.pending : EXIT.refused;
  },
};

export const revoke: Command = {
  name: 'revoke',
  summary: "end a grant's window now (its role is dropped, its token stops working)",
  usage: '<grant-id> [--json]',
  options: { json },
  positionals: { min: 1, max: 1, name: 'grant-id' },
  async run({ flags, positionals, ctx }) {
    const api = ctx.api();
    const { grant } = readGrant(
      (await api.call('DELETE', `/v1/grants/${encodeURIComponent(positionals[0]!)}`, { bearer: 'identity' })).body,
    );
    await ctx.tokens().remove(api.baseUrl, grant.id);
    ctx.stdout.write(
      flag.bool(flags, 'json') ? `${JSON.stringify({ grant }, null, 2)}\n` : describeGrant(grant, ctx.out, ctx.now()),
    );
    return EXIT.ok;
  },
};
