// The grant lifecycle: request (policy decides), activate (mint the role, open the window), revoke,
// deny, and the sweeper's expiry. Every step is audited; a step that cannot be completed fails closed.

import type { AuditLog } from '../audit/index.ts';
import { AirlockError, isAirlockError } from '../errors.ts';
import type { Principal } from '../identity/index.ts';
import { type SigningKeys, signGrantToken } from '../identity/index.ts';
import { ID_PATTERN, newId } from '../ids.ts';
import type { Policy } from '../policy/index.ts';
import { decide } from '../policy/index.ts';
import { derivePassword, grantIdOfRole, ROLE_PREFIX, type RoleAdmin, roleNameFor } from '../postgres/index.ts';
import { type EndEvent, type GrantDecision, type GrantRecord, type GrantStatus, isLive } from './model.ts';
import { createSubjectQuotas } from './quota.ts';
import type { GrantStore } from './store.ts';

/** How long an expired or ended grant stays readable before DynamoDB's TTL may delete it. */
const RETENTION_SECONDS = 30 * 86400;
/** An auto-approved grant that could not be activated is swept after this long. */
const ACTIVATION_GRACE_SECONDS = 120;
/** The sweeper may spend longer dropping a role than a revocation request does (it owns what is left over). */
const SWEEP_DROP_BUDGET_MS = 15_000;
/** A role whose drop waits for a lock or its time budget: logins are already blocked and sessions ended. */
const DROP_DEFERRED = new AirlockError(
  'conflict',
  'the role cannot log in and has no sessions, but its drop waits for a lock; the next sweep retries it',
);
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

/** Who asks for what, as an operator's lock sees it. */
export interface LockScope {
  subject: string;
  issuer: string;
  connection: string;
}

/** The hook the operators module fills in: read on every request and again just before a window opens. */
export interface LockChecker {
  /** Throws `locked` when an operator's lock covers this scope; `unavailable` when the locks cannot be read. */
  assertUnlocked(scope: LockScope): Promise<void>;
}

/** An operator (or an operator's lock) ending a grant: who, why, and what the audit event adds. */
export interface OperatorAction {
  by: string;
  reason: string;
  details?: Record<string, unknown>;
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
  locks?: LockChecker;
  /** This deployment's role prefix; the same one the role admins were made with. */
  rolePrefix?: string;
  now?: () => Date;
}

export interface SweepReport {
  expired: number;
  orphansReaped: number;
  /** How many steps failed: `failures.length`, plus any step a caller counts without a record. */
  errors: number;
  failures: SweepFailure[];
}

/** One step the sweeper could not complete: which grant, role or connection, and why (retried on the next run). */
export interface SweepFailure {
  step: 'expire' | 'audit' | 'reap' | 'connection' | 'notify';
  /** The connection concerned; absent for a step that is not about one (mailing held approvals). */
  connection?: string;
  grantId?: string;
  role?: string;
  cause: unknown;
}

export type GrantService = ReturnType<typeof createGrantService>;

