// Where a request's time goes on the query path: an optional recorder per phase, for benchmarks and tracing.
// Costs nothing when no recorder is given.

export type QueryPhase = 'auth' | 'grant' | 'parse' | 'execute' | 'mask' | 'audit';

export interface QueryProfile {
  /** The CPU (µs) and wall time (ms) of one phase of one request. */
  record(phase: QueryPhase, cpuMicros: number, wallMs: number): void;
}

/** Runs one phase of a request, timing it when a profile is given. */
export type Phase = <T>(name: QueryPhase, work: () => T | Promise<T>) => Promise<T>;

export function phaseTimer(profile: QueryProfile | undefined): Phase {
  if (!profile) return async (_name, work) => work();
  return async (name, work) => {
    const cpu = process.cpuUsage();
    const started = performance.now();
    try {
      return await work();
    } finally {
      const used = process.cpuUsage(cpu);
      profile.record(name, used.user + used.system, performance.now() - started);
    }
  };
}
