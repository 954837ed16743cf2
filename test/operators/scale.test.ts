// The kill switch at a realistic size: a subject with 20 live grants, each with an open database session.
// The lock must answer within 5 s with every grant revoked, every role dropped and every session cut.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { withLimits } from '../support/stack.ts';
import { expectTerminated, OPERATOR_POLICY, openRead, operator, person, roleExists, sessionAs } from './support.ts';

let stack: TestAirlock;
beforeAll(async () => {
  // One subject with 20 live grants: past the default quotas, which this test is not about.
  stack = await startTestAirlock({
    policyText: withLimits(
      OPERATOR_POLICY,
      'maxRows: 1000, statementTimeout: 30s, approvalTimeout: 1h, grantsPerSubject: 25, sessionsPerSubject: 125',
    ),
  });
});
afterAll(async () => {
  await stack.airlock.sweep();
  await stack.close();
});

describe('a lock on a subject with 20 live grants', () => {
  it('returns within 5 s with all of them revoked, roles dropped and sessions cut', async () => {
    const identity = await person(stack, 'agent:busy');
    const grants = [];
    // Opened five at a time: the setup, not what is measured.
    for (let batch = 0; batch < 4; batch++)
      grants.push(...(await Promise.all(Array.from({ length: 5 }, () => openRead(stack, 'agent:busy', identity)))));
    const sessions = await Promise.all(grants.map((grant) => sessionAs(stack, grant.id)));

    const secops = await operator(stack);
    const started = performance.now();
    const locked = await stack.call('POST', '/v1/admin/locks', {
      token: secops,
      body: { subject: 'agent:busy', reason: 'runaway agent' },
    });
    const elapsedMs = Math.round(performance.now() - started);
    console.log(`lock on 20 live grants with 20 open sessions: ${elapsedMs} ms`);

    expect(locked.status).toBe(201);
    expect([...locked.body.revoked].sort()).toEqual(grants.map((grant) => grant.id).sort());
    expect(elapsedMs).toBeLessThan(5000);
    expect(await Promise.all(grants.map((grant) => roleExists(stack, grant.id)))).toEqual(grants.map(() => false));
    await Promise.all(sessions.map(expectTerminated));
  }, 120_000);
});
