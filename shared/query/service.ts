// The query path, as a table of contents: authenticate the grant token, plan (parse, guard, hold), execute in the
// grant's window (mask, audit before COMMIT). Nothing runs unaudited, unmasked rows never leave, and it fails closed.

import type { QueryBody, QueryResponse } from '../api/index.ts';
import type { AuditLog } from '../audit/index.ts';
import { AirlockError } from '../errors.ts';
import type { GrantRecord, GrantStore } from '../grants/index.ts';
import type { GrantTokenVerifierKeys } from '../identity/index.ts';
import { createCatalogCache } from '../masking/index.ts';
import type { Policy } from '../policy/index.ts';
import type { SessionPool } from '../postgres/index.ts';
import { textFingerprint } from '../sql/index.ts';
import { createAuthenticator } from './authenticate.ts';
import { auditedError, statementEvent } from './events.ts';
import { executeStatements } from './execute.ts';
import type { StatementGate } from './gate.ts';
import { type Plan, planRequest } from './plan.ts';
import { phaseTimer, type QueryProfile } from './profile.ts';
import { openWindow } from './window.ts';

export interface QueryServiceOptions {
  policy: Policy;
  store: Pick<GrantStore, 'get'>;
  audit: AuditLog;
  verifierKeys: GrantTokenVerifierKeys;
  /** Airlock's issuer (publicUrl): grant tokens must carry it. */
  issuer: string;
  roleKey: string;
  maskingKey: string;
  sessions: SessionPool;
  gate: StatementGate;
  /** Receives the CPU (µs) and wall time (ms) of each phase of a request: for benchmarks and tracing. */
  profile?: QueryProfile;
  now?: () => Date;
}

/** What a request came to: its results, or a statement held for a human (a normal outcome, not an error). */
export type QueryOutcome =
  | { status: 'executed'; response: QueryResponse }
  | { status: 'held'; message: string; guardrail: string; approval: { id: string; status: 'pending' } };

export type QueryService = ReturnType<typeof createQueryService>;

export function createQueryService(options: QueryServiceOptions) {
  const { policy, audit } = options;
  const now = options.now ?? (() => new Date());
  const phase = phaseTimer(options.profile);
  const authenticator = createAuthenticator({ ...options, now, phase });
  const execution = { ...options, authenticator, phase, catalog: createCatalogCache({ now }) };

  /** Refuses the request: one audit event per statement, the culprit named, nothing run. */
  async function refuse(grant: GrantRecord, plan: Extract<Plan, { kind: 'refused' }>): Promise<QueryOutcome> {
    const { attempts, culprit, error, decision } = plan;
    for (const [index, attempt] of attempts.entries()) {
      const own = index === culprit;
      await statementEvent(audit, grant, attempt.parsed, {
        // Text the parser rejected is correlated by a keyed hash, never kept.
        ...(attempt.parsed ? {} : { fingerprint: textFingerprint(attempt.sql, options.maskingKey) }),
        decision,
        error: own
          ? auditedError(error)
          : { code: error.code, message: 'another statement of the transaction was refused' },
        ...(own && plan.guardrail ? { guardrail: plan.guardrail } : {}),
        ...(own && plan.approval ? { approvalId: plan.approval.id } : {}),
      });
    }
    if (decision === 'held' && plan.approval?.status === 'pending') {
      return {
        status: 'held',
        message: error.message,
        guardrail: plan.guardrail ?? '',
        approval: { id: plan.approval.id, status: 'pending' },
      };
    }
    throw error;
  }

  return {
    /** The live grant behind a grant token (revocation and expiry take effect on the next request). */
    authenticate: (token: string) => authenticator.authenticate(token),

    /** The same liveness check for a grant its owner already read (MCP). */
    admit: (grant: GrantRecord) => authenticator.admit(grant),

    async run(grant: GrantRecord, body: QueryBody): Promise<QueryOutcome> {
      const profile = policy.connections[grant.connection]?.profiles[grant.access];
      if (!profile) throw new AirlockError('unavailable', 'the grant’s connection is not configured here');
      const plan = await phase('parse', () =>
        planRequest(grant, body, { policy, profile, gate: options.gate, bindingKey: options.maskingKey }),
      );
      if (plan.kind === 'refused') return refuse(grant, plan);
      const window = openWindow(grant, {
        statementTimeoutSeconds: policy.limits.statementTimeout,
        lockTimeoutSeconds: policy.limits.lockTimeout,
        now,
      });
      const results = await executeStatements(execution, grant, plan.statements, window);
      return { status: 'executed', response: 'transaction' in body ? { results } : results[0]! };
    },
  };
}
