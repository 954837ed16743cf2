// Opening approval requests: a grant that policy says needs humans, and a statement a guardrail holds
// (the StatementGate). Must never let one approval run a different statement, or run the same one twice.

import { AirlockError } from '../errors.ts';
import type { ApprovalNotifier } from '../grants/index.ts';
import { type GrantRecord, isLive } from '../grants/index.ts';
import type { Principal, SigningKeys } from '../identity/index.ts';
import type { Policy } from '../policy/index.ts';
import type { GateDecision, HeldStatement, StatementGate } from '../query/index.ts';
import { distinctMailboxes } from './address.ts';
import { signApprovalLink } from './link.ts';
import type { Mailer } from './mailer.ts';
import { approvalMessage } from './message.ts';
import { type ApprovalRequest, approvalRef, grantApprovalId, isRequester, statementApprovalId } from './model.ts';
import { shownParameters } from './params.ts';
import type { ApprovalStore } from './store.ts';

/** How long a decided request stays readable before DynamoDB's TTL may delete it. */
const RETENTION_SECONDS = 30 * 86400;
/** Conditional writes lost to concurrent writers before giving up (fail closed). */
const MAX_ATTEMPTS = 8;
/** Characters of a statement kept for display; the binding (paramsHash) always covers the whole text. Keeps items far below DynamoDB's 400 KB. */
const SHOWN_SQL_CHARS = 40_000;

export interface ApprovalRequestsOptions {
  policy: Pick<Policy, 'publicUrl' | 'limits' | 'masking'>;
  store: ApprovalStore;
  /**
   * Signs links and sends them: the API side only. Links are ES256 tokens like grant tokens (own typ
   * and audience), so the query side, which never holds the signing key, records holds unsent.
   */
  sender?: { mailer: Mailer; signingKeys: SigningKeys };
  now?: () => Date;
}

export type ApprovalRequests = ApprovalNotifier & {
  gate: StatementGate;
  /** Emails every pending request the query side recorded but could not send (API side, from the sweeper). */
  notifyPending(): Promise<number>;
};

