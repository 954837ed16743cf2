import { defineConfig } from 'vitest/config';

// Everything runs on dynalite (what `npm start` uses); the store-facing suites run again on Amazon's
// DynamoDB Local (Java), which has TTL and Amazon's own validation. One Postgres serves both projects.
const STORE_SUITES = ['test/store/**/*.test.ts', 'test/grants/**/*.test.ts', 'test/audit/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'dynalite', include: ['test/**/*.test.ts'], globalSetup: ['test/global-setup.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'dynamodb-local',
          include: STORE_SUITES,
          globalSetup: ['test/global-setup.ts'],
          env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AIRLOCK_TEST_STORE: 'dynamodb-local' },
        },
      },
    ],
  },
});
