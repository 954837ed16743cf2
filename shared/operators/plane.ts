// The operator plane as one service: every read and action of auditors, operators and approvers, each
// checked against the caller's roles here, so any front door (API, console, CLI) gets the same answer.
// Must never act for a caller whose role it has not checked, nor act without an audit event naming them.

import type { ApprovalDecisions, ApprovalStore } from '../approvals/index.ts';
import type { AuditLog } from '../audit/index.ts';
import { AirlockError } from '../errors.ts';
import { type GrantRecord, type GrantService, type GrantStore, isLive, publicGrant } from '../grants/index.ts';
import type { Principal } from '../identity/index.ts';
import type { Policy } from '../policy/index.ts';
import { mayDecide, type PublicApproval, publicApproval } from './approvals.ts';
import { type AuditPosition, type AuditTimeline, searchAudit } from './audit-search.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { type Lock, locksOut } from './lock.ts';
import type { LockStore } from './lock-store.ts';
import { type LockOutcome, type LockService, lockedError } from './locks.ts';
import { type OperatorRight, requireRight, rolesOf } from './roles.ts';
import type { ApprovalDecisionBody, AuditQuery, GrantListQuery, LockRequest } from './schemas.ts';
import { readChain } from './story.ts';

/** Statement counts read at once for a page of grants. */
const STATEMENT_COUNT_READS = 8;

export interface OperatorPlaneOptions {
  policy: Policy;
  grantStore: Pick<GrantStore, 'get' | 'getMany' | 'search'>;
  grants: Pick<GrantService, 'endAs'>;
  locks: LockService;
  approvalStore: Pick<ApprovalStore, 'listAwaiting'>;
  decisions: Pick<ApprovalDecisions, 'decideSignedIn'>;
  audit: AuditTimeline & Pick<AuditLog, 'countStatements'>;
  /** Locks, read on every call: a lock on a person's subject (and no connection) stops them here too. */
  lockStore: Pick<LockStore, 'listUnlifted'>;
  now?: () => Date;
}

/** A grant as operators see it: the API's Grant plus the issuer that vouched for its subject and its role. */
export const adminGrant = (grant: GrantRecord) => ({ ...publicGrant(grant), issuer: grant.issuer, role: grant.role });
export type AdminGrant = ReturnType<typeof adminGrant>;

export type OperatorPlane = ReturnType<typeof createOperatorPlane>;