export function createGrantService(options: GrantServiceOptions) {
  const { policy, store, audit } = options;
  const rolePrefix = options.rolePrefix ?? ROLE_PREFIX;
  const naming = { roleKey: options.roleKey, prefix: rolePrefix };
  const now = options.now ?? (() => new Date());
  const quotas = createSubjectQuotas({
    store: store.quotas,
    grants: (ids) => store.getMany(ids),
    limits: policy.limits,
    now,
  });
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
    const profile = profileOf(grant);
    await admin.mintRole({
      grantId: grant.id,
      validUntil: expiresAt,
      // The role's CONNECTION LIMIT is the grant's share of its subject's sessions: Postgres enforces the quota.
      profile: { ...profile, connectionLimit: Math.min(profile.connectionLimit, grant.sessionLimit ?? Infinity) },
      password: derivePassword(options.roleKey, grant.id),
      statementTimeoutSeconds: policy.limits.statementTimeout,
      lockTimeoutSeconds: policy.limits.lockTimeout,
    });
    await refuseIfLocked(grant, admin);
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
      // An operator's lock may have ended it meanwhile: say so rather than `conflict`.
      if (current?.status === 'denied' || current?.status === 'revoked')
        await options.locks?.assertUnlocked({
          subject: grant.subject,
          issuer: grant.issuer,
          connection: grant.connection,
        });
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
   * Checked after the role exists and before the window opens (docs/operators.md, "A lock and a request in
   * flight"): a lock written before this read is seen here; one written after it finds this role.
   */
  async function refuseIfLocked(grant: GrantRecord, admin: RoleAdmin): Promise<void> {
    try {
      await options.locks?.assertUnlocked({
        subject: grant.subject,
        issuer: grant.issuer,
        connection: grant.connection,
      });
    } catch (error) {
      const lock = isAirlockError(error, 'locked') ? error.details.lock : undefined;
      // endGrant drops the role; without a lock (the locks could not be read) the role goes unless a racing activation won.
      const denied = lock
        ? await endGrant(grant, 'pending', 'denied', 'airlock', `locked by ${lock.id}`, {
            subject: grant.subject,
            details: { by: 'airlock', reason: 'locked', lockId: lock.id },
          })
        : null;
      if (!denied && (await store.get(grant.id))?.status !== 'active') await admin.revokeRole(grant.role);
      throw error;
    }
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
    dropBudgetMs?: number,
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
      await (await options.roles(grant.connection)).revokeRole(grant.role, { dropBudgetMs });
    }
    // Its sessions are over (or it never had any): the place goes back. A failure here is repaired when it matters.
    await quotas.release(grant).catch(() => {});
    return settled;
  }

  /** Appends the end event a grant owes, then forgets it; on a retry, only if the chain does not hold it yet. */
  async function writeEndEvent(grant: GrantRecord, retry: boolean): Promise<GrantRecord> {
    const event = grant.endEvent;
    if (!event) return grant;
    // A retry may follow an append that landed before its marker could be cleared.
    const written = retry && (await audit.list(grant.id)).some((existing) => existing.type === event.type);
    if (!written) {
      await audit.append({
        grantId: grant.id,
        type: event.type,
        subject: event.subject,
        details: event.details,
      } as Parameters<AuditLog['append']>[0]);
    }
    await store.endEventWritten(grant.id);
    const { sweep: _sweep, dueAt: _dueAt, endEvent: _event, ...rest } = grant;
    return rest;
  }

  return {
    tokenFor,

    async request(principal: Principal, input: GrantRequestInput): Promise<{ grant: GrantRecord; token?: string }> {
      await options.locks?.assertUnlocked({
        subject: principal.subject,
        issuer: principal.issuer,
        connection: input.connection,
      });
      const decision = decide(policy, input, principal);
      if (decision.outcome === 'denied') throw new AirlockError('policy_denied', decision.reason);
      // Nothing is written for a connection that cannot take a grant (masking not set up, policy not matching it).
      await (await options.roles(input.connection)).prepareConnection();
      const requestedAt = now();
      const id = newId();
      const wantSessions = policy.connections[input.connection]?.profiles[input.access]?.connectionLimit ?? 1;
      const sessionLimit = await quotas.reserve(principal, { id, ttlSeconds: decision.ttlSeconds }, wantSessions);
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
        role: roleNameFor(id, naming),
        sessionLimit,
        target: null,
        sweep: 'pending',
        dueAt: iso(deadline),
        ttl: ttlFrom(deadline),
      };
      // The record first: the audit log anchors the chain's head on it. Both succeed before anything else happens.
      try {
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
      } catch (error) {
        // Nothing was granted: the place goes back (a grant stored meanwhile is swept as never activated).
        await quotas.release({ ...principal, id, sessionLimit }).catch(() => {});
        throw error;
      }
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

    /**
     * An operator ends a grant, whoever owns it: `revoked` (from active or pending, the owner's revoke by
     * someone else) or `denied` (pending only). Null when the grant is not in a state that allows it.
     */
    async endAs(id: string, to: 'revoked' | 'denied', action: OperatorAction): Promise<GrantRecord | null> {
      const grant = ID_PATTERN.test(id) ? await store.get(id) : null;
      if (!grant) throw new AirlockError('not_found', `no grant ${id}`);
      if (grant.status !== 'pending' && (to === 'denied' || grant.status !== 'active')) return null;
      return endGrant(grant, grant.status, to, action.by, action.reason, {
        subject: grant.subject,
        details: { ...action.details, by: action.by, reason: action.reason, previous: grant.status },
      });
    },

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
      const report: SweepReport = { expired: 0, orphansReaped: 0, errors: 0, failures: [] };
      const fail = (failure: SweepFailure) => {
        report.failures.push(failure);
        report.errors++;
      };
      const at = iso(now());
      const due = [...(await store.listDue('active', at)), ...(await store.listDue('pending', at))];
      await inBatches(due, 8, async (grant) => {
        try {
          const ended = await endGrant(
            grant,
            grant.status,
            'expired',
            'sweeper',
            undefined,
            { subject: grant.subject, details: { previous: grant.status } },
            SWEEP_DROP_BUDGET_MS,
          );
          if (ended) report.expired++;
        } catch (cause) {
          fail({ step: 'expire', connection: grant.connection, grantId: grant.id, role: grant.role, cause });
        }
      });
      // End events an audit outage kept from being written when their grants ended.
      await inBatches(await store.listDue('audit', at), 8, async (grant) => {
        try {
          await writeEndEvent(grant, true);
        } catch (cause) {
          fail({ step: 'audit', connection: grant.connection, grantId: grant.id, cause });
        }
      });
      for (const connection of Object.keys(policy.connections)) {
        try {
          // Tables added or altered since the last grant get their masking and privileges now, not at the next grant.
          await (await options.roles(connection)).prepareConnection();
        } catch {
          report.errors++;
        }
        try {
          const admin = await options.roles(connection);
          // Only roles named exactly as this deployment names them; anything else is not ours to drop.
          const roles = (await admin.listRoles()).flatMap((info) => {
            const id = grantIdOfRole(info.role, naming);
            return id === null ? [] : [{ ...info, id }];
          });
          const grants = await store.getMany(roles.map((info) => info.id));
          const current = now();
          const failedThisRun = new Set(report.failures.map((failure) => failure.role));
          const orphans = roles.filter((info) => {
            // A role whose drop just failed is reported once per run, not again as an orphan.
            if (failedThisRun.has(info.role)) return false;
            const grant = grants.get(info.id);
            if (!grant) return true;
            if (grant.status === 'pending')
              return grant.dueAt !== undefined && Date.parse(grant.dueAt) <= current.getTime();
            return !isLive(grant, current);
          });
          await inBatches(orphans, 8, async (info) => {
            try {
              // A role whose drop must wait (a lock, the budget) is blocked from logging in; the next sweep goes on.
              const { dropped } = await admin.revokeRole(info.role, { dropBudgetMs: SWEEP_DROP_BUDGET_MS });
              if (dropped) report.orphansReaped++;
              else fail({ step: 'reap', connection, grantId: info.id, role: info.role, cause: DROP_DEFERRED });
            } catch (cause) {
              fail({ step: 'reap', connection, grantId: info.id, role: info.role, cause });
            }
          });
        } catch (cause) {
          // One connection that cannot be reached does not keep the others from being swept.
          fail({ step: 'connection', connection, cause });
        }
      }
      return report;
    },
  };
}

async function inBatches<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(lanes);
}
