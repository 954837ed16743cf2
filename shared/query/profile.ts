// Where a request's time goes on the query path: an OpenTelemetry span per phase, and an optional recorder for
// benchmarks. Costs a no-op span when no tracer is registered and no recorder is given.

import { withSpan } from '../observe/index.ts';

export type QueryPhase = 'auth' | 'grant' | 'parse' | 'execute' | 'mask' | 'audit';

export interface QueryProfile {
  /** The CPU (µs) and wall time (ms) of one phase of one request. */
  record(phase: QueryPhase, cpuMicros: number, wallMs: number): void;
}

/** Runs one phase of a request, timing it when a profile is given. */
export type Phase = <T>(name: QueryPhase, work: () => T | Promise<T>) => Promise<T>;

export function phaseTimer(profile: QueryProfile | undefined): Phase {
  if (!profile) return (name, work) => withSpan(`query.${name}`, work);
  return (name, work) =>
    withSpan(`query.${name}`, async () => {
      const cpu = process.cpuUsage();
      const started = performance.now();
      try {
        return await work();
      } finally {
        const used = process.cpuUsage(cpu);
        profile.record(name, used.user + used.system, performance.now() - started);
      }
    });
}
