// Deciding through a link, or signed in: who may decide what, once, before the deadline, and what follows (a
// grant activated or denied, a statement cleared to run once). Must never decide on a GET, nor twice on one link.

import { createHmac } from 'node:crypto';
import { z } from 'zod';
import type { AuditLog } from '../audit/index.ts';
import { AirlockError } from '../errors.ts';
import type { GrantService, GrantStore } from '../grants/index.ts';
import { type GrantRecord, isLive } from '../grants/index.ts';
import { type GrantTokenVerifierKeys, loadVerificationKeys, type SigningKeys } from '../identity/index.ts';
import { sameMailbox } from './address.ts';
import { type ApprovalLinkClaims, codeMatches, confirmCode, verifyApprovalLink } from './link.ts';
import {
  type ApprovalDecision,
  type ApprovalRequest,
  approvalRef,
  approvalsGiven,
  grantApprovalId,
  isRequester,
  MAX_CODE_FAILURES,
  parseApprovalRef,
} from './model.ts';
import type { ApprovalStore } from './store.ts';

const MAX_ATTEMPTS = 8;

export const DecisionForm = z.object({
  decision: z.enum(['approve', 'deny']),
  reason: z
    .string()
    .max(500)
    .optional()
    .transform((reason) => reason?.trim() || undefined),
  confirm: z.string().max(32).optional(),
});
export type DecisionForm = z.infer<typeof DecisionForm>;

export interface ApprovalDecisionsOptions {
  publicUrl: string;
  store: ApprovalStore;
  grantStore: Pick<GrantStore, 'get'>;
  /** Activation and denial of grants: the grant service of the API half. */
  grants: Pick<GrantService, 'activate' | 'deny'>;
  audit: AuditLog;
  signingKeys: SigningKeys;
  /** Server-side secret a confirmation-code key is derived from (never used raw). */
  codeKey: string;
  now?: () => Date;
}

/** What the confirmation page shows. */
export interface ApprovalView {
  request: ApprovalRequest;
  approver: string;
  code: string;
}

export type DecisionOutcome =
  | { outcome: 'recorded'; request: ApprovalRequest }
  | { outcome: 'approved'; request: ApprovalRequest; grant?: GrantRecord }
  | { outcome: 'denied'; request: ApprovalRequest };

/** A person signed in with their own identity token; the caller has checked that `email` is verified. */
export interface SignedInApprover {
  email: string;
  subject: string;
  issuer: string;
}

export interface SignedInDecision {
  decision: 'approve' | 'deny';
  reason: string;
}

export interface ApprovalDecisions {
  /** Checks the link and the request; changes nothing. */
  view(token: string): Promise<ApprovalView>;
  decide(token: string, form: DecisionForm): Promise<DecisionOutcome>;
  /**
   * The same decision without a link, by an approver signed in as themselves. `id` is an approval
   * reference (`grant-….1`), a request id (its current generation) or a grant id (its grant approval).
   */
  decideSignedIn(id: string, approver: SignedInApprover, form: SignedInDecision): Promise<DecisionOutcome>;
}

