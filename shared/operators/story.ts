// A grant's audit chain and the verdict on it, read in one place so every front door shows the same verdict.
// Must never call a chain verified that it has not checked from its first event.

import { type AuditEvent, type AuditLog, verifyChain } from '../audit/index.ts';

export interface ChainVerdict {
  verified: boolean;
  /** Why it does not verify, in words for people. */
  reason?: string;
}

export async function readChain(
  audit: Pick<AuditLog, 'list'>,
  grantId: string,
): Promise<{ events: AuditEvent[]; verdict: ChainVerdict }> {
  const events = await audit.list(grantId);
  const verified = verifyChain(events);
  return {
    events,
    verdict: verified
      ? { verified }
      : { verified, reason: 'an event was changed, removed or reordered: its hashes no longer chain' },
  };
}
