// `airlock audit` (the event log; --verify checks the links and the anchored head here and reports the
// server's verdict on the keyed hashes) and `airlock replay` (the same events told as the grant's story).

import { type AuditEvent, AuditHead, checkChain, checkHead } from '../../shared/audit/index.ts';
import { ApiError } from '../api.ts';
import { type CliContext, type Command, flag } from '../args.ts';
import { CliError, EXIT } from '../exit.ts';
import { type Grant, readGrant } from '../grant-view.ts';
import { clock, formatSeconds, offset, renderColumns, type Style } from '../render.ts';

interface AuditBody {
  events: AuditEvent[];
  verified: boolean;
  reason?: string;
  head: AuditHead | null;
}

async function fetchAudit(ctx: CliContext, id: string): Promise<AuditBody> {
  const body = (await ctx.api().call('GET', `/v1/grants/${encodeURIComponent(id)}/audit`, { bearer: 'identity' }))
    .body as Partial<AuditBody> | null;
  if (!body || !Array.isArray(body.events)) throw new CliError('Airlock answered without audit events');
  const head = AuditHead.safeParse(body.head);
  return {
    events: body.events,
    verified: body.verified === true,
    ...(typeof body.reason === 'string' ? { reason: body.reason } : {}),
    head: head.success ? head.data : null,
  };
}

export const audit: Command = {
  name: 'audit',
  summary: "a grant's audit events as a timeline; --verify checks the chain and reports the server's verdict",
  usage: '<grant-id> [--verify] [--json]',
  details: [
    "Readable by the grant's requester and by auditors. Each event's hash is keyed with Airlock's audit key,",
    'which this CLI does not hold: --verify checks here that the events run from seq 1 without a gap, that each',
    'links to the one before, and that the last one is the head anchored on the grant record; the keyed hashes',
    'are checked by the server. Exits 1 when either check fails.',
  ].join('\n'),
  options: {
    verify: { type: 'boolean', description: "check the links and the head here, and report the server's verdict" },
    json: { type: 'boolean', description: 'print {events, verified, reason, head} as JSON' },
  },
  positionals: { min: 1, max: 1, name: 'grant-id' },
  async run({ flags, positionals, ctx }) {
    const body = await fetchAudit(ctx, positionals[0]!);
    if (flag.bool(flags, 'json')) ctx.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    else {
      const first = body.events[0]?.at ?? new Date().toISOString();
      const rows = body.events.map((event) => [
        String(event.seq),
        clock(event.at, ctx.now()),
        offset(event.at, first),
        event.type,
        event.hash.slice(0, 12),
        summarize(event),
      ]);
      ctx.stdout.write(`audit of grant ${positionals[0]} (${body.events.length} events)\n`);
      ctx.stdout.write(renderColumns(['seq', 'at', 'offset', 'type', 'hash', 'what'], rows, ctx.out));
    }
    if (!flag.bool(flags, 'verify')) return EXIT.ok;
    const links = checkChain(body.events);
    const local = links.verified ? checkHead(body.events, body.head) : links;
    const out = flag.bool(flags, 'json') ? ctx.stderr : ctx.stdout;
    const style = flag.bool(flags, 'json') ? ctx.err : ctx.out;
    if (local.verified && body.verified) {
      const last = body.events.at(-1);
      out.write(
        `${style.green('audit chain verified')}: ${body.events.length} events link from the genesis hash${last ? ` to ${last.hash.slice(0, 16)}…` : ''} and end at the head anchored on the grant (checked here); the keyed hashes were checked by the server (this CLI has no audit key)\n`,
      );
      return EXIT.ok;
    }
    const reasons = [
      ...(body.verified ? [] : [`server: ${body.reason ?? 'does not verify'}`]),
      ...(local.verified ? [] : [`here: ${local.reason}`]),
    ];
    out.write(`${style.red('audit chain does NOT verify')}: ${reasons.join('; ')}\n`);
    return EXIT.error;
  },
};

export const replay: Command = {
  name: 'replay',
  summary: "a grant's story as a timeline: requested, approved, activated, each statement, ended",
  usage: '<grant-id>',
  options: {},
  positionals: { min: 1, max: 1, name: 'grant-id' },
  async run({ positionals, ctx }) {
    const id = positionals[0]!;
    const body = await fetchAudit(ctx, id);
    // Auditors may read another subject's audit but not the grant itself: the story then comes from events alone.
    const grant = await ctx
      .api()
      .call('GET', `/v1/grants/${encodeURIComponent(id)}`, { bearer: 'identity' })
      .then((response) => readGrant(response.body).grant)
      .catch((error: unknown) => {
        if (error instanceof ApiError && error.code === 'not_found') return undefined;
        throw error;
      });
    ctx.stdout.write(story(body.events, grant, ctx.out, ctx.now()));
    ctx.stdout.write(
      `${body.verified ? ctx.out.dim('audit chain verified by the server') : ctx.out.red(`audit chain does NOT verify: ${body.reason ?? 'the server says so'}`)}\n`,
    );
    return EXIT.ok;
  },
};

/** One line of what an event says, for the audit table. */
function summarize(event: AuditEvent): string {
  const e = event as AuditEvent & Record<string, unknown>;
  switch (event.type) {
    case 'grant.requested':
      return `${e.access} on ${e.connection} for ${formatSeconds(Number(e.ttlSeconds))}, rule ${e.rule}${e.needsApproval ? ', needs approval' : ''}: "${e.reason}"`;
    case 'grant.activated':
      return `window until ${e.expiresAt}, role ${e.role}`;
    case 'statement':
      return `${e.decision}: ${statementLine(e)}`;
    default:
      return detailsOf(e);
  }
}

