// Searching the audit log across grants for auditors: time-ordered, filtered, paged by the position of the
// last event returned. Must never change an event, nor return one outside the filters it was asked for.

import type { AuditEvent, AuditEventType, AuditLog } from '../audit/index.ts';

export interface AuditTimeQuery {
  since?: string;
  until?: string;
  after?: string;
  limit: number;
}

/** The audit log as this search reads it: one chain (`list`, `verify`), every chain in time order (`listByTime`). */
export type AuditTimeline = Pick<AuditLog, 'list' | 'listByTime' | 'verify'>;

/** Where a page ended: the last event it returned, in the timeline's order. */
export interface AuditPosition {
  at: string;
  grantId: string;
  seq: number;
}

export interface AuditSearch {
  /** At or after (ISO). */
  since?: string;
  /** Before (ISO). */
  until?: string;
  subject?: string;
  grantId?: string;
  type?: AuditEventType;
  /** A statement event's decision (executed, blocked, held, failed). */
  decision?: string;
  after?: AuditPosition;
  limit: number;
}

export interface AuditSearchPage {
  events: AuditEvent[];
  next?: AuditPosition;
}

/** Events read from the timeline per call; a sparse filter reads several pages before it answers. */
const TIMELINE_PAGE = 200;
/** Events examined per search at most; past that the page is shorter and `next` continues from there. */
const MAX_EXAMINED = 5000;

const positionOf = (event: AuditEvent): AuditPosition => ({ at: event.at, grantId: event.grantId, seq: event.seq });

function isAfter(event: AuditEvent, position: AuditPosition): boolean {
  if (event.at !== position.at) return event.at > position.at;
  if (event.grantId !== position.grantId) return event.grantId > position.grantId;
  return event.seq > position.seq;
}

export async function searchAudit(audit: AuditTimeline, search: AuditSearch): Promise<AuditSearchPage> {
  const matches = (event: AuditEvent) =>
    (search.since === undefined || event.at >= search.since) &&
    (search.until === undefined || event.at < search.until) &&
    (search.subject === undefined || event.subject === search.subject) &&
    (search.type === undefined || event.type === search.type) &&
    (search.decision === undefined || (event.type === 'statement' && event.decision === search.decision));

  const found: AuditEvent[] = [];
  let examined: AuditEvent | undefined;
  /** Takes events in order until the page is full; true when the search is done. */
  const take = (events: AuditEvent[]): boolean => {
    for (const event of events) {
      if (search.after && !isAfter(event, search.after)) continue;
      if (found.length === search.limit) return true;
      examined = event;
      if (matches(event)) found.push(event);
    }
    return false;
  };
  const page = (more: boolean): AuditSearchPage => {
    const last = found.length === search.limit ? found.at(-1) : examined;
    return more && last ? { events: found, next: positionOf(last) } : { events: found };
  };

  if (search.grantId !== undefined) {
    const full = take(await audit.list(search.grantId));
    return page(full);
  }
  // Resume at the last position's instant: the timeline's own cursor is only followed within this call.
  const since = [search.since, search.after?.at]
    .filter((at): at is string => at !== undefined)
    .sort()
    .at(-1);
  let cursor: string | undefined;
  let count = 0;
  do {
    const batch = await audit.listByTime({
      ...(since !== undefined ? { since } : {}),
      ...(search.until !== undefined ? { until: search.until } : {}),
      ...(cursor !== undefined ? { after: cursor } : {}),
      limit: TIMELINE_PAGE,
    });
    if (take(batch.events)) return page(true);
    count += batch.events.length;
    cursor = batch.next;
  } while (cursor !== undefined && count < MAX_EXAMINED);
  return page(cursor !== undefined);
}
