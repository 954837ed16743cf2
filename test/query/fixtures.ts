// What the query tests share: the shared harness (test/support/stack.ts) and the policies these suites use.

import { AUTO_WRITE_POLICY, editPolicy } from '../support/stack.ts';

export {
  AUTO_WRITE_POLICY,
  adminQuery,
  auditTrail,
  expectStatementEvents,
  type OpenGrant,
  openGrant,
  ordersChecksum,
  query,
  type RawCustomer,
  rawValuesIn,
  type StatementEvent,
  seededCustomers,
  statementEvents,
  uniqueSchema,
  withLimits,
} from '../support/stack.ts';

const UNBOUNDED_CHANGE = `  - { name: unbounded-change,  statements: [update, delete], when: no-where, action: approve,
      approvers: [oncall@example.com] }`;

/** Like AUTO_WRITE_POLICY, but an UPDATE/DELETE without WHERE is blocked outright. */
export const BLOCK_UNBOUNDED_POLICY = editPolicy(
  AUTO_WRITE_POLICY,
  UNBOUNDED_CHANGE,
  '  - { name: no-unbounded-change, statements: [update, delete], when: no-where, action: block }',
);
