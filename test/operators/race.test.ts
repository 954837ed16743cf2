// A grant request in flight while an operator places a lock. The argument (docs/operators.md): a request
// checks the locks again after its role exists and before its window opens; the lock, once written, finds
// every role in the database. So a request that passed its first check before the lock existed is either
// refused at its second check, or found by the lock through its role — never active after the lock answers.
// The grants index is made to lag here, so only the database's roles can find what the lock must end.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoAuditLog } from '../../shared/audit/index.ts';
import { type AirlockError, isAirlockError } from '../../shared/errors.ts';
import {
  createGrantService,
  createGrantStore,
  type GrantService,
  type GrantStore,
  type LockChecker,
} from '../../shared/grants/index.ts';
import type { Principal } from '../../shared/identity/index.ts';
import { loadSigningKeys } from '../../shared/identity/index.ts';
import {
  createLockChecker,
  createLockService,
  createLockStore,
  type LockService,
} from '../../shared/operators/index.ts';
import { parsePolicyText } from '../../shared/policy/index.ts';
import type { ConnectionAdmins } from '../../shared/postgres/admin.ts';
import { connectionTarget, createConnectionAdmins, roleNameFor } from '../../shared/postgres/index.ts';
import { QueryKeysSecret, readSecret, SECRET_NAMES, SigningKeysSecret } from '../../shared/secrets/index.ts';
import type { TableNames } from '../../shared/store/index.ts';
import { adminClient, dynamo, freshTables, secrets, wire } from '../support/infra.ts';
import { OPERATOR_POLICY } from './support.ts';

const policy = parsePolicyText(OPERATOR_POLICY, 'race policy');
const rolePrefix = `airlock_race${Math.random().toString(36).slice(2, 6)}_`;
const issuer = 'http://127.0.0.1:8787/dev';
let tables: TableNames;
let admins: ConnectionAdmins;

beforeAll(async () => {
  tables = await freshTables();
  admins = createConnectionAdmins({ policy, secrets: secrets(), wire: wire(), rolePrefix });
});
afterAll(async () => {
  const admin = await admins.get('shop');
  for (const { role } of await admin.listRoles()) await admin.revokeRole(role);
  await admins.close();
});

const principal = (subject: string, groups: string[] = []): Principal => ({
  subject,
  issuer,
  groups,
  email: null,
  claims: { sub: subject },
});

/** A gate a test opens by hand: `wait` parks the caller until `open`; `reached` resolves when someone waits. */
function gate() {
  let open!: () => void;
  let reached!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  return {
    open,
    reached: arrived,
    wait: () => {
      reached();
      return opened;
    },
  };
}

interface Hooks {
  /** Runs after a lock check passed: the request's first one, or the activation's re-check (role minted, window not open). */
  afterCheck?: (which: 'request' | 'activation') => Promise<void>;
  /** The lock cannot list the database's roles (the database is unreachable for it). */
  rolesUnreadable?: boolean;
  /** The grants index is up to date (by default it lags and has seen nothing). */
  indexCurrent?: boolean;
}

interface World {
  grants: GrantService;
  store: GrantStore;
  locks: LockService;
}

async function world(hooks: Hooks = {}): Promise<World> {
  const store = createGrantStore({ client: dynamo(), table: tables.grants });
  const audit = createDynamoAuditLog({ client: dynamo(), table: tables.audit });
  const lockStore = createLockStore({ client: dynamo(), table: tables.locks });
  const checker = createLockChecker({ store: lockStore });
  const seen = new Set<string>();
  const gated: LockChecker = {
    async assertUnlocked(scope) {
      await checker.assertUnlocked(scope);
      // Each subject here asks once: its first check is the request's, its second the activation's.
      const which = seen.has(scope.subject) ? 'activation' : 'request';
      seen.add(scope.subject);
      await hooks.afterCheck?.(which);
    },
  };
  const queryKeys = await readSecret(secrets(), SECRET_NAMES.queryKeys, QueryKeysSecret);
  const grants = createGrantService({
    policy,
    store,
    audit,
    roles: admins.get,
    rolePrefix,
    target: (connection) => connectionTarget(policy, secrets(), connection),
    roleKey: queryKeys.roleKey,
    signingKeys: await loadSigningKeys(await readSecret(secrets(), SECRET_NAMES.signingKeys, SigningKeysSecret)),
    issuer: 'http://127.0.0.1:8787',
    approvals: { grantNeedsApproval: async () => {} },
    locks: gated,
  });
  // The index lags: it has not seen any grant yet. Only the roles in the database can be trusted.
  const lagging: GrantStore = { ...store, search: async () => ({ grants: [] }) };
  const locks = createLockService({
    policy,
    store: lockStore,
    grantStore: hooks.indexCurrent ? store : lagging,
    grants,
    roles: hooks.rolesUnreadable
      ? async () => ({
          listRoles: async () => {
            throw new Error('connection refused');
          },
        })
      : admins.get,
    naming: { roleKey: queryKeys.roleKey, prefix: rolePrefix },
    audit,
  });
  return { grants, store, locks };
}