export function createApprovalRequests(options: ApprovalRequestsOptions): ApprovalRequests {
  const { store, policy } = options;
  const now = options.now ?? (() => new Date());
  const iso = (date: Date) => date.toISOString();
  const base = policy.publicUrl.replace(/\/+$/, '');
  const ttlFrom = (...times: Array<string | null>) =>
    Math.floor(Math.max(...times.filter((t): t is string => t !== null).map((t) => Date.parse(t))) / 1000) +
    RETENTION_SECONDS;

  /** Who is emailed: one address per mailbox, never the requester's own (`oncall+agent@` is `oncall@`). */
  const recipients = (request: Pick<ApprovalRequest, 'approvers' | 'requester'>) =>
    request.approvers.filter((approver) => !isRequester(request, approver));

  /**
   * Counts the emails a new request will cause against its requester's hourly budget, before anything is
   * recorded: beyond it the hold is refused with 429 rate_limited and nobody is emailed.
   */
  async function allowMail(requester: { issuer: string; subject: string }, request: ApprovalRequest): Promise<void> {
    const answer = await store.takeMailQuota(
      `${requester.issuer}\n${requester.subject}`,
      recipients(request).length,
      policy.limits.approvalEmailsPerHour,
      now(),
    );
    if (!answer.taken)
      throw new AirlockError(
        'rate_limited',
        `${request.requester.subject} has caused ${policy.limits.approvalEmailsPerHour} approval emails in the last hour; try again in ${answer.retryAfterSeconds} s`,
        {
          quota: 'approvalEmailsPerHour',
          limit: policy.limits.approvalEmailsPerHour,
          retryAfterSeconds: answer.retryAfterSeconds,
        },
      );
  }

  /** One email per approver, each with that approver's own link; the requester gets none. */
  async function notify(request: ApprovalRequest): Promise<void> {
    const sender = options.sender;
    if (!sender) return; // recorded with notifiedAt null: the API side's sweeper sends it
    for (const approver of recipients(request)) {
      const { token } = await signApprovalLink(
        sender.signingKeys,
        { approval: approvalRef(request), approver, expiresAt: new Date(request.deadline), issuer: policy.publicUrl },
        now,
      );
      await sender.mailer.send(approvalMessage(request, approver, `${base}/v1/approvals/${token}`));
    }
    // Losing this write only means someone decided meanwhile: the request is no longer waiting for mail.
    await store.swap(request, { ...request, notifiedAt: iso(now()) });
  }

  function statementHold(held: HeldStatement, id: string, generation: number, at: Date): ApprovalRequest {
    const { grant, statement } = held;
    // Whole seconds, like the links' exp, so a link and its request end at the same instant.
    const timeout = new Date(Math.floor(at.getTime() / 1000) * 1000 + policy.limits.approvalTimeout * 1000);
    // An approval is worthless once the grant's window has closed, so its links expire no later.
    const deadline =
      grant.expiresAt && Date.parse(grant.expiresAt) < timeout.getTime() ? grant.expiresAt : iso(timeout);
    return {
      id,
      generation,
      version: 0,
      kind: 'statement',
      status: 'pending',
      grantId: grant.id,
      statement: {
        fingerprint: statement.fingerprint,
        paramsHash: held.paramsHash,
        kind: statement.kind,
        normalizedSql: shown(statement.normalizedSql),
        sql: shown(statement.sql),
        tables: statement.relations.map((r) => (r.schema ? `${r.schema}.${r.name}` : r.name)),
        guardrail: held.guardrail,
        heldBecause: held.reason,
        measuredRows: held.measuredRows ?? null,
        // Computed here, on the side that has the values: the store keeps only what approvers may see.
        params: shownParameters(statement.sql, held.params ?? [], policy.masking),
      },
      approvers: distinctMailboxes(held.approvers.map((a) => a.toLowerCase())),
      required: held.required,
      decisions: [],
      usedLinks: [],
      codeFailures: {},
      requester: { subject: grant.subject, email: grant.email },
      connection: grant.connection,
      access: grant.access,
      ttlSeconds: grant.ttlSeconds,
      reason: grant.reason,
      rule: grant.rule,
      grantExpiresAt: grant.expiresAt,
      createdAt: iso(at),
      deadline,
      decidedAt: null,
      consumedAt: null,
      notifiedAt: null,
      ttl: ttlFrom(deadline, grant.expiresAt),
    };
  }

  const pending = (request: ApprovalRequest): GateDecision => ({
    run: false,
    approval: { id: approvalRef(request), status: 'pending' },
  });

  return {
    async notifyPending() {
      if (!options.sender) throw new AirlockError('internal', 'only the API side sends approval mail');
      let sent = 0;
      for (const request of await store.listUnnotified()) {
        if (
          request.status !== 'pending' ||
          request.notifiedAt !== null ||
          Date.parse(request.deadline) <= now().getTime()
        )
          continue;
        await notify(request);
        sent++;
      }
      return sent;
    },

    async grantNeedsApproval(grant: GrantRecord, principal: Principal) {
      if (!grant.approval || !grant.approvalDeadline)
        throw new AirlockError('internal', `grant ${grant.id} does not need approval`);
      const request: ApprovalRequest = {
        id: grantApprovalId(grant.id),
        generation: 1,
        version: 0,
        kind: 'grant',
        status: 'pending',
        grantId: grant.id,
        statement: null,
        approvers: distinctMailboxes(grant.approval.approvers.map((a) => a.toLowerCase())),
        required: grant.approval.required,
        decisions: [],
        usedLinks: [],
        codeFailures: {},
        requester: { subject: principal.subject, email: principal.email },
        connection: grant.connection,
        access: grant.access,
        ttlSeconds: grant.ttlSeconds,
        reason: grant.reason,
        rule: grant.rule,
        grantExpiresAt: null,
        createdAt: grant.requestedAt,
        deadline: grant.approvalDeadline,
        decidedAt: null,
        consumedAt: null,
        notifiedAt: null,
        ttl: ttlFrom(grant.approvalDeadline),
      };
      await allowMail(principal, request);
      const created = await store.swap(null, request);
      if (!created) throw new AirlockError('conflict', `grant ${grant.id} already has an approval request`);
      await notify(created);
    },

    gate: {
      async admit(held, admitOptions = {}) {
        const id = statementApprovalId(held.grant.id, held.statement.fingerprint, held.paramsHash);
        for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
          const current = await store.get(id);
          const at = now();
          if (
            current &&
            (current.grantId !== held.grant.id ||
              current.statement?.paramsHash !== held.paramsHash ||
              current.statement.fingerprint !== held.statement.fingerprint)
          ) {
            throw new AirlockError('internal', `approval ${id} is bound to another statement`);
          }
          // An approval of a measured change covers at most the rows the approvers were shown.
          const approvedRows = current?.statement?.measuredRows;
          const grown = held.measuredRows !== undefined && approvedRows != null && held.measuredRows > approvedRows;
          if (current?.status === 'approved' && !grown) {
            if (!isLive(held.grant, at))
              return { run: false, approval: { id: approvalRef(current), status: 'expired' } };
            if (admitOptions.spend === false) return { run: true, approvalId: approvalRef(current) };
            if (await store.swap(current, { ...current, status: 'consumed', consumedAt: iso(at) }))
              return { run: true, approvalId: approvalRef(current) };
            continue;
          }
          if (current?.status === 'pending' && Date.parse(current.deadline) > at.getTime()) {
            if (current.notifiedAt === null) await notify(current);
            return pending(current);
          }
          // Nothing yet, or the last hold ran, was denied or timed out: a new hold, a new generation, new links.
          const hold = statementHold(held, id, (current?.generation ?? 0) + 1, at);
          await allowMail(held.grant, hold);
          const created = await store.swap(current, hold);
          if (!created) continue;
          await notify(created);
          return pending(created);
        }
        throw new AirlockError('unavailable', 'the approvals store is too busy right now; nothing was run');
      },
    },
  };
}

function shown(sql: string): string {
  return sql.length > SHOWN_SQL_CHARS
    ? `${sql.slice(0, SHOWN_SQL_CHARS)}\n… (${sql.length - SHOWN_SQL_CHARS} more characters, covered by the approval too)`
    : sql;
}
