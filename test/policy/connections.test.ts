import { describe, expect, it } from 'vitest';
import type { Principal } from '../../shared/identity/principal.ts';
import { requestableConnections } from '../../shared/policy/connections.ts';
import { decide } from '../../shared/policy/decide.ts';
import { parsePolicyText } from '../../shared/policy/load.ts';
import { DEMO_POLICY_TEXT } from '../support/airlock.ts';

const demo = parsePolicyText(DEMO_POLICY_TEXT);
const several = parsePolicyText(`
version: 1
publicUrl: http://127.0.0.1:8787
connections:
  shop: { adminSecret: s, profiles: { read: {}, write: {}, admin: {} } }
  billing: { adminSecret: b, profiles: { read: {} } }
  archive: { adminSecret: a, profiles: { read: {} } }
rules:
  - { name: ci-read, when: { claims: { repository: acme/shop } }, connection: shop, access: read, maxTtl: 10m }
  - { name: finance-billing, when: { groups: [finance] }, connection: billing, access: read, maxTtl: 2h }
  - { name: anyone-shop, connection: shop, access: read, maxTtl: 5m }
  - { name: dba-write, when: { subject: "dba:*" }, connection: shop, access: write, maxTtl: 1h,
      approval: { approvers: [lead@example.com] } }
`);

const who = (subject: string, groups: string[] = [], claims: Record<string, unknown> = {}): Principal => ({
  subject,
  issuer: 'test',
  groups,
  email: null,
  claims: { sub: subject, ...claims },
});

describe('requestableConnections', () => {
  it('lists what the demo policy gives an agent: read at once, write for finance after approval', () => {
    expect(requestableConnections(demo, who('agent:demo'))).toEqual([
      { name: 'shop', accesses: [{ access: 'read', outcome: 'granted', maxTtlSeconds: 1800, rule: 'agents-read' }] },
    ]);
    expect(requestableConnections(demo, who('agent:demo', ['finance']))).toEqual([
      {
        name: 'shop',
        accesses: [
          { access: 'read', outcome: 'granted', maxTtlSeconds: 1800, rule: 'agents-read' },
          { access: 'write', outcome: 'approval', maxTtlSeconds: 900, rule: 'agents-write' },
        ],
      },
    ]);
  });

  it('leaves out every connection and access the policy would deny', () => {
    expect(requestableConnections(demo, who('human:bob', ['finance']))).toEqual([]);
    const dba = requestableConnections(several, who('dba:ann'));
    expect(dba.map((connection) => connection.name)).toEqual(['shop']);
    expect(dba[0]!.accesses.map((access) => access.access)).toEqual(['read', 'write']);
  });

  it('is the first matching rule, as decide says: a claims rule before the catch-all', () => {
    const ci = who('repo:acme/shop', [], { repository: 'acme/shop' });
    expect(requestableConnections(several, ci)).toEqual([
      { name: 'shop', accesses: [{ access: 'read', outcome: 'granted', maxTtlSeconds: 600, rule: 'ci-read' }] },
    ]);
    expect(requestableConnections(several, who('someone', ['finance']))).toEqual([
      { name: 'shop', accesses: [{ access: 'read', outcome: 'granted', maxTtlSeconds: 300, rule: 'anyone-shop' }] },
      {
        name: 'billing',
        accesses: [{ access: 'read', outcome: 'granted', maxTtlSeconds: 7200, rule: 'finance-billing' }],
      },
    ]);
  });

  it('agrees with decide on every connection and access, for several callers', () => {
    const callers = [
      who('agent:x'),
      who('agent:y', ['finance']),
      who('dba:z'),
      who('repo', [], { repository: 'acme/shop' }),
    ];
    for (const policy of [demo, several]) {
      for (const caller of callers) {
        const listed = requestableConnections(policy, caller);
        for (const [name, connection] of Object.entries(policy.connections)) {
          for (const access of Object.keys(connection.profiles)) {
            const decision = decide(policy, { connection: name, access, ttlSeconds: Number.MAX_SAFE_INTEGER }, caller);
            const entry = listed.find((c) => c.name === name)?.accesses.find((a) => a.access === access);
            if (decision.outcome === 'denied') expect(entry, `${caller.subject} ${name}/${access}`).toBeUndefined();
            else
              expect(entry).toEqual({
                access,
                outcome: decision.outcome,
                maxTtlSeconds: decision.rule.maxTtl,
                rule: decision.rule.name,
              });
          }
        }
      }
    }
  });
});
