// The grant lifecycle: request (policy decides), activate (mint the role, open the window), revoke,
// deny, and the sweeper's expiry. Every step is audited; a step that cannot be completed fails closed.

import type { AuditLog } from '../audit/event.ts';
import { AirlockError, isAirlockError } from '../errors.ts';
import { type SigningKeys, signGrantToken } from '../identity/grant-token.ts';
import type { Principal } from '../identity/principal.ts';
import { newId } from '../ids.ts';
import { decide } from '../policy/decide.ts';
import type { Policy } from '../policy/schema.ts';
import { derivePassword } from '../postgres/password.ts';
import { ROLE_PREFIX, type RoleAdmin, roleNameFor } from '../postgres/roles.ts';
import { type EndEvent, type GrantDecision, type GrantRecord, type GrantStatus, isLive } from './model.ts';
import type { GrantStore } from './store.ts';

/** How long an expired or ended grant stays readable before DynamoDB's TTL may delete it. */
const RETENTION_SECONDS = 30 * 86400;
/** An auto-approved grant that could not be activated is swept after this long. */
const ACTIVATION_GRACE_SECONDS = 120;
/** An end event not written this long after its grant ended is written by the sweeper (not sooner: it may be in flight). */
const END_EVENT_GRACE_SECONDS = 60;

export interface GrantRequestInput {
  connection: string;
  access: string;
  ttlSeconds: number;
  reason: string;
}

/** Hooks the approvals module fills in: it is told when a request needs humans. */
export interface ApprovalNotifier {
  grantNeedsApproval(grant: GrantRecord, principal: Principal): Promise<void>;
}

export interface GrantServiceOptions {
  policy: Policy;
  store: GrantStore;
  audit: AuditLog;
  /** The role admin of a connection (admin credential inside); API side and sweeper only. */
  roles: (connection: string) => Promise<RoleAdmin>;
  /** Host, port and database of a connection (from its admin secret; never the credential). */
  target: (connection: string) => Promise<{ host: string; port: number; database: string }>;
  roleKey: string;
  signingKeys: SigningKeys;
  /** Issuer of grant tokens: the public URL. */
  issuer: string;
  approvals?: ApprovalNotifier;
  /** This deployment's role prefix; the same one the role admins were made with. */
  rolePrefix?: string;
  now?: () => Date;
}

export interface SweepReport {
  expired: number;
  orphansReaped: number;
  errors: number;
}

export type GrantService = ReturnType<typeof createGrantService>;

