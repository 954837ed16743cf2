// `airlock connections`: the connections and accesses you could request, as the policy decides for
// your identity (the server's dry run of `decide`); what to ask for before asking.

import { ApiError } from '../api.ts';
import { type Command, flag } from '../args.ts';
import { CliError, EXIT } from '../exit.ts';
import { formatSeconds, renderColumns } from '../render.ts';

interface RequestableConnection {
  name: string;
  accesses: Array<{ access: string; outcome: 'granted' | 'approval'; maxTtlSeconds: number; rule: string }>;
}

function readConnections(body: unknown): RequestableConnection[] {
  const list = (body as { connections?: unknown } | null)?.connections;
  if (!Array.isArray(list)) throw new CliError('Airlock answered without a connection list');
  return list as RequestableConnection[];
}

export const connections: Command = {
  name: 'connections',
  summary: 'the connections and accesses you could request, and on what terms',
  usage: '[--json]',
  details: [
    'Asks Airlock, with your identity token, what its policy would do with each request you could make:',
    '`granted` at once, or `needs approval` by a human first; and the longest window the rule gives.',
    'Connections and accesses the policy would deny you are not listed.',
  ].join('\n'),
  options: { json: { type: 'boolean', description: 'print {connections} as JSON' } },
  positionals: { min: 0, max: 0 },
  examples: ['airlock connections', 'airlock connections --json | jq -r ".connections[].name"'],
  async run({ flags, ctx }) {
    const api = ctx.api();
    const response = await api.call('GET', '/v1/connections', { bearer: 'identity' }).catch((error: unknown) => {
      if (error instanceof ApiError && error.code === 'not_found')
        throw new ApiError(error.status, error.body, `${api.baseUrl} does not list connections (an older Airlock)`);
      throw error;
    });
    const list = readConnections(response.body);
    if (flag.bool(flags, 'json')) {
      ctx.stdout.write(`${JSON.stringify({ connections: list }, null, 2)}\n`);
      return EXIT.ok;
    }
    if (!list.length) {
      ctx.stdout.write('no connection is open to you: the policy denies every request your identity could make\n');
      return EXIT.ok;
    }
    const rows = list.flatMap((connection) =>
      connection.accesses.map((access) => [
        connection.name,
        access.access,
        access.outcome === 'granted' ? 'granted' : 'needs approval',
        formatSeconds(access.maxTtlSeconds),
        access.rule,
      ]),
    );
    ctx.stdout.write(renderColumns(['connection', 'access', 'outcome', 'max window', 'rule'], rows, ctx.out));
    if (ctx.stdout.isTTY)
      ctx.stderr.write('request one: airlock request <connection> --access <access> --reason "…" [--ttl 15m]\n');
    return EXIT.ok;
  },
};
