// The DynamoDB tables Airlock needs, as plain data: the local stack creates them from this, and the
// SST stack declares the same keys and indexes from it. Never add an index in one place only.

export interface TableDefinition {
  /** Logical name; the physical name is given by configuration (stage prefix in AWS). */
  key: 'grants' | 'audit' | 'approvals' | 'exports' | 'locks';
  hashKey: string;
  rangeKey?: string;
  attributes: Record<string, 'S' | 'N'>;
  indexes: Array<{ name: string; hashKey: string; rangeKey?: string }>;
  /** TTL attribute (epoch seconds); DynamoDB deletes expired items late, so code never relies on it. */
  ttl?: string;
  /** A DynamoDB stream of new items (AWS only: the audit export reads it; locally a loop reads the table). */
  stream?: 'new-image';
}

export const TABLES: Record<TableDefinition['key'], TableDefinition> = {
  grants: {
    key: 'grants',
    hashKey: 'id',
    attributes: { id: 'S', subject: 'S', requestedAt: 'S', sweep: 'S', dueAt: 'S', status: 'S', connection: 'S' },
    indexes: [
      { name: 'bySubject', hashKey: 'subject', rangeKey: 'requestedAt' },
      // Sparse: only pending and active grants carry `sweep`, keyed by when the sweeper must act.
      { name: 'byDue', hashKey: 'sweep', rangeKey: 'dueAt' },
      // Operator reads, newest first: live grants (pending, active) are a small partition each.
      { name: 'byStatus', hashKey: 'status', rangeKey: 'requestedAt' },
      { name: 'byConnection', hashKey: 'connection', rangeKey: 'requestedAt' },
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
    stream: 'new-image',
  },
  approvals: {
    key: 'approvals',
    hashKey: 'id',
    attributes: { id: 'S', unnotified: 'S', createdAt: 'S', awaiting: 'S', deadline: 'S' },
    indexes: [
      // Sparse: holds the query side recorded and nobody has emailed yet; the API side sends them.
      { name: 'byUnnotified', hashKey: 'unnotified', rangeKey: 'createdAt' },
      // Sparse: requests still waiting for a decision, by deadline, for the operators' list.
      { name: 'byAwaiting', hashKey: 'awaiting', rangeKey: 'deadline' },
    ],
    ttl: 'ttl',
  },
  exports: {
    key: 'exports',
    // Per sink: `grant#<id>` items hold the last seq the sink acknowledged, `position` the local loop's read time.
    hashKey: 'sink',
    rangeKey: 'part',
    attributes: { sink: 'S', part: 'S' },
    indexes: [],
    ttl: 'ttl',
  },
  locks: {
    key: 'locks',
    // One partition for every lock: a grant request reads them all with one strongly consistent Query.
    hashKey: 'partition',
    rangeKey: 'id',
    attributes: { partition: 'S', id: 'S' },
    indexes: [],
    ttl: 'ttl',
  },
};

export type TableNames = Record<TableDefinition['key'], string>;