export function createGrantService(options: GrantServiceOptions) {
  const { policy, store, audit } = options;
  const rolePrefix = options.rolePrefix ?? ROLE_PREFIX;
  const now = options.now ?? (() => new Date());
  const iso = (date: Date) => date.toISOString();
  const ttlFrom = (date: Date) => Math.floor(date.getTime() / 1000) + RETENTION_SECONDS;

  const tokenFor = (grant: GrantRecord) =>
    signGrantToken(
      options.signingKeys,
      { subject: grant.subject, grantId: grant.id, expiresAt: new Date(grant.expiresAt!), issuer: options.issuer },
      now,
    );

  /** The caller's own grant, or 404 — another subject's grant is indistinguishable from none. */
  const own = async (principal: Principal, id: string): Promise<GrantRecord> => {
    const grant = /^[0-9a-z]{20}$/.test(id) ? await store.get(id) : null;
    if (!grant || grant.subject !== principal.subject || grant.issuer !== principal.issuer) {
      throw new AirlockError('not_found', `no grant ${id}`);
    }
    return grant;
  };

  const profileOf = (grant: GrantRecord) => {
    const profile = policy.connections[grant.connection]?.profiles[grant.access];
    if (!profile)
      throw new AirlockError('invalid_config', `the policy no longer has ${grant.connection}/${grant.access}`);
    return profile;
  };

  async function activate(id: string, by: GrantDecision[]): Promise<GrantRecord> {
    const grant = await store.get(id);
    if (!grant) throw new AirlockError('not_found', `no grant ${id}`);
    return activateRecord(grant, by);
  }

  /** Mints the role, then moves pending → active; a lost race leaves the winner's single role. */
  async function activateRecord(grant: GrantRecord, by: GrantDecision[]): Promise<GrantRecord> {
    if (grant.status === 'active') return grant;
    if (grant.status !== 'pending') throw new AirlockError('conflict', `grant ${grant.id} is ${grant.status}`);

    const activatedAt = now();
    const expiresAt = new Date(Math.floor(activatedAt.getTime() / 1000) * 1000 + grant.ttlSeconds * 1000);
    const admin = await options.roles(grant.connection);
    const target = await options.target(grant.connection);
    await admin.mintRole({
      grantId: grant.id,
      validUntil: expiresAt,
      profile: profileOf(grant),
      password: derivePassword(options.roleKey, grant.id),
      statementTimeoutSeconds: policy.limits.statementTimeout,
    });
    const decisions = [
      ...grant.decisions,
      ...by,
      { by: 'airlock', decision: 'activated' as const, at: iso(activatedAt) },
    ];
    const active = await store.transition(
      grant.id,
      'pending',
      'active',
      {
        activatedAt: iso(activatedAt),
        expiresAt: iso(expiresAt),
        target,
        approvalDeadline: null,
        decisions,
        sweep: 'active',
        dueAt: iso(expiresAt),
        ttl: ttlFrom(expiresAt),
      },
      { dueAfter: iso(activatedAt) },
    ); // a request past its deadline is the sweeper's, which may be dropping this role
    if (!active) {
      const current = await store.get(grant.id);
      // A concurrent activation won: it minted the same role name, so there is still exactly one role.
      if (current?.status === 'active') return current;
      await admin.revokeRole(grant.role);
      throw new AirlockError('conflict', `grant ${grant.id} is ${current?.status ?? 'gone'}`);
    }
    try {
      await audit.append({
        grantId: active.id,
        type: 'grant.activated',
        subject: active.subject,
        details: { expiresAt: active.expiresAt, role: active.role },
      });
    } catch (error) {
      // No window opens without its audit event: close it again.
      await endGrant(active, 'active', 'revoked', 'airlock', 'audit unavailable', {
        subject: active.subject,
        details: { by: 'airlock', reason: 'audit unavailable' },
      }).catch(() => {});
      throw error;
    }
    return active;
  }

  /**
   * Moves a grant to an end state, records its end event, then drops its role (idempotent; the sweeper
   * retries a failed role drop). The state change carries the event it owes, so an audit store that fails
   * right then delays the event (the sweeper writes it) but never loses it, nor stops the grant ending.
   */
  async function endGrant(
    grant: GrantRecord,
    from: GrantStatus,
    to: 'revoked' | 'expired' | 'denied',
    by: string,
    reason: string | undefined,
    event: Pick<EndEvent, 'subject' | 'details'>,
  ) {
    const at = now();
    const decision = { revoked: 'revoked', expired: 'expired', denied: 'denied' }[to] as GrantDecision['decision'];
    const ended = await store.transition(
      grant.id,
      from,
      to,
      {
        decisions: [...grant.decisions, { by, decision, at: iso(at), ...(reason ? { reason } : {}) }],
        sweep: 'audit',
        dueAt: iso(new Date(at.getTime() + END_EVENT_GRACE_SECONDS * 1000)),
        endEvent: { type: `grant.${to}`, ...event },
        ttl: ttlFrom(at),
      },
      to === 'expired' && from === 'active' ? { expiresAtBefore: iso(at) } : undefined,
    );
    if (!ended) return null;
    const settled = await writeEndEvent(ended, false).catch(() => ended);
    if (from === 'active' || from === 'pending') {
      await (await options.roles(grant.connection)).revokeRole(grant.role);
    }
    return settled;
  }

  /** Appends the end event a grant owes, then forgets it; on a retry, only if the chain does not hold it yet. */
  async function writeEndEvent(grant: GrantRecord, retry: boolean): Promise<GrantRecord> {
    const event = grant.endEvent;
    if (!event) return grant;
    // A retry may follow an append that landed before its marker could be cleared.
    const written = retry && (await audit.list(grant.id)).some((existing) => existing.type === event.type);
    if (!written)
      await audit.append({ grantId: grant.id, type: event.type, subject: event.subject, details: event.details });
    await store.endEventWritten(grant.id);
    const { sweep: _sweep, dueAt: _dueAt, endEvent: _event, ...rest } = grant;
    return rest;
  }

  return {
    tokenFor,

    async request(principal: Principal, input: GrantRequestInput): Promise<{ grant: GrantRecord; token?: string }> {
      const decision = decide(policy, input, principal);
      if (decision.outcome === 'denied') throw new AirlockError('policy_denied', decision.reason);
      const requestedAt = now();
      const id = newId();
      const needsApproval = decision.outcome === 'approval';
      // Whole seconds, like a JWT's exp: an approval link expires at exactly the request's deadline.
      const deadline = new Date(
        Math.floor(requestedAt.getTime() / 1000) * 1000 +
          (needsApproval ? policy.limits.approvalTimeout : ACTIVATION_GRACE_SECONDS) * 1000,
      );
      const grant: GrantRecord = {
        id,
        status: 'pending',
        subject: principal.subject,
        issuer: principal.issuer,
        email: principal.email,
        connection: input.connection,
        access: input.access,
        reason: input.reason,
        rule: decision.rule.name,
        ttlSeconds: decision.ttlSeconds,
        requestedAt: iso(requestedAt),
        activatedAt: null,
        expiresAt: null,
        approvalDeadline: needsApproval ? iso(deadline) : null,
        approval: needsApproval ? { approvers: decision.approvers, required: decision.required } : null,
        decisions: [],
        role: roleNameFor(id, rolePrefix),
        target: null,
        sweep: 'pending',
        dueAt: iso(deadline),
        ttl: ttlFrom(deadline),
      };
      // The record first: the audit log anchors the chain's head on it. Both succeed before anything else happens.
      await store.create(grant);
      await audit.append({
        grantId: id,
        type: 'grant.requested',
        subject: principal.subject,
        details: {
          connection: input.connection,
          access: input.access,
          ttlSeconds: decision.ttlSeconds,
          requestedTtlSeconds: input.ttlSeconds,
          reason: input.reason,
          rule: decision.rule.name,
          needsApproval,
        },
      });
      if (needsApproval) {
        if (!options.approvals) throw new AirlockError('unavailable', 'approvals are not configured');
        await options.approvals.grantNeedsApproval(grant, principal);
        return { grant };
      }
      const active = await activateRecord(grant, [
        { by: 'policy', decision: 'approved', at: iso(requestedAt), reason: `rule ${decision.rule.name}` },
      ]);
      // A window of a few seconds can end while its role is minted under load: no token for a past window (not a 500).
      if (!isLive(active, now()))
        throw new AirlockError(
          'grant_expired',
          `grant ${id}'s ${active.ttlSeconds} s window ended while it was being activated; ask for a longer ttl`,
        );
      return { grant: active, token: await tokenFor(active) };
    },

    async get(principal: Principal, id: string): Promise<{ grant: GrantRecord; token?: string }> {
      const grant = await own(principal, id);
      return isLive(grant, now()) ? { grant, token: await tokenFor(grant) } : { grant };
    },

    list(principal: Principal): Promise<GrantRecord[]> {
      return store
        .listBySubject(principal.subject)
        .then((grants) => grants.filter((grant) => grant.issuer === principal.issuer));
    },

    async revoke(principal: Principal, id: string): Promise<GrantRecord> {
      const grant = await own(principal, id);
      if (grant.status !== 'active' && grant.status !== 'pending') return grant;
      const ended = await endGrant(grant, grant.status, 'revoked', principal.subject, undefined, {
        subject: principal.subject,
        details: { by: principal.subject },
      });
      return ended ?? (await own(principal, id));
    },

    activate,

    /** A human (or the approval timeout) said no: the pending grant ends without a role. */
    async deny(id: string, by: string, reason?: string): Promise<GrantRecord | null> {
      const grant = await store.get(id);
      if (grant?.status !== 'pending') return null;
      return endGrant(grant, 'pending', 'denied', by, reason, {
        subject: grant.subject,
        details: { by, ...(reason ? { reason } : {}) },
      });
    },

    /** Ends what is due and reaps roles no live grant accounts for. Safe to run twice at once. */
    async sweep(): Promise<SweepReport> {
      const report: SweepReport = { expired: 0, orphansReaped: 0, errors: 0 };
      const at = iso(now());
      const due = [...(await store.listDue('active', at)), ...(await store.listDue('pending', at))];
      await inBatches(due, 8, async (grant) => {
        try {
          const ended = await endGrant(grant, grant.status, 'expired', 'sweeper', undefined, {
            subject: grant.subject,
            details: { previous: grant.status },
          });
          if (ended) report.expired++;
        } catch {
          report.errors++;
        }
      });
      // End events an audit outage kept from being written when their grants ended.
      await inBatches(await store.listDue('audit', at), 8, async (grant) => {
        try {
          await writeEndEvent(grant, true);
        } catch {
          report.errors++;
        }
      });
      for (const connection of Object.keys(policy.connections)) {
        try {
          const admin = await options.roles(connection);
          // Only roles named exactly as this deployment names them; anything else is not ours to drop.
          const roles = (await admin.listRoles()).flatMap((info) => {
            const id = grantIdOfRole(info.role, rolePrefix);
            return id === null ? [] : [{ ...info, id }];
          });
          const grants = await store.getMany(roles.map((info) => info.id));
          const current = now();
          const orphans = roles.filter((info) => {
            const grant = grants.get(info.id);
            if (!grant) return true;
            if (grant.status === 'pending')
              return grant.dueAt !== undefined && Date.parse(grant.dueAt) <= current.getTime();
            return !isLive(grant, current);
          });
          await inBatches(orphans, 8, async (info) => {
            try {
              await admin.revokeRole(info.role);
              report.orphansReaped++;
            } catch {
              report.errors++;
            }
          });
        } catch (error) {
          if (!isAirlockError(error)) throw error;
          report.errors++;
        }
      }
      return report;
    },
  };
}

/** The grant a role was minted for, or null when the name is not one `roleNameFor` makes. */
export function grantIdOfRole(role: string, prefix: string = ROLE_PREFIX): string | null {
  if (!role.startsWith(prefix)) return null;
  const id = role.slice(prefix.length, role.lastIndexOf('_'));
  return /^[0-9a-z]{20}$/.test(id) && roleNameFor(id, prefix) === role ? id : null;
}

async function inBatches<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(lanes);
}
