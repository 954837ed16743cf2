// Wraps the audit log: every event a request causes carries its requestId, and events become metrics.
// Must never change what the caller asked to append beyond adding `requestId`, nor swallow a failure.

import type { AuditAppend, AuditEvent, AuditLog } from '../audit/index.ts';
import { type Metrics, noMetrics } from './metrics.ts';
import { currentRequestId, noteActor } from './request.ts';

const DECISIONS = new Set(['executed', 'blocked', 'held', 'failed']);

export function observeAuditLog<L extends AuditLog>(log: L, options: { metrics?: Metrics } = {}): L {
  const metrics = options.metrics ?? noMetrics;
  return {
    ...log,
    async append(event: AuditAppend): Promise<AuditEvent> {
      noteActor({ subject: event.subject, grantId: event.grantId });
      const requestId = currentRequestId();
      const appended = await log.append(
        requestId && event.details?.requestId === undefined
          ? ({ ...event, details: { ...event.details, requestId } } as AuditAppend)
          : event,
      );
      countEvent(metrics, appended);
      return appended;
    },
  };
}

function countEvent(metrics: Metrics, event: AuditEvent): void {
  switch (event.type) {
    case 'statement': {
      const decision = typeof event.decision === 'string' && DECISIONS.has(event.decision) ? event.decision : 'other';
      metrics.count('statements_total', { decision });
      if (typeof event.durationMs === 'number')
        metrics.observe('statement_duration_seconds', event.durationMs / 1000, { decision });
      return;
    }
    case 'grant.requested':
      metrics.count('grants_total', { outcome: 'requested' });
      if (event.needsApproval === true) metrics.count('grants_total', { outcome: 'pending' });
      return;
    case 'grant.activated':
      metrics.count('grants_total', { outcome: 'granted' });
      return;
    case 'grant.denied':
      metrics.count('grants_total', { outcome: 'denied' });
      return;
    case 'grant.expired':
      metrics.count('grants_total', { outcome: 'expired' });
      return;
    case 'grant.revoked':
      metrics.count('revocations_total', {});
      return;
  }
}