export function createApprovalDecisions(options: ApprovalDecisionsOptions): ApprovalDecisions {
  const { store, audit } = options;
  const now = options.now ?? (() => new Date());
  const iso = (date: Date) => date.toISOString();
  // A key of its own, so no output of another use of the secret (role passwords) is ever a code.
  const codeKey = createHmac('sha256', options.codeKey).update('airlock/approval-confirm-code/v1').digest('hex');
  let verifierKeys: Promise<GrantTokenVerifierKeys> | undefined;

  async function claimsOf(token: string): Promise<ApprovalLinkClaims> {
    verifierKeys ??= loadVerificationKeys(options.signingKeys.publicJwks);
    return verifyApprovalLink(await verifierKeys, token, { issuer: options.publicUrl, now });
  }

  /** The request this link may decide right now, or the refusal that explains why not. */
  async function decidable(claims: ApprovalLinkClaims): Promise<{ request: ApprovalRequest; grant: GrantRecord }> {
    const ref = parseApprovalRef(claims.approval);
    if (!ref) throw new AirlockError('invalid_request', 'the approval link is invalid');
    const request = await store.get(ref.id);
    if (!request) throw new AirlockError('gone', 'this approval request no longer exists');
    if (!request.approvers.includes(claims.approver))
      throw new AirlockError('forbidden', 'this link is not for an approver of this request');
    if (isRequester(request, claims.approver))
      throw new AirlockError('forbidden', 'you asked for this; someone else has to approve it');
    if (request.generation !== ref.generation)
      throw new AirlockError('gone', 'this request has ended; a newer request replaced it');
    if (request.usedLinks.includes(claims.jti)) throw new AirlockError('gone', 'this link has already been used');
    if ((request.codeFailures[claims.jti] ?? 0) >= MAX_CODE_FAILURES)
      throw new AirlockError(
        'gone',
        `this link is locked after ${MAX_CODE_FAILURES} wrong confirmation codes; nothing was decided (the other approvers' links still work)`,
      );
    if (request.status !== 'pending') throw new AirlockError('gone', `this request is already ${request.status}`);
    if (Date.parse(request.deadline) <= now().getTime()) throw new AirlockError('gone', 'this request has expired');
    if (request.decisions.some((d) => sameMailbox(d.approver, claims.approver)))
      throw new AirlockError('gone', 'you have already decided on this request');
    const grant = await options.grantStore.get(request.grantId);
    if (!grant) throw new AirlockError('gone', 'the grant of this request no longer exists');
    if (request.kind === 'grant' && grant.status !== 'pending')
      throw new AirlockError('gone', `the grant is already ${grant.status}`);
    if (request.kind === 'statement' && !isLive(grant, now()))
      throw new AirlockError('gone', 'the grant this statement would run on is no longer active');
    return { request, grant };
  }

  async function record(
    request: ApprovalRequest,
    claims: ApprovalLinkClaims,
    decision: ApprovalDecision,
  ): Promise<ApprovalRequest | null> {
    const decisions = [...request.decisions, decision];
    const complete = decision.decision === 'denied' || approvalsGiven({ decisions }) >= request.required;
    const status = decision.decision === 'denied' ? 'denied' : complete ? 'approved' : 'pending';
    return store.swap(
      request,
      {
        ...request,
        status,
        decisions,
        usedLinks: [...request.usedLinks, claims.jti],
        decidedAt: complete ? decision.at : null,
      },
      { unusedLink: claims.jti, before: decision.at },
    );
  }

  /** Audit first, then the consequence: no grant opens and no statement is cleared without its event. */
  async function follow(
    request: ApprovalRequest,
    grant: GrantRecord,
    decision: ApprovalDecision,
  ): Promise<DecisionOutcome> {
    const details = {
      approvalId: approvalRef(request),
      by: decision.approver,
      ...(decision.reason ? { reason: decision.reason } : {}),
      approvals: approvalsGiven(request),
      required: request.required,
    };
    if (request.statement) {
      const { fingerprint, normalizedSql, guardrail } = request.statement;
      const type = decision.decision === 'denied' ? 'statement.denied' : 'statement.approved';
      await audit.append({
        grantId: grant.id,
        type,
        subject: grant.subject,
        details: { ...details, fingerprint, normalizedSql, guardrail },
      });
      if (request.status === 'pending') return { outcome: 'recorded', request };
      return request.status === 'denied' ? { outcome: 'denied', request } : { outcome: 'approved', request };
    }
    if (decision.decision === 'denied') {
      // The grant service writes grant.denied itself.
      await options.grants.deny(grant.id, decision.approver, decision.reason);
      return { outcome: 'denied', request };
    }
    await audit.append({ grantId: grant.id, type: 'grant.approved', subject: grant.subject, details });
    if (request.status === 'pending') return { outcome: 'recorded', request };
    try {
      const approvals = request.decisions.map(({ approver, at, reason }) => ({
        by: approver,
        decision: 'approved' as const,
        at,
        ...(reason ? { reason } : {}),
      }));
      return { outcome: 'approved', request, grant: await options.grants.activate(grant.id, approvals) };
    } catch (error) {
      if (error instanceof AirlockError && error.code === 'conflict')
        throw new AirlockError('gone', 'the approval was recorded, but the grant had already ended');
      throw error;
    }
  }

  /** What `approver` may decide right now under `id`, or the refusal that says why not. */
  async function decidableBySignedIn(
    id: string,
    approver: SignedInApprover,
  ): Promise<{ request: ApprovalRequest; grant: GrantRecord }> {
    const ref = parseApprovalRef(id);
    const requestId = ref?.id ?? (/^[0-9a-z]{20}$/.test(id) ? grantApprovalId(id) : id);
    const request = /^(grant|stmt)-[0-9a-z]{20,64}$/.test(requestId) ? await store.get(requestId) : null;
    if (!request) throw new AirlockError('not_found', `no approval request ${id}`);
    const email = approver.email.toLowerCase();
    if (!request.approvers.includes(email))
      throw new AirlockError('forbidden', 'your verified email is not among the approvers of this request');
    const grant = await options.grantStore.get(request.grantId);
    const ownRequest =
      isRequester(request, email) ||
      sameMailbox(request.requester.email, email) ||
      (grant !== null && grant.subject === approver.subject && grant.issuer === approver.issuer);
    if (ownRequest) throw new AirlockError('forbidden', 'you asked for this; someone else has to approve it');
    if (ref && request.generation !== ref.generation)
      throw new AirlockError('gone', 'this request has ended; a newer request replaced it');
    if (request.status !== 'pending') throw new AirlockError('conflict', `this request is already ${request.status}`);
    if (Date.parse(request.deadline) <= now().getTime()) throw new AirlockError('gone', 'this request has expired');
    if (request.decisions.some((d) => d.approver === email))
      throw new AirlockError('conflict', 'you have already decided on this request');
    if (!grant) throw new AirlockError('gone', 'the grant of this request no longer exists');
    if (request.kind === 'grant' && grant.status !== 'pending')
      throw new AirlockError('gone', `the grant is already ${grant.status}`);
    if (request.kind === 'statement' && !isLive(grant, now()))
      throw new AirlockError('gone', 'the grant this statement would run on is no longer active');
    return { request, grant };
  }

  return {
    async decideSignedIn(id, approver, form) {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const { request, grant } = await decidableBySignedIn(id, approver);
        const decision: ApprovalDecision = {
          approver: approver.email.toLowerCase(),
          decision: form.decision === 'approve' ? 'approved' : 'denied',
          at: iso(now()),
          reason: form.reason,
        };
        const decisions = [...request.decisions, decision];
        const complete = decision.decision === 'denied' || approvalsGiven({ decisions }) >= request.required;
        const written = await store.swap(
          request,
          {
            ...request,
            status: decision.decision === 'denied' ? 'denied' : complete ? 'approved' : 'pending',
            decisions,
            decidedAt: complete ? decision.at : null,
          },
          { before: decision.at },
        );
        if (written) return follow(written, grant, decision);
      }
      throw new AirlockError('unavailable', 'too many decisions at once; try again');
    },

    async view(token) {
      const claims = await claimsOf(token);
      const { request } = await decidable(claims);
      return { request, approver: claims.approver, code: confirmCode(codeKey, claims.jti) };
    },

    async decide(token, form) {
      const claims = await claimsOf(token);
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const { request, grant } = await decidable(claims);
        if (!codeMatches(confirmCode(codeKey, claims.jti), form.confirm ?? '')) {
          // Every wrong code is counted on the request before the answer, so guessing cannot outrun the lock.
          const failures = (request.codeFailures[claims.jti] ?? 0) + 1;
          const counted = await store.swap(request, {
            ...request,
            codeFailures: { ...request.codeFailures, [claims.jti]: failures },
          });
          if (!counted) continue;
          const left = MAX_CODE_FAILURES - failures;
          throw new AirlockError(
            left > 0 ? 'invalid_request' : 'gone',
            left > 0
              ? `the confirmation code does not match the one on the page; nothing was decided (${left} ${left === 1 ? 'try' : 'tries'} left on this link)`
              : `the confirmation code does not match, and this link is now locked after ${MAX_CODE_FAILURES} wrong codes; nothing was decided`,
          );
        }
        const decision: ApprovalDecision = {
          approver: claims.approver,
          decision: form.decision === 'approve' ? 'approved' : 'denied',
          at: iso(now()),
          ...(form.reason ? { reason: form.reason } : {}),
        };
        const written = await record(request, claims, decision);
        if (written) return follow(written, grant, decision);
      }
      throw new AirlockError('unavailable', 'too many decisions at once; try again');
    },
  };
}
