import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// Three tiers: `unit` needs no embedded service and runs in seconds (`npm run test:unit`); `integration` runs
// against one real local infrastructure (embedded Postgres, dynalite, the WebSocket proxy) started by the global
// setup; `slow` is the same infrastructure for whole-process and load tests. The store-facing suites run again on
// Amazon's DynamoDB Local (Java), which has TTL and Amazon's own validation. One Postgres serves every project.

/** Pure logic: parser, guard, policy, masking strategies, tokens, IAM, architecture. No database, no store. */
export const UNIT = [
  'test/architecture/**/*.test.ts',
  'test/sql/**/*.test.ts',
  'test/policy/**/*.test.ts',
  'test/identity/**/*.test.ts',
  'test/masking/plan.test.ts',
  'test/masking/strategies.test.ts',
  'test/masking/detectors.test.ts',
  'test/approvals/link.test.ts',
  'test/approvals/mail.test.ts',
  'test/deploy/permissions.test.ts',
  'test/deploy/keys.test.ts',
  'test/deploy/wsproxy.test.ts',
  'test/cli/**/*.test.ts',
  'test/http/connections.test.ts',
  'test/**/*.unit.test.ts',
];

/** Whole processes, browsers, bundles and load: the same infrastructure, run last. */
export const SLOW = [
  'test/load/**/*.test.ts',
  'test/cli/cli.test.ts',
  'test/faults/**/*.test.ts',
  'test/local/start.test.ts',
  'test/deploy/bundles.test.ts',
  'test/approvals/browser.test.ts',
  'test/**/*.slow.test.ts',
];

/**
 * The slow tier first: its files take up to a minute or more each, so they start at once and the many short files
 * fill the other worker around them (last, they left one worker idle for minutes). Otherwise vitest's own order.
 */
class SlowTierFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => (file.project.name === 'slow' ? 0 : 1);
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

const STORE_SUITES = ['test/store/**/*.test.ts', 'test/grants/**/*.test.ts', 'test/audit/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    maxWorkers: 2,
    sequence: { sequencer: SlowTierFirst },
    projects: [
      // Pure modules: one module graph per worker (no per-file isolation) keeps the tier to seconds.
      { extends: true, test: { name: 'unit', include: UNIT, exclude: SLOW, isolate: false } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...UNIT, ...SLOW],
          globalSetup: ['test/global-setup.ts'],
          // Each file starts its own Airlock on names of its own: the modules (SDK, parser) load once per worker.
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'dynamodb-local',
          include: STORE_SUITES,
          exclude: UNIT,
          globalSetup: ['test/global-setup.ts'],
          isolate: false,
          env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AIRLOCK_TEST_STORE: 'dynamodb-local' },
        },
      },
      { extends: true, test: { name: 'slow', include: SLOW, globalSetup: ['test/global-setup.ts'] } },
    ],
  },
});
