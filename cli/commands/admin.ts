// `airlock admin …`: the operator plane from a terminal — every subject's grants, revoking any, locks
// (the kill switch), and the audit across grants (--follow). Must never print a token.

import type { AuditEvent } from '../../shared/audit/index.ts';
import type { ApiClient } from '../api.ts';
import { type CliContext, type Command, type Flags, flag } from '../args.ts';
import { CliError, EXIT, usageError } from '../exit.ts';
import { describeGrant, type Grant, readGrant, readGrants } from '../grant-view.ts';
import { clock, renderColumns } from '../render.ts';

const json = { type: 'boolean', description: 'print the API’s JSON' } as const;
const reason = {
  type: 'string',
  short: 'r',
  value: '<text>',
  description: 'why (required; it is audited with your name)',
} as const;

function requireReason(flags: Flags): string {
  const text = flag.string(flags, 'reason');
  if (!text?.trim())
    throw usageError('a reason is required', 'add --reason "…": the audit trail records it with your name');
  return text;
}

/** `--since 1h` (that long ago) or an ISO time, as the API wants it. */
function sinceOf(value: string | undefined, now: Date): string | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)(s|m|h|d)$/.exec(value.trim());
  if (!match) return value.trim();
  const seconds = Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return new Date(now.getTime() - seconds * 1000).toISOString();
}

function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) search.set(name, value);
  const text = search.toString();
  return text ? `?${text}` : '';
}

const print = (ctx: CliContext, value: unknown) => ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

type AdminGrant = Grant & { issuer?: string };

export const adminGrants: Command = {
  name: 'admin grants',
  summary: 'every subject’s grants, newest first (auditors, operators)',
  usage: '[--status <s>] [--subject <sub>] [--connection <name>] [--since <when>] [--all] [--json]',
  details: 'One page by default (--limit, at most 500); --all follows the `next` cursor to the end.',
  options: {
    status: { type: 'string', value: '<status>', description: 'pending, active, denied, expired or revoked' },
    subject: { type: 'string', value: '<sub>', description: 'only this subject' },
    connection: { type: 'string', value: '<name>', description: 'only this connection' },
    since: { type: 'string', value: '<when>', description: 'requested since: 1h, 30m, 2d ago, or an ISO time' },
    limit: { type: 'string', value: '<n>', description: 'grants per page (default 100, at most 500)' },
    next: { type: 'string', value: '<cursor>', description: 'continue where a previous page ended' },
    all: { type: 'boolean', description: 'every page' },
    json,
  },
  positionals: { min: 0, max: 0 },
  examples: ['airlock admin grants --status active', 'airlock admin grants --subject agent:demo --since 1d --all'],
  async run({ flags, ctx }) {
    const api = ctx.api();
    const list: AdminGrant[] = [];
    let next = flag.string(flags, 'next');
    do {
      const body = (
        await api.call(
          'GET',
          `/v1/admin/grants${query({
            status: flag.string(flags, 'status'),
            subject: flag.string(flags, 'subject'),
            connection: flag.string(flags, 'connection'),
            since: sinceOf(flag.string(flags, 'since'), ctx.now()),
            limit: flag.string(flags, 'limit'),
            next,
          })}`,
          { bearer: 'identity' },
        )
      ).body as { next?: unknown };
      list.push(...(readGrants(body) as AdminGrant[]));
      next = typeof body.next === 'string' ? body.next : undefined;
    } while (next && flag.bool(flags, 'all'));
    if (flag.bool(flags, 'json')) {
      print(ctx, { grants: list, ...(next ? { next } : {}) });
      return EXIT.ok;
    }
    if (!list.length) ctx.stdout.write('no grants match\n');
    else {
      const now = ctx.now();
      const rows = list.map((grant) => [
        grant.id,
        grant.status,
        grant.subject,
        `${grant.access}@${grant.connection}`,
        clock(grant.requestedAt, now),
        grant.status === 'active' ? `until ${clock(grant.expiresAt, now)}` : '',
        grant.reason,
      ]);
      ctx.stdout.write(
        renderColumns(['id', 'status', 'subject', 'access', 'requested', 'window', 'reason'], rows, ctx.out),
      );
    }
    if (next) ctx.stderr.write(`more grants: add --next ${next} (or --all)\n`);
    return EXIT.ok;
  },
};