function statementLine(e: Record<string, unknown>, width = 70): string {
  const parts = [clip(String(e.normalizedSql ?? '(unparsed)'), width)];
  if (typeof e.rowCount === 'number') parts.push(`${e.rowCount} row${e.rowCount === 1 ? '' : 's'}`);
  if (typeof e.durationMs === 'number') parts.push(`${e.durationMs} ms`);
  if (Array.isArray(e.maskedColumns) && e.maskedColumns.length) parts.push(`masked ${e.maskedColumns.join(', ')}`);
  if (e.guardrail) parts.push(`guardrail ${e.guardrail}`);
  if (e.approvalId) parts.push(`approval ${e.approvalId}`);
  const error = e.error as { code?: string; sqlstate?: string; message?: string } | undefined;
  if (error?.code) parts.push(`${error.code}${error.sqlstate ? ` ${error.sqlstate}` : ''}`);
  return parts.join(' · ');
}

function detailsOf(e: Record<string, unknown>): string {
  const core = new Set(['id', 'grantId', 'seq', 'at', 'type', 'subject', 'prevHash', 'hash']);
  return Object.entries(e)
    .filter(([key]) => !core.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}

const clip = (text: string, width: number) => (text.length <= width ? text : `${text.slice(0, width - 1)}…`);

function story(events: AuditEvent[], grant: Grant | undefined, style: Style, now: Date): string {
  const start = events[0]?.at ?? grant?.requestedAt ?? now.toISOString();
  const lines: string[] = [];
  const say = (at: string, text: string) =>
    lines.push(`${clock(at, now).padEnd(10)} ${offset(at, start).padStart(9)}  ${text}`);
  const counts = { executed: 0, held: 0, blocked: 0, failed: 0 };
  const approvedBy = (grant?.decisions ?? []).filter((decision) => decision.decision === 'approved');

  const first = events[0] as (AuditEvent & Record<string, unknown>) | undefined;
  lines.push(
    style.bold(
      `grant ${first?.grantId ?? grant?.id ?? '?'}${grant ? ` — ${grant.access} on ${grant.connection}, now ${grant.status}` : ''}`,
    ),
  );
  for (const event of events) {
    const e = event as AuditEvent & Record<string, unknown>;
    switch (event.type) {
      case 'grant.requested':
        say(
          event.at,
          `requested by ${event.subject}: ${e.access} on ${e.connection} for ${formatSeconds(Number(e.requestedTtlSeconds ?? e.ttlSeconds))} — "${e.reason}"`,
        );
        say(
          event.at,
          `  policy rule ${e.rule}: ${e.needsApproval ? 'needs human approval' : 'granted automatically'}${e.requestedTtlSeconds && e.requestedTtlSeconds !== e.ttlSeconds ? `, TTL clamped to ${formatSeconds(Number(e.ttlSeconds))}` : ''}`,
        );
        break;
      case 'grant.approved':
        say(event.at, style.green(`approved by ${String(e.by ?? e.approver ?? event.subject)}`));
        break;
      case 'grant.denied':
        say(event.at, style.red(`denied by ${String(e.by ?? '?')}${e.reason ? ` — ${e.reason}` : ''}`));
        break;
      case 'grant.activated': {
        const by = approvedBy.map((decision) => decision.by).join(', ');
        say(
          event.at,
          `activated${by ? ` (approved by ${by})` : ''}: window until ${clock(String(e.expiresAt), now)}, role ${e.role}`,
        );
        break;
      }
      case 'statement': {
        const decision = String(e.decision) as keyof typeof counts;
        if (decision in counts) counts[decision]++;
        const mark =
          {
            executed: style.green('✓ ran'),
            held: style.yellow('⏸ held'),
            blocked: style.red('✗ blocked'),
            failed: style.red('✗ failed'),
          }[decision] ?? decision;
        say(event.at, `${mark}  ${statementLine(e, 160)}`);
        break;
      }
      case 'statement.approved':
      case 'statement.denied':
        say(
          event.at,
          `${event.type === 'statement.approved' ? style.green('statement approved') : style.red('statement denied')} by ${String(e.by ?? '?')}${e.approvalId ? ` (approval ${e.approvalId})` : ''}`,
        );
        break;
      case 'grant.revoked':
        say(event.at, `revoked by ${String(e.by ?? event.subject)}: window closed, role dropped`);
        break;
      case 'grant.expired':
        say(event.at, `expired (${e.previous === 'pending' ? 'never approved' : 'window ended'}): role dropped`);
        break;
      default: {
        // A type this CLI does not know yet (a newer server): shown as it came.
        const other = event as { at: string; type: string };
        say(other.at, `${other.type} ${detailsOf(e)}`);
      }
    }
  }
  const statements = counts.executed + counts.held + counts.blocked + counts.failed;
  const used = grant?.activatedAt ? ` · window ${formatSeconds(grant.ttlSeconds)}` : '';
  lines.push(
    `${statements} statement${statements === 1 ? '' : 's'}: ${counts.executed} ran, ${counts.held} held, ${counts.blocked} blocked, ${counts.failed} failed${used}`,
  );
  return `${lines.join('\n')}\n`;
}
