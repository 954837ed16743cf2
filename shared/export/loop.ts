// The local audit export: a loop per sink that reads the audit log in time order from where the sink stands
// and hands it to the sink's exporter. It only reads the audit log, so it never holds up a query; a sink that
// is down is retried with backoff from the same place, while the other sinks go on.

import type { AuditEvent } from '../audit/index.ts';
import { describeCause, type Logger } from '../observe/index.ts';
import type { ExportCursors } from './cursors.ts';
import type { SinkExporter } from './exporter.ts';

/** The audit log read in time order across grants, with an opaque page cursor (`after`/`next`). */
export interface AuditTimeline {
  listByTime(query: {
    since?: string;
    until?: string;
    after?: string;
    limit: number;
  }): Promise<{ events: AuditEvent[]; next?: string }>;
}

export interface ExportLoopOptions {
  timeline: AuditTimeline;
  exporters: SinkExporter[];
  cursors: ExportCursors;
  logger: Logger;
  /** Time between reads when a sink is caught up (default 1 s). */
  intervalMs?: number;
  /** Events younger than this are left for the next read: one appended a moment ago may not be visible yet (default 1 s). */
  settleMs?: number;
  /** Each read goes this far back before the sink's position, so an event that became visible late is still seen (default 10 s). */
  overlapMs?: number;
  /** Events per read (default 500). */
  pageSize?: number;
  /** Most events handed to a sink per round (default 2000). */
  maxPerRound?: number;
  /** Longest wait after failures before a sink is tried again (default 60 s). */
  maxBackoffMs?: number;
  now?: () => Date;
}

export interface ExportLoop {
  /** One round for every sink, now (tests, and shutdown). */
  runOnce(): Promise<void>;
  /** Stops the loop after the round in progress. */
  stop(): Promise<void>;
}

const EPOCH = '1970-01-01T00:00:00.000Z';

export function startExportLoop(options: ExportLoopOptions): ExportLoop {
  const intervalMs = options.intervalMs ?? 1000;
  const settleMs = options.settleMs ?? 1000;
  const overlapMs = options.overlapMs ?? 10_000;
  const pageSize = options.pageSize ?? 500;
  const maxPerRound = options.maxPerRound ?? 2000;
  const maxBackoffMs = options.maxBackoffMs ?? 60_000;
  const now = options.now ?? (() => new Date());
  const state = new Map(options.exporters.map((exporter) => [exporter, { failures: 0, notBefore: 0 }]));
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;

  async function round(exporter: SinkExporter): Promise<void> {
    const sink = exporter.sink.name;
    const status = state.get(exporter)!;
    if (Date.now() < status.notBefore) return;
    try {
      const position = (await options.cursors.position(sink)) ?? EPOCH;
      const since = new Date(Math.max(0, Date.parse(position) - overlapMs)).toISOString();
      const until = new Date(now().getTime() - settleMs).toISOString();
      const events: AuditEvent[] = [];
      let fresh = 0;
      let after: string | undefined;
      // The overlap before the position is read again in full (the sink's marks skip it); only events past
      // the position count toward a round, so a busy overlap can never stop the loop from moving on.
      do {
        const page = await options.timeline.listByTime({ since, until, limit: pageSize, ...(after ? { after } : {}) });
        events.push(...page.events);
        fresh += page.events.filter((event) => event.at > position).length;
        after = page.next;
      } while (after && fresh < maxPerRound);
      const report = await exporter.deliver(events);
      // The position only passes what the sink has: never the first event it did not take.
      const through = report.acknowledgedThrough;
      if (through && through > position && (report.ok || through < report.pendingFrom!.at))
        await options.cursors.setPosition(sink, through);
      if (report.ok) {
        status.failures = 0;
        status.notBefore = 0;
        return;
      }
      backoff(status);
    } catch (error) {
      // The store or the audit log could not be read: the same round is tried again later.
      options.logger.error(
        { sink, cause: describeCause(error) },
        `export: the audit log or the export cursors could not be read for sink ${sink}; retrying`,
      );
      backoff(status);
    }
  }

  function backoff(status: { failures: number; notBefore: number }) {
    status.failures++;
    status.notBefore = Date.now() + Math.min(maxBackoffMs, 1000 * 2 ** (status.failures - 1));
  }

  const runOnce = () => {
    running = running.then(() => Promise.all(options.exporters.map(round)).then(() => undefined));
    return running;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void runOnce().finally(schedule), intervalMs);
    timer.unref();
  };
  schedule();

  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