export const adminRevoke: Command = {
  name: 'admin revoke',
  summary: 'end anyone’s grant now: role dropped, sessions cut (operators)',
  usage: '<grant-id> --reason "…" [--json]',
  options: { reason, json },
  positionals: { min: 1, max: 1 },
  examples: ['airlock admin revoke 3k9x… --reason "suspicious volume (INC-42)"'],
  async run({ flags, positionals, ctx }) {
    const body = { reason: requireReason(flags) };
    const response = await ctx
      .api()
      .call('DELETE', `/v1/admin/grants/${encodeURIComponent(positionals[0]!)}`, { bearer: 'identity', body });
    const { grant } = readGrant(response.body);
    if (flag.bool(flags, 'json')) print(ctx, response.body);
    else ctx.stdout.write(describeGrant(grant, ctx.out, ctx.now()));
    return EXIT.ok;
  },
};

interface Lock {
  id: string;
  subject?: string;
  issuer?: string;
  connection?: string;
  reason: string;
  by: string;
  createdAt: string;
  expiresAt?: string;
  liftedAt?: string;
}

function readLock(body: unknown): Lock {
  const lock = (body as { lock?: Partial<Lock> } | null)?.lock;
  if (!lock || typeof lock.id !== 'string') throw new CliError('Airlock answered without a lock');
  return lock as Lock;
}

const covered = (lock: Lock) =>
  [
    lock.subject !== undefined ? `${lock.subject}${lock.issuer ? ` (${lock.issuer})` : ''}` : undefined,
    lock.connection !== undefined ? `connection ${lock.connection}` : undefined,
  ]
    .filter((part) => part !== undefined)
    .join(' on ');

export const adminLock: Command = {
  name: 'admin lock',
  summary: 'the kill switch: end every live grant of a subject or connection, refuse new ones (operators)',
  usage: '--subject <sub> [--issuer <iss>] [--connection <name>] --reason "…" [--ttl <duration>] [--json]',
  details: [
    'Answers only after every live grant it covers is revoked (roles dropped, sessions cut) and every',
    'pending request denied. Until it is lifted (airlock admin unlock) or its --ttl ends, grant requests',
    'it covers are refused with `locked`.',
  ].join('\n'),
  options: {
    subject: { type: 'string', value: '<sub>', description: 'the identity to lock (its token’s sub)' },
    issuer: { type: 'string', value: '<iss>', description: 'only that subject from this issuer' },
    connection: { type: 'string', value: '<name>', description: 'only this connection (alone: every subject on it)' },
    reason,
    ttl: { type: 'string', value: '<duration>', description: 'ends by itself after this long, e.g. 2h' },
    json,
  },
  positionals: { min: 0, max: 0 },
  examples: [
    'airlock admin lock --subject agent:demo --reason "identity token leaked (INC-42)"',
    'airlock admin lock --connection shop --reason "maintenance" --ttl 1h',
  ],
  async run({ flags, ctx }) {
    const subject = flag.string(flags, 'subject');
    const connection = flag.string(flags, 'connection');
    if (subject === undefined && connection === undefined)
      throw usageError('name what to lock', 'add --subject <sub>, --connection <name>, or both');
    const body = {
      ...(subject !== undefined ? { subject } : {}),
      ...(flag.string(flags, 'issuer') !== undefined ? { issuer: flag.string(flags, 'issuer') } : {}),
      ...(connection !== undefined ? { connection } : {}),
      reason: requireReason(flags),
      ...(flag.string(flags, 'ttl') !== undefined ? { ttl: flag.string(flags, 'ttl') } : {}),
    };
    const response = await ctx.api().call('POST', '/v1/admin/locks', { bearer: 'identity', body });
    if (flag.bool(flags, 'json')) {
      print(ctx, response.body);
      return EXIT.ok;
    }
    const lock = readLock(response.body);
    const { revoked = [], denied = [] } = response.body as { revoked?: string[]; denied?: string[] };
    const lines = [
      `${ctx.out.bold(`lock ${lock.id}`)} holds on ${covered(lock)}${lock.expiresAt ? ` until ${clock(lock.expiresAt, ctx.now())}` : ''}`,
      `  reason: ${lock.reason}`,
      `  revoked ${revoked.length} live grant${revoked.length === 1 ? '' : 's'}${revoked.length ? `: ${revoked.join(', ')}` : ''}`,
      `  denied ${denied.length} pending request${denied.length === 1 ? '' : 's'}${denied.length ? `: ${denied.join(', ')}` : ''}`,
      `  lift it with: airlock admin unlock ${lock.id} --reason "…"`,
    ];
    ctx.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  },
};