export function createOperatorPlane(options: OperatorPlaneOptions) {
  const { policy, locks } = options;
  const now = options.now ?? (() => new Date());
  const operatorOf = (principal: Principal) => ({ subject: principal.subject, issuer: principal.issuer });
  const allowed = async (principal: Principal, right: OperatorRight) => {
    const roles = rolesOf(policy, principal);
    requireRight(roles, right);
    // Locked out means from every front door: the API, the CLI and the console alike (a lock cannot lift itself).
    const lock = (await options.lockStore.listUnlifted()).find((lock) => locksOut(lock, principal, now()));
    if (lock) throw lockedError(lock);
    return roles;
  };

  return {
    /** The caller's right, checked before a front door reads a body: 403 comes before 400. */
    async authorize(principal: Principal, right: OperatorRight): Promise<void> {
      await allowed(principal, right);
    },

    async listGrants(principal: Principal, query: GrantListQuery): Promise<{ grants: AdminGrant[]; next?: string }> {
      await allowed(principal, 'read');
      const after = query.next === undefined ? undefined : decodeCursor(query.next, 'grants');
      const page = await options.grantStore.search({
        ...(query.status !== undefined ? { status: query.status } : {}),
        ...(query.subject !== undefined ? { subject: query.subject } : {}),
        ...(query.connection !== undefined ? { connection: query.connection } : {}),
        ...(query.since !== undefined ? { since: query.since } : {}),
        ...(after ? { after } : {}),
        limit: query.limit,
      });
      return {
        grants: page.grants.map(adminGrant),
        ...(page.next ? { next: encodeCursor('grants', page.next) } : {}),
      };
    },

    /** How many statements each grant's chain records, by grant id (auditors, operators): a few store reads at a time. */
    async statementCounts(principal: Principal, grantIds: string[]): Promise<Map<string, number>> {
      await allowed(principal, 'read');
      const counts = new Map<string, number>();
      const queue = [...new Set(grantIds)];
      const worker = async () => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift())
          counts.set(id, await options.audit.countStatements(id));
      };
      await Promise.all(Array.from({ length: Math.min(STATEMENT_COUNT_READS, queue.length) }, worker));
      return counts;
    },

    /** One grant, its audit events and the chain's verdict (auditors, operators). */
    async grantStory(principal: Principal, id: string) {
      await allowed(principal, 'read');
      const grant = await options.grantStore.get(id);
      if (!grant) throw new AirlockError('not_found', `no grant ${id}`);
      return { grant, ...(await readChain(options.audit, id)) };
    },

    /** The owner's revoke, by an operator: the decision and the audit event say who and why. */
    async revokeGrant(principal: Principal, id: string, reason: string): Promise<GrantRecord> {
      await allowed(principal, 'operate');
      const ended = await options.grants.endAs(id, 'revoked', {
        by: principal.subject,
        reason,
        details: { byIssuer: principal.issuer },
      });
      if (ended) return ended;
      const current = await options.grantStore.get(id);
      if (!current) throw new AirlockError('not_found', `no grant ${id}`);
      return current;
    },

    async createLock(principal: Principal, request: LockRequest): Promise<LockOutcome> {
      await allowed(principal, 'operate');
      return locks.create(operatorOf(principal), request);
    },

    async listLocks(principal: Principal): Promise<Lock[]> {
      await allowed(principal, 'read');
      return locks.listActive();
    },

    async liftLock(principal: Principal, id: string, reason: string): Promise<Lock> {
      await allowed(principal, 'operate');
      return locks.lift(operatorOf(principal), id, reason);
    },

    /** Auditors and operators see every pending request; an approver, the ones they may decide. */
    async listApprovals(principal: Principal): Promise<PublicApproval[]> {
      const roles = await allowed(principal, 'read-approvals');
      const at = now();
      const pending = await options.approvalStore.listAwaiting(at.toISOString());
      // A request outlives its grant in the store (revoked, denied by a lock): only what can still be decided is listed.
      const grants = await options.grantStore.getMany([...new Set(pending.map((request) => request.grantId))]);
      return pending
        .filter((request) => {
          const grant = grants.get(request.grantId);
          return grant !== undefined && (request.kind === 'grant' ? grant.status === 'pending' : isLive(grant, at));
        })
        .map((request) => publicApproval(request, mayDecide(request, principal, roles)))
        .filter((approval) => roles.auditor || approval.canDecide);
    },

    async decideApproval(
      principal: Principal,
      id: string,
      body: ApprovalDecisionBody,
    ): Promise<{ approval: PublicApproval; grant?: GrantRecord }> {
      const roles = await allowed(principal, 'decide');
      const outcome = await options.decisions.decideSignedIn(
        id,
        { email: roles.email!, subject: principal.subject, issuer: principal.issuer },
        body,
      );
      const approval = publicApproval(outcome.request, false);
      return outcome.outcome === 'approved' && outcome.grant ? { approval, grant: outcome.grant } : { approval };
    },

    async searchAudit(principal: Principal, query: AuditQuery) {
      await allowed(principal, 'read');
      const after: AuditPosition | undefined = query.next === undefined ? undefined : decodeCursor(query.next, 'audit');
      const page = await searchAudit(options.audit, {
        ...(query.since !== undefined ? { since: query.since } : {}),
        ...(query.until !== undefined ? { until: query.until } : {}),
        ...(query.subject !== undefined ? { subject: query.subject } : {}),
        ...(query.grantId !== undefined ? { grantId: query.grantId } : {}),
        ...(query.type !== undefined ? { type: query.type } : {}),
        ...(query.decision !== undefined ? { decision: query.decision } : {}),
        ...(after ? { after } : {}),
        limit: query.limit,
      });
      return { events: page.events, ...(page.next ? { next: encodeCursor('audit', page.next) } : {}) };
    },
  };
}
