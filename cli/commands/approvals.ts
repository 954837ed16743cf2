// `airlock approvals`, `airlock approve <id>`, `airlock deny <id>`: deciding as a signed-in approver, with
// the same rules as the email link. Must never decide without a reason given on the command line.

import { type Command, type Flags, flag } from '../args.ts';
import { CliError, EXIT, usageError } from '../exit.ts';
import { clock, renderColumns } from '../render.ts';

interface Approval {
  id: string;
  kind: 'grant' | 'statement';
  status: string;
  grantId: string;
  requester: { subject: string; email: string | null };
  connection: string;
  access: string;
  reason: string;
  statement: null | { normalizedSql: string; sql?: string; guardrail: string };
  required: number;
  approvals: number;
  deadline: string;
  canDecide: boolean;
}

const json = { type: 'boolean', description: 'print the API’s JSON' } as const;

function readApproval(body: unknown): Approval {
  const approval = (body as { approval?: Partial<Approval> } | null)?.approval;
  if (!approval || typeof approval.id !== 'string') throw new CliError('Airlock answered without an approval');
  return approval as Approval;
}

const what = (approval: Approval) =>
  approval.kind === 'grant'
    ? `${approval.access} access to ${approval.connection}: "${approval.reason}"`
    : `${approval.statement?.sql ?? approval.statement?.normalizedSql ?? '?'} (guardrail ${approval.statement?.guardrail ?? '?'})`;

export const approvals: Command = {
  name: 'approvals',
  summary: 'pending approvals: the ones you may decide (approvers), or all of them (auditors, operators)',
  usage: '[--json]',
  details: 'A `*` marks the ones you may decide: your verified email is an approver and you did not ask.',
  options: { json },
  positionals: { min: 0, max: 0 },
  async run({ flags, ctx }) {
    const body = (await ctx.api().call('GET', '/v1/admin/approvals', { bearer: 'identity' })).body as {
      approvals?: unknown;
    };
    if (!Array.isArray(body.approvals)) throw new CliError('Airlock answered without an approval list');
    if (flag.bool(flags, 'json')) {
      ctx.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      return EXIT.ok;
    }
    const list = body.approvals as Approval[];
    if (!list.length) {
      ctx.stdout.write('nothing waits for a decision\n');
      return EXIT.ok;
    }
    const now = ctx.now();
    const rows = list.map((approval) => [
      `${approval.canDecide ? '*' : ' '}${approval.id}`,
      approval.requester.email
        ? `${approval.requester.subject} (${approval.requester.email})`
        : approval.requester.subject,
      `${approval.approvals}/${approval.required}`,
      clock(approval.deadline, now),
      what(approval),
    ]);
    ctx.stdout.write(renderColumns([' id', 'requester', 'approved', 'deadline', 'asks for'], rows, ctx.out));
    return EXIT.ok;
  },
};

function decision(name: 'approve' | 'deny'): Command {
  return {
    name,
    summary:
      name === 'approve'
        ? 'approve a pending grant or statement as yourself (your verified email must be an approver)'
        : 'deny a pending grant or statement as yourself; one deny ends it',
    usage: '<approval-id | grant-id> --reason "…" [--json]',
    options: {
      reason: { type: 'string', short: 'r', value: '<text>', description: 'why (required; audited with your email)' },
      json,
    },
    positionals: { min: 1, max: 1 },
    examples: [`airlock ${name} grant-3k9x….1 --reason "ticket OPS-7"`],
    async run({ flags, positionals, ctx }) {
      const reason = requiredReason(flags);
      const response = await ctx.api().call('POST', `/v1/admin/approvals/${encodeURIComponent(positionals[0]!)}`, {
        bearer: 'identity',
        body: { decision: name, reason },
      });
      if (flag.bool(flags, 'json')) {
        ctx.stdout.write(`${JSON.stringify(response.body, null, 2)}\n`);
        return EXIT.ok;
      }
      const approval = readApproval(response.body);
      const grant = (response.body as { grant?: { id: string; expiresAt?: string | null } }).grant;
      const outcome =
        approval.status === 'pending'
          ? `recorded: ${approval.approvals} of ${approval.required} approvals`
          : approval.status === 'approved' && grant
            ? `approved: grant ${grant.id} is active until ${clock(grant.expiresAt ?? null, ctx.now())}`
            : approval.status === 'approved'
              ? `approved: ${approval.requester.subject} may now run the statement once`
              : `denied: ${approval.requester.subject} has been refused`;
      ctx.stdout.write(`${approval.id} ${outcome}\n`);
      return EXIT.ok;
    },
  };
}

function requiredReason(flags: Flags): string {
  const text = flag.string(flags, 'reason');
  if (!text?.trim()) throw usageError('a reason is required', 'add --reason "…": the audit trail records it');
  return text;
}

export const approve = decision('approve');
export const deny = decision('deny');
