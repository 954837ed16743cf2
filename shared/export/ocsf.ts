// Audit events as OCSF 1.6.0 events: statements are Datastore Activity (6005), the grant lifecycle is
// API Activity (6003). Must never add anything the audit event does not hold (no SQL beyond normalizedSql).

import type { AuditEvent, AuditEventOf } from '../audit/index.ts';

export const OCSF_VERSION = '1.6.0';
const APPLICATION_CATEGORY = 6;
export const API_ACTIVITY = 6003;
export const DATASTORE_ACTIVITY = 6005;

/** What the exporter knows about a grant beyond the event (from its `grant.requested` event). */
export interface GrantContext {
  connection?: string;
}

const STATUS = { success: 1, failure: 2, other: 99 } as const;
const SEVERITY = { informational: 1, low: 2, medium: 3 } as const;

/** Datastore Activity ids: 1 Read … 4 Query, 5 Write, 2 Update, 7 Delete, 99 Other, 0 Unknown. */
function datastoreActivity(kind: unknown): { id: number; name: string } {
  switch (kind) {
    case 'select':
      return { id: 4, name: 'Query' };
    case 'insert':
    case 'copy':
      return { id: 5, name: 'Write' };
    case 'update':
    case 'merge':
      return { id: 2, name: 'Update' };
    case 'delete':
    case 'truncate':
      return { id: 7, name: 'Delete' };
    case null:
    case undefined:
      return { id: 0, name: 'Unknown' };
    default:
      return { id: 99, name: String(kind) };
  }
}

/** API Activity ids for the grant lifecycle: 1 Create, 3 Update, 4 Delete. */
const API_ACTIVITIES: Record<string, { id: number; name: string }> = {
  'grant.requested': { id: 1, name: 'Create' },
  'grant.approved': { id: 3, name: 'Update' },
  'grant.denied': { id: 3, name: 'Update' },
  'grant.activated': { id: 3, name: 'Update' },
  'grant.revoked': { id: 4, name: 'Delete' },
  'grant.expired': { id: 4, name: 'Delete' },
  'statement.approved': { id: 3, name: 'Update' },
  'statement.denied': { id: 3, name: 'Update' },
  'lock.created': { id: 1, name: 'Create' },
  'lock.lifted': { id: 4, name: 'Delete' },
};

/** Fields of the audit event that the OCSF event carries in its own attributes; the rest go to `unmapped`. */
const MAPPED = new Set(['id', 'at', 'type', 'requestId']);

export function toOcsf(event: AuditEvent, context: GrantContext = {}): Record<string, unknown> {
  const time = Date.parse(event.at);
  const requestId = typeof event.requestId === 'string' ? event.requestId : undefined;
  const actorName = 'by' in event && typeof event.by === 'string' ? event.by : event.subject;
  const base = {
    category_uid: APPLICATION_CATEGORY,
    category_name: 'Application Activity',
    time,
    metadata: {
      version: OCSF_VERSION,
      product: { name: 'Airlock', vendor_name: 'Airlock' },
      uid: event.id,
      original_time: event.at,
      event_code: event.type,
      log_name: 'audit',
      ...(requestId ? { correlation_uid: requestId } : {}),
    },
    actor:
      actorName === 'sweeper' || actorName === 'airlock'
        ? { app_name: 'airlock' }
        : { user: { uid: actorName, name: actorName } },
    // Airlock's audit keeps no client address: the activity is seen at Airlock's own API.
    src_endpoint: { svc_name: 'airlock' },
    unmapped: Object.fromEntries(Object.entries(event).filter(([key]) => !MAPPED.has(key))),
  };
  if (event.type === 'statement') return statementEvent(event, base, context);
  const activity = API_ACTIVITIES[event.type] ?? { id: 99, name: event.type };
  return {
    ...base,
    class_uid: API_ACTIVITY,
    class_name: 'API Activity',
    activity_id: activity.id,
    activity_name: activity.name,
    type_uid: API_ACTIVITY * 100 + activity.id,
    severity_id: SEVERITY.informational,
    status_id: STATUS.success,
    status: 'Success',
    message: `${event.type} ${event.grantId}`,
    api: {
      operation: event.type,
      service: { name: 'airlock' },
      ...(requestId ? { request: { uid: requestId } } : {}),
    },
    resources: [{ uid: event.grantId, type: 'grant', ...(context.connection ? { name: context.connection } : {}) }],
  };
}

function statementEvent(
  event: AuditEventOf<'statement'>,
  base: Record<string, unknown>,
  context: GrantContext,
): Record<string, unknown> {
  const activity = datastoreActivity(event.kind);
  const decision = event.decision;
  const code = event.error?.code;
  const tables = event.tables;
  const normalized = event.normalizedSql ?? undefined;
  return {
    ...base,
    class_uid: DATASTORE_ACTIVITY,
    class_name: 'Datastore Activity',
    activity_id: activity.id,
    activity_name: activity.name,
    type_uid: DATASTORE_ACTIVITY * 100 + activity.id,
    severity_id:
      decision === 'blocked' ? SEVERITY.medium : decision === 'executed' ? SEVERITY.informational : SEVERITY.low,
    status_id: decision === 'executed' ? STATUS.success : decision === 'held' ? STATUS.other : STATUS.failure,
    status: decision,
    ...(code ? { status_code: code } : {}),
    message: `statement ${decision}${code ? ` (${code})` : ''}`,
    // The connection is the database as the policy names it; the grant's role is Airlock's, not the agent's.
    database: { name: context.connection ?? 'unknown', type_id: 1, type: 'Relational' },
    ...(tables[0] ? { table: { name: tables[0] } } : {}),
    ...(normalized
      ? {
          query_info: {
            query_string: normalized,
            ...(typeof event.fingerprint === 'string' ? { uid: event.fingerprint } : {}),
          },
        }
      : {}),
    type_id: 1,
    type: 'Database',
  };
}
