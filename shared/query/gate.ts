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
  approvers: string[];
  required: number;
}

export type GateDecision =
  | { run: true; approvalId: string }
  | { run: false; approval: { id: string; status: 'pending' | 'denied' | 'expired' } };

export interface StatementGate {
  /** Consumes an approval for exactly this statement (once), or records and returns the hold. */
  admit(held: HeldStatement): Promise<GateDecision>;
}
