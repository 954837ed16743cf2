// The DynamoDB tables Airlock needs, as plain data: the local stack creates them from this, and the
// SST stack declares the same keys and indexes from it. Never add an index in one place only.

export interface TableDefinition {
  /** Logical name; the physical name is given by configuration (stage prefix in AWS). */
  key: 'grants' | 'audit' | 'approvals';
  hashKey: string;
  rangeKey?: string;
  attributes: Record<string, 'S' | 'N'>;
  indexes: Array<{ name: string; hashKey: string; rangeKey?: string }>;
  /** TTL attribute (epoch seconds); DynamoDB deletes expired items late, so code never relies on it. */
  ttl?: string;
}

export const TABLES: Record<TableDefinition['key'], TableDefinition> = {
  grants: {
    key: 'grants',
    hashKey: 'id',
    attributes: { id: 'S', subject: 'S', requestedAt: 'S', sweep: 'S', dueAt: 'S' },
    indexes: [
      { name: 'bySubject', hashKey: 'subject', rangeKey: 'requestedAt' },
      // Sparse: only pending and active grants carry `sweep`, keyed by when the sweeper must act.
      { name: 'byDue', hashKey: 'sweep', rangeKey: 'dueAt' },
    ],
    ttl: 'ttl',
  },
  audit: {
    key: 'audit',
    hashKey: 'grantId',
    rangeKey: 'seq',
    attributes: { grantId: 'S', seq: 'N', tmonth: 'S', tkey: 'S' },
    indexes: [
      // Every grant's events in time order (listByTime): the event's UTC month, then `at#grantId#seq`.
      { name: 'byTime', hashKey: 'tmonth', rangeKey: 'tkey' },
    ],
  },
  approvals: {
    key: 'approvals',
    hashKey: 'id',
    attributes: { id: 'S', unnotified: 'S', createdAt: 'S' },
    indexes: [
      // Sparse: holds the query side recorded and nobody has emailed yet; the API side sends them.
      { name: 'byUnnotified', hashKey: 'unnotified', rangeKey: 'createdAt' },
    ],
    ttl: 'ttl',
  },
};

export type TableNames = Record<TableDefinition['key'], string>;
