// Planning a request: parse each statement with the real parser, judge it (built-ins, access, guardrails), and
// hold what a guardrail sends to humans. Either every statement may run, or none does and the culprit is named.

import { createHmac } from 'node:crypto';
import type { QueryBody } from '../api/index.ts';
import { AirlockError, isAirlockError } from '../errors.ts';
import type { GrantRecord } from '../grants/index.ts';
import { expandApprovers, type Policy, type Profile } from '../policy/index.ts';
import { checkStatement, type ParsedStatement, parseOne } from '../sql/index.ts';
import type { StatementGate } from './gate.ts';

/** A statement cleared to run. */
export interface Statement {
  sql: string;
  params: unknown[];
  parsed: ParsedStatement;
  /** The approval it consumed, when a guardrail held it and a human approved exactly it. */
  approvalId?: string;
}

/** A statement of the request as far as it got: parsed or not. */
export interface Attempt {
  sql: string;
  params: unknown[];
  parsed?: ParsedStatement;
}

export type Plan =
  | { kind: 'run'; statements: Statement[] }
  | {
      kind: 'refused';
      attempts: Attempt[];
      culprit: number;
      error: AirlockError;
      decision: 'blocked' | 'held';
      guardrail?: string;
      approval?: { id: string; status: 'pending' | 'denied' | 'expired' };
    };

export interface PlanContext {
  policy: Policy;
  profile: Profile;
  gate: StatementGate;
  /** Keys the binding of a held statement to its exact text and parameters. */
  bindingKey: string;
}

export async function planRequest(grant: GrantRecord, body: QueryBody, context: PlanContext): Promise<Plan> {
  const items = 'transaction' in body ? body.transaction : [body];
  const attempts: Attempt[] = items.map((item) => ({ sql: item.sql, params: item.params ?? [] }));
  for (const [index, attempt] of attempts.entries()) {
    try {
      attempt.parsed = await parseOne(attempt.sql);
    } catch (error) {
      if (!isAirlockError(error) || error.code === 'unavailable') throw error;
      return { kind: 'refused', attempts, culprit: index, error, decision: 'blocked' };
    }
  }
  const statements = attempts as Array<Attempt & { parsed: ParsedStatement }>;

  const { policy, profile } = context;
  const approvals: Array<string | undefined> = [];
  for (const [index, statement] of statements.entries()) {
    const verdict = checkStatement(statement.parsed, {
      readOnly: profile.readOnly,
      guardrails: policy.guardrails,
      allow: profile.allow,
    });
    if (verdict.action === 'block') {
      const error = new AirlockError('statement_blocked', verdict.reason, { guardrail: verdict.guardrail });
      return { kind: 'refused', attempts, culprit: index, error, decision: 'blocked', guardrail: verdict.guardrail };
    }
    if (verdict.action === 'approve') {
      let admitted: Awaited<ReturnType<StatementGate['admit']>>;
      try {
        admitted = await context.gate.admit({
          grant,
          statement: statement.parsed,
          paramsHash: bindingHash(context.bindingKey, statement.parsed.sql, statement.params),
          params: statement.params,
          guardrail: verdict.guardrail,
          reason: verdict.reason,
          approvers: expandApprovers(verdict.approvers, policy.approverGroups),
          required: verdict.required,
        });
      } catch (error) {
        // Too many approval emails for this requester: refused (and audited) like any other block.
        if (!isAirlockError(error) || error.code !== 'rate_limited') throw error;
        return { kind: 'refused', attempts, culprit: index, error, decision: 'blocked', guardrail: verdict.guardrail };
      }
      if (!admitted.run) {
        const { approval } = admitted;
        const pending = approval.status === 'pending';
        const error = pending
          ? new AirlockError(
              'approval_required',
              `held for approval by guardrail "${verdict.guardrail}": a human must approve this exact statement; send it again once approved`,
              { guardrail: verdict.guardrail },
            )
          : new AirlockError('statement_blocked', `the approval for this statement was ${approval.status}`, {
              guardrail: verdict.guardrail,
            });
        return {
          kind: 'refused',
          attempts,
          culprit: index,
          error,
          decision: pending ? 'held' : 'blocked',
          guardrail: verdict.guardrail,
          approval,
        };
      }
      approvals[index] = admitted.approvalId;
    }
  }
  return {
    kind: 'run',
    statements: statements.map((statement, index) => ({
      ...statement,
      ...(approvals[index] ? { approvalId: approvals[index] } : {}),
    })),
  };
}

/** Binds the exact text too: fingerprints ignore literals, so `id = 1` and `id = 2` share one. */
function bindingHash(key: string, sql: string, params: unknown[]): string {
  return createHmac('sha256', key)
    .update(JSON.stringify([sql, params]))
    .digest('hex');
}
