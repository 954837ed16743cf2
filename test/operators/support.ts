// What the operator-plane tests share: a policy with operators and auditors, the people who call the
// admin routes, ground truth from Postgres (roles, sessions as a grant's role), and grants opened over HTTP.

import { expect } from 'vitest';
import { closeClient, connectClient, derivePassword, type PgClient } from '../../shared/postgres/index.ts';
import { QueryKeysSecret, readSecret, SECRET_NAMES } from '../../shared/secrets/index.ts';
import { DEMO_POLICY_TEXT, type TestAirlock } from '../support/airlock.ts';
import { adminClient, adminTarget, secrets, wire } from '../support/infra.ts';
import { editPolicy } from '../support/stack.ts';

/** The demo policy with an operators group beside the auditors (`security`). */
export { editPolicy as edit } from '../support/stack.ts';

export const OPERATOR_POLICY = editPolicy(
  DEMO_POLICY_TEXT,
  'auditors: { groups: [security] }',
  'auditors: { groups: [security] }\noperators: { groups: [secops] }',
);

/** A day-long identity token of an operator, an auditor, or anyone: tests move clocks. */
export const person = (stack: TestAirlock, sub: string, groups: string[] = [], email?: string) =>
  stack.token(sub, groups, { ttlSeconds: 86_400, ...(email ? { email } : {}) });
export const operator = (stack: TestAirlock, sub = 'person:oncall-sec') => person(stack, sub, ['secops']);
export const auditor = (stack: TestAirlock, sub = 'person:auditor') => person(stack, sub, ['security']);

export interface OpenedGrant {
  id: string;
  token: string;
  identity: string;
}

/** An active read grant of `subject`, opened over HTTP with a day-long identity token. */
export async function openRead(stack: TestAirlock, subject: string, identity?: string): Promise<OpenedGrant> {
  const token = identity ?? (await person(stack, subject));
  const response = await stack.call('POST', '/v1/grants', {
    token,
    body: { connection: 'shop', access: 'read', ttl: 600, reason: 'operator plane test' },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return { id: response.body.grant.id, token: response.body.token, identity: token };
}

/** A pending write request of `subject` (rule agents-write needs approval). */
export async function requestWrite(
  stack: TestAirlock,
  subject: string,
  email?: string,
): Promise<{ id: string; identity: string }> {
  const identity = await person(stack, subject, ['finance'], email);
  const response = await stack.call('POST', '/v1/grants', {
    token: identity,
    body: { connection: 'shop', access: 'write', ttl: 600, reason: 'fix the totals of order 42' },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return { id: response.body.grant.id, identity };
}

export async function roleExists(stack: TestAirlock, grantId: string): Promise<boolean> {
  const admin = await adminClient();
  try {
    return (await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [stack.roleOf(grantId)])).rowCount === 1;
  } finally {
    await closeClient(admin);
  }
}

let roleKey: Promise<string> | undefined;
/** Errors each session's connection reported on its own (a server-side termination arrives this way). */
const connectionErrors = new WeakMap<PgClient, Array<{ code?: string }>>();

/** A database session logged in as the grant's temporary role, as an agent holding its password would be. */
export async function sessionAs(stack: TestAirlock, grantId: string): Promise<PgClient> {
  roleKey ??= readSecret(secrets(), SECRET_NAMES.queryKeys, QueryKeysSecret).then((keys) => keys.roleKey);
  const session = await connectClient(
    { ...(await adminTarget()), user: stack.roleOf(grantId), password: derivePassword(await roleKey, grantId) },
    wire(),
  );
  const errors: Array<{ code?: string }> = [];
  connectionErrors.set(session, errors);
  session.on('error', (error: Error & { code?: string }) => errors.push(error));
  expect((await session.query('SELECT 1 AS one')).rows[0].one).toBe(1);
  return session;
}

/** The server terminated the session (57P01, admin_shutdown) and it can run nothing more; closed here. */
export async function expectTerminated(session: PgClient): Promise<void> {
  const codes = () => connectionErrors.get(session)?.map((error) => error.code) ?? [];
  // The server has ended the backend before the revocation returns; its notice may still be in flight.
  for (let waited = 0; waited < 2000 && !codes().includes('57P01'); waited += 50)
    await new Promise((resolve) => setTimeout(resolve, 50));
  expect(codes()).toContain('57P01');
  await expect(session.query('SELECT 1')).rejects.toThrow(/not queryable|terminat/);
  await closeClient(session);
}
