// Delivers audit events to one sink: in order (per grant by seq, across grants by time), at least once,
// skipping what the sink already acknowledged and filling gaps from the audit log. Never drops an event:
// a batch that fails stops the sink there, and the next delivery starts again from that batch.

import type { AuditEvent } from '../audit/index.ts';
import type { Metrics } from '../observe/index.ts';
import { describeCause, type Logger } from '../observe/index.ts';
import type { ExportCursors } from './cursors.ts';
import { type GrantContext, toOcsf } from './ocsf.ts';
import type { Sink } from './sinks.ts';

/** Reads a grant's whole chain, in seq order (AuditLog.list): gaps are filled from it. */
export interface AuditChains {
  list(grantId: string): Promise<AuditEvent[]>;
}

export interface RetryPolicy {
  /** Sends of one batch before the delivery gives up for now (default 4). */
  attempts: number;
  /** Wait before the second attempt, doubled each time (default 500 ms). */
  baseMs: number;
  /** Longest wait between attempts (default 8 s). */
  maxMs: number;
}

export interface SinkExporterOptions {
  sink: Sink;
  cursors: ExportCursors;
  audit: AuditChains;
  logger: Logger;
  metrics: Metrics;
  /** Grants' connections for OCSF records, shared by the sinks of a process. */
  grantContexts?: GrantContexts;
  retry?: Partial<RetryPolicy>;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export interface DeliveryReport {
  sink: string;
  ok: boolean;
  /** Events the sink acknowledged in this delivery. */
  delivered: number;
  /** Events it had already acknowledged before. */
  skipped: number;
  /** When not ok: the first event the sink has not acknowledged. */
  pendingFrom?: AuditEvent;
  /** The latest event time everything up to which was acknowledged (or already had been). */
  acknowledgedThrough?: string;
}

export interface SinkExporter {
  sink: Sink;
  /** `logger` replaces the exporter's for this delivery (e.g. one that names the Lambda request). */
  deliver(events: AuditEvent[], context?: { logger?: Logger }): Promise<DeliveryReport>;
}

export function createSinkExporter(options: SinkExporterOptions): SinkExporter {
  const { sink, cursors, audit, metrics } = options;
  const retry: RetryPolicy = { attempts: 4, baseMs: 500, maxMs: 8000, ...options.retry };
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const contexts = options.grantContexts ?? createGrantContexts(audit);
  // What this process knows the sink acknowledged; the store is asked for grants it has not seen.
  const acknowledged = new Map<string, number>();

  async function marksOf(grantIds: string[]): Promise<Map<string, number>> {
    const unknown = grantIds.filter((id) => !acknowledged.has(id));
    if (unknown.length > 0) {
      for (const [grantId, seq] of await cursors.delivered(sink.name, unknown)) acknowledged.set(grantId, seq);
    }
    return acknowledged;
  }

  /** The events still to send, per grant from its acknowledged seq on, with gaps read from the chain. */
  async function pending(events: AuditEvent[]): Promise<{ todo: AuditEvent[]; skipped: number }> {
    const byGrant = new Map<string, Map<number, AuditEvent>>();
    for (const event of events) {
      const chain = byGrant.get(event.grantId) ?? new Map<number, AuditEvent>();
      chain.set(event.seq, event);
      byGrant.set(event.grantId, chain);
    }
    const marks = await marksOf([...byGrant.keys()]);
    const todo: AuditEvent[] = [];
    let skipped = 0;
    for (const [grantId, chain] of byGrant) {
      const mark = marks.get(grantId);
      const seqs = [...chain.keys()].sort((a, b) => a - b);
      skipped += seqs.filter((seq) => mark !== undefined && seq <= mark).length;
      const fresh = seqs.filter((seq) => mark === undefined || seq > mark);
      if (fresh.length === 0) continue;
      // A grant the sink has seen must continue right after its mark: a gap is read from the chain.
      const from = mark ?? fresh[0]! - 1;
      const complete = fresh.every((seq, index) => seq === from + 1 + index);
      if (!complete) {
        for (const event of await audit.list(grantId)) {
          if (event.seq > from && event.seq <= fresh.at(-1)!) chain.set(event.seq, event);
        }
      }
      for (let seq = from + 1; seq <= fresh.at(-1)!; seq++) {
        const event = chain.get(seq);
        // Still missing from the chain itself: deliver up to the hole; the rest comes once it is readable.
        if (!event) break;
        todo.push(event);
      }
    }
    return { todo: inOrder(todo), skipped };
  }

  async function records(batch: AuditEvent[]): Promise<unknown[]> {
    if (sink.format === 'airlock') return batch;
    for (const event of batch) contexts.learn(event);
    return Promise.all(batch.map(async (event) => toOcsf(event, await contexts.of(event.grantId))));
  }

  async function send(batch: AuditEvent[]): Promise<unknown> {
    const body = await records(batch);
    let failure: unknown;
    for (let attempt = 1; attempt <= retry.attempts; attempt++) {
      try {
        await sink.send(body);
        return undefined;
      } catch (error) {
        failure = error;
        metrics.count('export_failures_total', { sink: sink.name });
        if (attempt < retry.attempts) await sleep(Math.min(retry.maxMs, retry.baseMs * 2 ** (attempt - 1)));
      }
    }
    return failure ?? new Error('not delivered');
  }

  return {
    sink,
    async deliver(events, context = {}) {
      const logger = context.logger ?? options.logger;
      const { todo, skipped } = await pending(events);
      let delivered = 0;
      let through = latest(events.filter((event) => (acknowledged.get(event.grantId) ?? 0) >= event.seq));
      for (let at = 0; at < todo.length; at += sink.batchSize) {
        const batch = todo.slice(at, at + sink.batchSize);
        const started = now().getTime();
        const failure = await send(batch);
        const lagSeconds = Math.max(0, (now().getTime() - Date.parse(batch[0]!.at)) / 1000);
        if (failure !== undefined) {
          metrics.gauge('export_lag_seconds', lagSeconds, { sink: sink.name });
          logger.error(
            { sink: sink.name, events: batch.length, first: batch[0]!.id, cause: describeCause(failure) },
            `export: sink ${sink.name} did not take ${batch.length} events; they are sent again from ${batch[0]!.id}`,
          );
          return {
            sink: sink.name,
            ok: false,
            delivered,
            skipped,
            pendingFrom: batch[0]!,
            acknowledgedThrough: through,
          };
        }
        await cursors.acknowledge(
          sink.name,
          batch.map((event) => ({ grantId: event.grantId, seq: event.seq, at: event.at })),
        );
        for (const event of batch)
          acknowledged.set(event.grantId, Math.max(acknowledged.get(event.grantId) ?? 0, event.seq));
        delivered += batch.length;
        through = latest([...batch, ...(through ? [{ at: through }] : [])]);
        metrics.count('export_events_total', { sink: sink.name }, batch.length);
        metrics.observe('export_delivery_seconds', lagSeconds, { sink: sink.name });
        logger.info(
          {
            sink: sink.name,
            events: batch.length,
            first: batch[0]!.id,
            last: batch.at(-1)!.id,
            lagSeconds: Math.round(lagSeconds * 1000) / 1000,
            durationMs: now().getTime() - started,
          },
          `export: ${batch.length} events to ${sink.name}`,
        );
      }
      metrics.gauge('export_lag_seconds', 0, { sink: sink.name });
      return { sink: sink.name, ok: true, delivered, skipped, acknowledgedThrough: through };
    },
  };
}

/** Per grant by seq, across grants by time: sorted by time, then each grant's events put back in seq order. */
export function inOrder(events: AuditEvent[]): AuditEvent[] {
  const sorted = [...events].sort(
    (a, b) => a.at.localeCompare(b.at) || a.grantId.localeCompare(b.grantId) || a.seq - b.seq,
  );
  // Clocks of two writers can disagree by a little: a grant's seq order wins over time order.
  const queues = new Map<string, AuditEvent[]>();
  for (const event of [...events].sort((a, b) => a.seq - b.seq)) {
    const queue = queues.get(event.grantId) ?? [];
    queue.push(event);
    queues.set(event.grantId, queue);
  }
  return sorted.map((slot) => queues.get(slot.grantId)!.shift()!);
}

function latest(events: Array<{ at: string }>): string | undefined {
  let max: string | undefined;
  for (const event of events) if (max === undefined || event.at > max) max = event.at;
  return max;
}

/** The connection of each grant, learned from its `grant.requested` event or read from its chain once. */
export interface GrantContexts {
  learn(event: AuditEvent): void;
  of(grantId: string): Promise<GrantContext>;
}

export function createGrantContexts(audit: AuditChains, max = 10_000): GrantContexts {
  const known = new Map<string, GrantContext>();
  const remember = (grantId: string, context: GrantContext) => {
    if (known.size >= max) known.delete(known.keys().next().value as string);
    known.set(grantId, context);
  };
  return {
    learn(event) {
      if (event.type === 'grant.requested') remember(event.grantId, { connection: event.connection });
    },
    async of(grantId) {
      const hit = known.get(grantId);
      if (hit) return hit;
      const first = (await audit.list(grantId).catch(() => []))[0];
      const context = first?.type === 'grant.requested' ? { connection: first.connection } : {};
      remember(grantId, context);
      return context;
    },
  };
}
