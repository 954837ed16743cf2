// The `airlock` command line: the table of commands (help, parsing and shell completion all read it),
// and main(), which bin/airlock.mjs runs against the real process. Importing this runs nothing.

import type { Command } from './args.ts';
import { ADMIN_COMMANDS } from './commands/admin.ts';
import { approvals, approve, deny } from './commands/approvals.ts';
import { audit, replay } from './commands/audit.ts';
import { completionCommand } from './commands/completion.ts';
import { connections } from './commands/connections.ts';
import { devToken } from './commands/dev.ts';
import { grants, revoke, status } from './commands/grants.ts';
import { policyCheck, policyExplain } from './commands/policy.ts';
import { query } from './commands/query.ts';
import { request } from './commands/request.ts';
import { nodeEnvironment } from './environment.ts';
import { runCli } from './run.ts';

export const COMMANDS: Command[] = [
  connections,
  request,
  query,
  grants,
  status,
  revoke,
  audit,
  replay,
  policyCheck,
  policyExplain,
  devToken,
  approvals,
  approve,
  deny,
  ...ADMIN_COMMANDS,
  completionCommand(() => COMMANDS),
];

export function main(args: string[]): Promise<number> {
  return runCli(args, nodeEnvironment(), COMMANDS);
}
