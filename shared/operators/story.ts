// A grant's audit chain and the verdict on it, read in one place so every front door shows the same verdict.
// Must never call a chain verified that the audit log's own verification (keys and anchored head) did not pass.

import type { AuditEvent, AuditLog } from '../audit/index.ts';

export interface ChainVerdict {
  verified: boolean;
  /** Why it does not verify, in words for people. */
  reason?: string;
}

export async function readChain(
  audit: Pick<AuditLog, 'verify'>,
  grantId: string,
): Promise<{ events: AuditEvent[]; verdict: ChainVerdict }> {
  const { events, verified, reason } = await audit.verify(grantId);
  return { events, verdict: verified ? { verified } : { verified, reason: reason ?? 'the chain does not verify' } };
}