export const adminLocks: Command = {
  name: 'admin locks',
  summary: 'the locks that hold now (auditors, operators)',
  usage: '[--json]',
  options: { json },
  positionals: { min: 0, max: 0 },
  async run({ flags, ctx }) {
    const body = (await ctx.api().call('GET', '/v1/admin/locks', { bearer: 'identity' })).body as { locks?: unknown };
    if (!Array.isArray(body.locks)) throw new CliError('Airlock answered without a lock list');
    if (flag.bool(flags, 'json')) {
      print(ctx, body);
      return EXIT.ok;
    }
    const locks = body.locks as Lock[];
    if (!locks.length) {
      ctx.stdout.write('no locks hold\n');
      return EXIT.ok;
    }
    const now = ctx.now();
    const rows = locks.map((lock) => [
      lock.id,
      covered(lock),
      lock.by,
      clock(lock.createdAt, now),
      lock.expiresAt ? clock(lock.expiresAt, now) : 'lifted by hand',
      lock.reason,
    ]);
    ctx.stdout.write(renderColumns(['id', 'covers', 'by', 'since', 'until', 'reason'], rows, ctx.out));
    return EXIT.ok;
  },
};

export const adminUnlock: Command = {
  name: 'admin unlock',
  summary: 'lift a lock: what it covered may request grants again (operators)',
  usage: '<lock-id> --reason "…" [--json]',
  options: { reason, json },
  positionals: { min: 1, max: 1 },
  async run({ flags, positionals, ctx }) {
    const body = { reason: requireReason(flags) };
    const response = await ctx
      .api()
      .call('DELETE', `/v1/admin/locks/${encodeURIComponent(positionals[0]!)}`, { bearer: 'identity', body });
    const lock = readLock(response.body);
    if (flag.bool(flags, 'json')) print(ctx, response.body);
    else ctx.stdout.write(`lock ${lock.id} on ${covered(lock)} lifted\n`);
    return EXIT.ok;
  },
};

interface AuditPage {
  events: AuditEvent[];
  next?: string;
}

async function auditPage(api: ApiClient, params: Record<string, string | undefined>): Promise<AuditPage> {
  const body = (await api.call('GET', `/v1/admin/audit${query(params)}`, { bearer: 'identity' })).body as {
    events?: unknown;
    next?: unknown;
  };
  if (!Array.isArray(body.events)) throw new CliError('Airlock answered without audit events');
  return { events: body.events as AuditEvent[], ...(typeof body.next === 'string' ? { next: body.next } : {}) };
}

function eventLine(event: AuditEvent): string {
  const e = event as AuditEvent & Record<string, unknown>;
  const parts: string[] = [];
  if (typeof e.by === 'string') parts.push(`by ${e.by}`);
  if (typeof e.decision === 'string') parts.push(e.decision);
  if (typeof e.normalizedSql === 'string') parts.push(e.normalizedSql.slice(0, 80));
  if (typeof e.reason === 'string') parts.push(`"${e.reason}"`);
  if (typeof e.lockId === 'string') parts.push(`lock ${e.lockId}`);
  return parts.join(' · ');
}

