// What bench/run.ts and a broker process (bench/broker.ts) say to each other over IPC: the broker's
// configuration and the few commands HTTP cannot carry. Carries no secret: the broker reads the secrets file.

import type { QueryPhase } from '../shared/query/index.ts';

/** `hot-path`: Airlock as built. `sdk`: every store call through the SDK. `grant-cache`: SDK, bench-only, unsafe. */
export type BrokerVariant = 'sdk' | 'hot-path' | 'grant-cache';

export interface BrokerConfig {
  port: number;
  policyPath: string;
  secretsPath: string;
  storeEndpoint: string;
  /** Each broker has its own tables and role prefix, so one broker's sweeper never touches another's roles. */
  tablePrefix: string;
  rolePrefix: string;
  wsProxy: string;
  dataDir: string;
  variant: BrokerVariant;
}

export type BrokerRequest =
  | { cmd: 'phases' }
  | { cmd: 'advance'; seconds: number }
  | { cmd: 'sweep' }
  | { cmd: 'statuses'; subject: string; ids: string[] };

export type BrokerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

export interface PhaseTotals {
  /** Calls of the profile hook (parse is recorded twice per statement: parse, then guard). */
  records: number;
  cpuUs: number;
  wallMs: number;
}

export interface PhaseReport {
  phases: Partial<Record<QueryPhase, PhaseTotals>>;
  profileCostUs: number;
}