async function roleExists(grantId: string): Promise<boolean> {
  const admin = await adminClient();
  try {
    const role = roleNameFor(grantId, {
      roleKey: (await readSecret(secrets(), SECRET_NAMES.queryKeys, QueryKeysSecret)).roleKey,
      prefix: rolePrefix,
    });
    return (await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rowCount === 1;
  } finally {
    await admin.end();
  }
}

const operator = { subject: 'person:secops', issuer };
const read = { connection: 'shop', access: 'read', ttlSeconds: 300, reason: 'race' };

describe('a grant request in flight while a lock is placed', () => {
  it('passed both checks before the lock, window not yet open: the lock finds its role and the window never opens', async () => {
    const between = gate();
    const w = await world({ afterCheck: async (which) => (which === 'activation' ? between.wait() : undefined) });
    const requested = w.grants.request(principal('agent:race-1'), read).then(
      (result) => result,
      (error: unknown) => error,
    );
    await between.reached;
    const grantId = (await w.store.listBySubject('agent:race-1'))[0]!.id;
    expect(await roleExists(grantId)).toBe(true);

    const outcome = await w.locks.create(operator, { subject: 'agent:race-1', reason: 'leaked' });
    expect(outcome.denied).toEqual([grantId]);
    expect((await w.store.get(grantId))?.status).toBe('denied');
    expect(await roleExists(grantId)).toBe(false);

    between.open();
    const result = await requested;
    expect(isAirlockError(result, 'locked')).toBe(true);
    expect((await w.store.get(grantId))?.status).toBe('denied');
    expect(await roleExists(grantId)).toBe(false);
  });

  it('passed its first check just before the lock: refused at its re-check, its role dropped, never active', async () => {
    const between = gate();
    const w = await world({ afterCheck: async (which) => (which === 'request' ? between.wait() : undefined) });
    const requested = w.grants.request(principal('agent:race-2'), read).then(
      (result) => result,
      (error: unknown) => error,
    );
    await between.reached;
    const outcome = await w.locks.create(operator, { subject: 'agent:race-2', reason: 'leaked' });
    expect(outcome).toMatchObject({ revoked: [], denied: [] });

    between.open();
    const refused = await requested;
    expect(isAirlockError(refused, 'locked')).toBe(true);
    const [grant] = await w.store.listBySubject('agent:race-2');
    expect(grant?.status).toBe('denied');
    expect(grant?.activatedAt).toBeNull();
    expect(await roleExists(grant!.id)).toBe(false);
  });

  it('a window that opened before the lock is found through its role and revoked, though the index missed it', async () => {
    const w = await world();
    const { grant } = await w.grants.request(principal('agent:race-3'), read);
    expect(grant.status).toBe('active');
    const outcome = await w.locks.create(operator, { subject: 'agent:race-3', reason: 'leaked' });
    expect(outcome.revoked).toEqual([grant.id]);
    expect((await w.store.get(grant.id))?.status).toBe('revoked');
    expect(await roleExists(grant.id)).toBe(false);
  });

  it('a pending request the lock could not see is denied when someone approves it later', async () => {
    const w = await world();
    const { grant } = await w.grants.request(principal('agent:race-4', ['finance']), {
      ...read,
      access: 'write',
    });
    expect(grant.status).toBe('pending');
    const outcome = await w.locks.create(operator, { subject: 'agent:race-4', reason: 'leaked' });
    expect(outcome.denied).toEqual([]);
    const activation = await w.grants
      .activate(grant.id, [{ by: 'dba@example.com', decision: 'approved', at: new Date().toISOString() }])
      .catch((error: unknown) => error);
    expect(isAirlockError(activation, 'locked')).toBe(true);
    expect((await w.store.get(grant.id))?.status).toBe('denied');
    expect(await roleExists(grant.id)).toBe(false);
  });

  it('the roles cannot be listed: the lock holds, ends what the index shows, and says it is not complete', async () => {
    const w = await world({ rolesUnreadable: true, indexCurrent: true });
    const { grant } = await w.grants.request(principal('agent:race-5'), read);
    const failure = await w.locks
      .create(operator, { subject: 'agent:race-5', reason: 'leaked' })
      .catch((error: unknown) => error);
    expect(isAirlockError(failure, 'unavailable')).toBe(true);
    expect((failure as AirlockError).details).toMatchObject({ revoked: [grant.id], unlisted: ['shop'], failed: [] });
    const lockId = (failure as AirlockError<'unavailable'>).details.lock!.id;
    expect((await w.store.get(grant.id))?.status).toBe('revoked');
    const refused = await w.grants.request(principal('agent:race-5'), read).catch((error: unknown) => error);
    expect(isAirlockError(refused, 'locked')).toBe(true);
    expect((refused as AirlockError<'locked'>).details.lock).toMatchObject({ id: lockId });
  });
});