export const adminAudit: Command = {
  name: 'admin audit',
  summary: 'audit events of every grant in time order; --follow keeps printing new ones (auditors, operators)',
  usage: '[--since <when>] [--until <when>] [--subject <sub>] [--grant <id>] [--type <t>] [--follow] [--json]',
  details: [
    'Oldest first. --follow polls every --interval seconds (default 2) and prints each new event once;',
    'with --json it prints one JSON event per line. Stop it with Ctrl-C.',
  ].join('\n'),
  options: {
    since: {
      type: 'string',
      value: '<when>',
      description: '1h, 30m, 2d ago, or an ISO time (default: 1h ago, or the whole chain with --grant)',
    },
    until: { type: 'string', value: '<when>', description: 'an ISO time' },
    subject: { type: 'string', value: '<sub>', description: 'only events of this subject' },
    grant: { type: 'string', value: '<id>', description: 'only this grant’s (or lock-<id>) chain' },
    type: { type: 'string', value: '<type>', description: 'e.g. statement, grant.revoked, lock.created' },
    decision: { type: 'string', value: '<d>', description: 'statements only: executed, blocked, held or failed' },
    limit: { type: 'string', value: '<n>', description: 'events per request (default 100, at most 500)' },
    follow: { type: 'boolean', short: 'f', description: 'keep polling for new events' },
    interval: { type: 'string', value: '<seconds>', description: 'with --follow: seconds between polls (default 2)' },
    json,
  },
  positionals: { min: 0, max: 0 },
  examples: ['airlock admin audit --since 1d --subject agent:demo', 'airlock admin audit --type lock.created --follow'],
  async run({ flags, ctx }) {
    const api = ctx.api();
    const follow = flag.bool(flags, 'follow');
    const asJson = flag.bool(flags, 'json');
    const interval = Number(flag.string(flags, 'interval') ?? '2');
    if (!Number.isFinite(interval) || interval <= 0) throw usageError('--interval expects a number of seconds');
    const filters = {
      until: sinceOf(flag.string(flags, 'until'), ctx.now()),
      subject: flag.string(flags, 'subject'),
      grantId: flag.string(flags, 'grant'),
      type: flag.string(flags, 'type'),
      decision: flag.string(flags, 'decision'),
      limit: flag.string(flags, 'limit'),
    };
    // A whole chain by default for one grant; the last hour otherwise.
    let since = sinceOf(flag.string(flags, 'since') ?? (filters.grantId ? undefined : '1h'), ctx.now());
    const printed = new Set<string>();
    const collected: AuditEvent[] = [];
    const now = ctx.now();
    let headerDone = false;
    const show = (events: AuditEvent[]) => {
      const fresh = events.filter((event) => !printed.has(event.id));
      for (const event of fresh) printed.add(event.id);
      if (!follow && asJson) collected.push(...fresh);
      else if (asJson) for (const event of fresh) ctx.stdout.write(`${JSON.stringify(event)}\n`);
      else if (fresh.length) {
        const rows = fresh.map((event) => [
          clock(event.at, now),
          event.grantId,
          String(event.seq),
          event.type,
          event.subject,
          eventLine(event),
        ]);
        const table = renderColumns(['at', 'chain', 'seq', 'type', 'subject', 'what'], rows, ctx.out).split('\n');
        ctx.stdout.write(`${(headerDone ? table.slice(1) : table).join('\n')}`);
        headerDone = true;
      }
      return fresh;
    };
    for (;;) {
      let next: string | undefined;
      let latest = since;
      do {
        const page = await auditPage(api, { ...filters, since, next });
        latest = show(page.events).at(-1)?.at ?? latest;
        next = page.next;
      } while (next);
      if (!follow) break;
      // Resume at the newest instant seen: events at that instant already printed are skipped by id.
      since = latest;
      await new Promise((resolve) => setTimeout(resolve, interval * 1000));
    }
    if (asJson) print(ctx, { events: collected });
    else if (!printed.size) ctx.stdout.write('no audit events match\n');
    return EXIT.ok;
  },
};

export const ADMIN_COMMANDS = [adminGrants, adminRevoke, adminLock, adminLocks, adminUnlock, adminAudit];
