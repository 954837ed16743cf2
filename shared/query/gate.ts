// The seam between the query path and human approval of single statements: a held statement is
// bound to its grant, fingerprint and parameters hash, and runs only once a human approved exactly it.

import type { GrantRecord } from '../grants/index.ts';
import type { ParsedStatement } from '../sql/index.ts';

export interface HeldStatement {
  grant: GrantRecord;
  statement: ParsedStatement;
  /** Keyed hash of the exact statement text and its parameters: approving one DELETE does not approve another. */
  paramsHash: string;
  /** The bound parameters, so approvers see what they approve (masked where they meet masked columns). */
  params?: readonly unknown[];
  guardrail: string;
  reason: string;
  /** Rows the statement changed when Airlock ran it in a savepoint and rolled it back (held by its effect). */
  measuredRows?: number;
  approvers: string[];
  required: number;
}

export type GateDecision =
  | { run: true; approvalId: string }
  | { run: false; approval: { id: string; status: 'pending' | 'denied' | 'expired' } };

export interface AdmitOptions {
  /**
   * Consume the approval (once); default true. False only looks: a request whose other statements may still be held
   * or refused spends its approvals only once every statement is cleared.
   */
  spend?: boolean;
}

export interface StatementGate {
  /** An approval for exactly this statement (consumed unless `spend` is false), or the hold, recorded and returned. */
  admit(held: HeldStatement, options?: AdmitOptions): Promise<GateDecision>;
}
