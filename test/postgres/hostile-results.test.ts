// Results built to crash the process or exhaust its memory, run in a child process as a read grant's role against the
// embedded Postgres: the child must live, answer with a truncated result or a refusal, and stay within its memory bound.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseTarget } from '../../shared/postgres/driver.ts';
import { wire } from '../support/infra.ts';
import { createTestRoles } from './grant-roles.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/hostile-results.ts', import.meta.url));
const roles = createTestRoles();
let target: DatabaseTarget;

beforeAll(async () => {
  const {
    grantId: _grantId,
    expiresAt: _expiresAt,
    maxSessions: _maxSessions,
    ...login
  } = await (await roles.mint('read', 20)).target();
  target = login;
});

afterAll(() => roles.revokeAll());

interface ChildOutcome {
  exitCode: number | null;
  report: Record<string, unknown> | undefined;
  stderr: string;
}

function runScenario(scenario: string, env: Record<string, string> = {}): Promise<ChildOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, scenario], {
      env: {
        ...process.env,
        AIRLOCK_WIRE_TARGET: JSON.stringify(target),
        AIRLOCK_WIRE_OPTIONS: JSON.stringify(wire()),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (exitCode) => {
      const line = stdout.trim().split('\n').pop();
      resolve({ exitCode, report: line ? (JSON.parse(line) as Record<string, unknown>) : undefined, stderr });
    });
  });
}

// Building a 600 MB value costs Postgres tens of seconds on a busy two-core machine: these tests get minutes.
describe('a result built to take the process down', { timeout: 300_000 }, () => {
  it("SELECT repeat('x', 600000000): the process lives, the answer is truncated or refused, the next session works", async () => {
    const { exitCode, report, stderr } = await runScenario('oversized-row');
    expect(exitCode, stderr).toBe(0);
    // The executor keeps nothing of the row (it passes the 8 MiB cap) and cuts the session rather than read 600 MB.
    expect(report?.viaExecutor).toEqual({ rows: 0, truncated: true, sessionLost: true });
    // The driver's own query path is refused at the guard's per-message limit: the session is lost, the process is not.
    expect(report?.viaQuery).toEqual({ refused: 'no code' });
    expect(report?.lost).toEqual([true, true]);
    expect(report?.nextSession).toEqual([[1]]);
    expect(report?.growthMiB as number).toBeLessThan(64);
  });
});

describe('results built to exhaust memory', { timeout: 300_000 }, () => {
  it("16 concurrent SELECT repeat('x', 8000000) FROM generate_series(1, 100): truncated at the cap, memory bounded", async () => {
    const { exitCode, report, stderr } = await runScenario('concurrent-large-rows');
    expect(exitCode, stderr).toBe(0);
    const concurrency = report?.concurrency as number;
    expect(concurrency).toBe(16);
    // One 8,000,011-byte row fits the 8 MiB cap; the second would not.
    expect(report?.rows).toEqual(Array(concurrency).fill(1));
    expect(report?.lengths).toEqual(Array(concurrency).fill(8_000_000));
    expect(report?.truncated).toEqual(Array(concurrency).fill(true));
    // Per request: the kept rows (at most the cap) and the one row being gathered (at most the cap); plus slack for
    // garbage not yet collected. Before the guard each of these requests buffered all 100 rows: ~800 MiB.
    const bound = concurrency * 2 * (report?.capMiB as number) + 128;
    expect(report?.growthMiB as number).toBeLessThan(bound);
  });
});
