// What a caller could ask for: every connection and access the policy would grant or put to approvers,
// from the same `decide` dry run `airlock policy explain` tells. A pure function; it grants nothing.

import { decide, type Requester } from './decide.ts';
import type { Policy } from './schema.ts';

export interface RequestableAccess {
  access: string;
  /** `granted`: at once; `approval`: once the rule's approvers agree. */
  outcome: 'granted' | 'approval';
  /** The longest window the deciding rule gives (a longer request is clamped to it). */
  maxTtlSeconds: number;
  rule: string;
}

export interface RequestableConnection {
  name: string;
  accesses: RequestableAccess[];
}

/** Connections in policy order with the accesses `principal` would not be denied; a connection with none is left out. */
export function requestableConnections(policy: Policy, principal: Requester): RequestableConnection[] {
  const connections: RequestableConnection[] = [];
  for (const [name, connection] of Object.entries(policy.connections)) {
    const accesses: RequestableAccess[] = [];
    for (const access of Object.keys(connection.profiles)) {
      // The longest TTL there is: the deciding rule clamps it to its maxTtl.
      const decision = decide(policy, { connection: name, access, ttlSeconds: Number.MAX_SAFE_INTEGER }, principal);
      if (decision.outcome === 'denied') continue;
      accesses.push({
        access,
        outcome: decision.outcome,
        maxTtlSeconds: decision.ttlSeconds,
        rule: decision.rule.name,
      });
    }
    if (accesses.length) connections.push({ name, accesses });
  }
  return connections;
}
