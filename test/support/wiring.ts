// The composition root's audit wiring, as the assembled app will have it once shared/http/airlock.ts (being
// moved) passes `chain`: the audit key from the query-keys secret, heads anchored on the grants table.
// A test file that checks it through the real app mocks the audit module with `keyedAuditModule`:
//   vi.mock('../../shared/audit/index.ts', async (original) => (await import('../support/wiring.ts')).keyedAuditModule(await original()));

import { readFileSync } from 'node:fs';
import type * as Audit from '../../shared/audit/index.ts';
import { SECRET_NAMES } from '../../shared/secrets/index.ts';
import { infra } from './infra.ts';

/** The audit key of the run's secrets file, as `readSecret(secrets, queryKeys)` gives it to the root. */
function auditKey(): string {
  const all = JSON.parse(readFileSync(infra().secretsPath, 'utf8')) as Record<string, { auditKey?: string }>;
  const key = all[SECRET_NAMES.queryKeys]?.auditKey;
  if (!key) throw new Error('the test secrets have no auditKey');
  return key;
}

export function keyedAuditModule(original: typeof Audit): typeof Audit {
  return {
    ...original,
    createDynamoAuditLog: (options) =>
      original.createDynamoAuditLog({
        ...options,
        // Test tables are named by localTableNames: `<prefix>-audit` beside `<prefix>-grants`.
        chain: options.chain ?? {
          key: auditKey(),
          anchor: original.createDynamoHeadAnchor({
            client: options.client,
            table: options.table.replace(/-audit$/, '-grants'),
          }),
        },
      }),
  };
}
