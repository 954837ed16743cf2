// The `statement` audit events of the query path: one per statement Airlock was asked to run, whatever happened.
// Must never carry a literal, a parameter or a row value: only the normalized text and fingerprint the parser made.

import type { AuditDetails } from '../api/index.ts';
import type { AuditEvent, AuditLog } from '../audit/index.ts';
import type { AirlockError } from '../errors.ts';
import type { GrantRecord } from '../grants/index.ts';
import type { ParsedStatement } from '../sql/index.ts';

type StatementDetails = AuditDetails<'statement'>;

/** What an event says beyond the statement itself: its decision and outcome. */
export type Outcome = Pick<StatementDetails, 'decision'> & Partial<Omit<StatementDetails, 'decision'>>;

export function statementEvent(
  audit: AuditLog,
  grant: GrantRecord,
  statement: ParsedStatement | undefined,
  outcome: Outcome,
): Promise<AuditEvent> {
  return audit.append({
    grantId: grant.id,
    type: 'statement',
    subject: grant.subject,
    details: {
      fingerprint: statement?.fingerprint ?? null,
      normalizedSql: statement?.normalizedSql ?? null,
      kind: statement?.kind ?? null,
      tables: statement?.relations.map((r) => (r.schema ? `${r.schema}.${r.name}` : r.name)) ?? [],
      rowCount: null,
      durationMs: null,
      maskedColumns: [],
      ...outcome,
    },
  });
}

/** A refusal as the audit log keeps it: a parser message quotes the SQL near the error, so only where is kept. */
export function auditedError(error: AirlockError): NonNullable<StatementDetails['error']> {
  if (error.code === 'sql_syntax') {
    return { code: error.code, position: (error.details as { position?: number }).position ?? null };
  }
  return { code: error.code, message: error.message };
}
