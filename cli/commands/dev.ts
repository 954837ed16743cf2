// `airlock dev token`: an identity token from the local stack's dev issuer (local mode only).

import { type Command, flag } from '../args.ts';
import { parseDurationSeconds } from '../duration.ts';
import { CliError, EXIT, usageError } from '../exit.ts';

export const devToken: Command = {
  name: 'dev token',
  summary: "an identity token from the local stack's dev issuer (npm start only)",
  usage: '--sub <subject> [--groups g1,g2] [--email e] [--ttl 10m]',
  details: 'Prints only the token, so it can be captured: export AIRLOCK_TOKEN=$(airlock dev token --sub agent:demo)',
  options: {
    sub: { type: 'string', value: '<subject>', description: 'the subject, e.g. agent:demo' },
    groups: { type: 'string', multiple: true, value: '<g1,g2>', description: 'groups claim' },
    email: { type: 'string', value: '<email>', description: 'email claim' },
    ttl: { type: 'string', value: '<duration>', description: 'token lifetime, e.g. 1h (default 10m)' },
  },
  positionals: { min: 0, max: 0 },
  examples: ['export AIRLOCK_TOKEN=$(airlock dev token --sub agent:demo --groups finance)'],
  async run({ flags, ctx }) {
    const sub = flag.string(flags, 'sub');
    if (!sub) throw usageError('--sub is required', 'e.g. airlock dev token --sub agent:demo');
    const ttl = flag.string(flags, 'ttl');
    const ttlSeconds = ttl === undefined ? undefined : parseDurationSeconds(ttl, { name: '--ttl', bareUnit: 'm' });
    const groups = flag
      .list(flags, 'groups')
      .flatMap((item) => item.split(','))
      .map((group) => group.trim())
      .filter(Boolean);
    const email = flag.string(flags, 'email');
    const api = ctx.api();
    const response = await api
      .call('POST', '/dev/token', {
        body: { sub, groups, ...(email ? { email } : {}), ...(ttlSeconds ? { ttlSeconds } : {}) },
      })
      .catch((error: unknown) => {
        if ((error as { code?: string }).code === 'not_found')
          throw new CliError(
            `${api.baseUrl} has no dev issuer`,
            EXIT.error,
            'dev tokens exist only on the local stack (npm start)',
          );
        throw error;
      });
    const token = (response.body as { token?: unknown } | null)?.token;
    if (typeof token !== 'string') throw new CliError('the dev issuer answered without a token');
    ctx.stdout.write(`${token}\n`);
    if (ctx.stdout.isTTY)
      ctx.stderr.write(
        `use it: export AIRLOCK_TOKEN=$(airlock dev token --sub ${sub}${groups.length ? ` --groups ${groups.join(',')}` : ''})\n`,
      );
    return EXIT.ok;
  },
};
