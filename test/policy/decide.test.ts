import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../shared/identity/principal.ts';
import { decide, globMatch } from '../../shared/policy/decide.ts';
import { parsePolicyText } from '../../shared/policy/load.ts';

const demo = parsePolicyText(readFileSync(new URL('../../airlock.policy.yaml', import.meta.url), 'utf8'));
const withClaims = parsePolicyText(`
version: 1
publicUrl: http://127.0.0.1:8787
approverGroups: { dbas: [dba@example.com, lead@example.com] }
connections: { shop: { adminSecret: s, profiles: { read: {}, write: {} } } }
rules:
  - { name: ci-by-id, when: { claims: { repository_id: "123" } }, connection: shop, access: read, maxTtl: 10m }
  - { name: dbas-write, when: { groups: [dba] }, connection: shop, access: write, maxTtl: 1h, approval: { approvers: [dbas], required: 2 } }
`);

const who = (subject: string, groups: string[] = [], claims: Record<string, unknown> = {}): Principal => ({
  subject,
  issuer: 'test',
  groups,
  email: null,
  claims: { sub: subject, ...claims },
});

describe('decide', () => {
  const cases: Array<[string, Parameters<typeof decide>[1], Principal, string, Record<string, unknown>?]> = [
    [
      'agent read is granted by agents-read',
      { connection: 'shop', access: 'read', ttlSeconds: 600 },
      who('agent:demo'),
      'granted',
      { rule: 'agents-read', ttlSeconds: 600 },
    ],
    [
      'ttl above maxTtl is clamped',
      { connection: 'shop', access: 'read', ttlSeconds: 7200 },
      who('agent:demo'),
      'granted',
      { ttlSeconds: 1800, clamped: true },
    ],
    [
      'a human subject matches no rule',
      { connection: 'shop', access: 'read', ttlSeconds: 600 },
      who('user:alice'),
      'denied',
    ],
    [
      'a subject that only ends with agent: is not matched',
      { connection: 'shop', access: 'read', ttlSeconds: 600 },
      who('evil-agent:x'),
      'denied',
    ],
    [
      'write without the finance group is denied',
      { connection: 'shop', access: 'write', ttlSeconds: 600 },
      who('agent:demo', ['sales']),
      'denied',
    ],
    [
      'write with finance needs approval',
      { connection: 'shop', access: 'write', ttlSeconds: 600 },
      who('agent:demo', ['finance']),
      'approval',
      { rule: 'agents-write', required: 1 },
    ],
    [
      'an unknown connection is denied',
      { connection: 'billing', access: 'read', ttlSeconds: 600 },
      who('agent:demo'),
      'denied',
    ],
    [
      'an unknown access is denied',
      { connection: 'shop', access: 'admin', ttlSeconds: 600 },
      who('agent:demo'),
      'denied',
    ],
  ];
  it.each(cases)('%s', (_name, request, principal, outcome, expected) => {
    const decision = decide(demo, request, principal);
    expect(decision.outcome).toBe(outcome);
    if (expected && decision.outcome !== 'denied') {
      const flat = { ...decision, rule: decision.rule.name };
      expect(flat).toMatchObject(expected);
    }
  });

  it('matches exact claim values, not names that could be re-registered', () => {
    expect(
      decide(
        withClaims,
        { connection: 'shop', access: 'read', ttlSeconds: 60 },
        who('repo:x', [], { repository_id: 123 }),
      ).outcome,
    ).toBe('granted');
    expect(
      decide(
        withClaims,
        { connection: 'shop', access: 'read', ttlSeconds: 60 },
        who('repo:x', [], { repository_id: '1234' }),
      ).outcome,
    ).toBe('denied');
    expect(
      decide(
        withClaims,
        { connection: 'shop', access: 'read', ttlSeconds: 60 },
        who('repo:x', [], { repository_id: ['123'] }),
      ).outcome,
    ).toBe('denied');
    expect(decide(withClaims, { connection: 'shop', access: 'read', ttlSeconds: 60 }, who('repo:x')).outcome).toBe(
      'denied',
    );
  });

  it('a rule may require an issuer: the same subject from another configured issuer does not match it', () => {
    const policy = parsePolicyText(`
version: 1
publicUrl: http://127.0.0.1:8787
identity:
  issuers:
    - { issuer: https://idp.example.com, audience: airlock }
    - { issuer: https://ci.example.com, audience: airlock }
connections: { shop: { adminSecret: s, profiles: { write: {} } } }
rules:
  - { name: agents-write, when: { issuer: https://idp.example.com, subject: "agent:*", groups: [finance] }, connection: shop, access: write, maxTtl: 15m }
`);
    const request = { connection: 'shop', access: 'write', ttlSeconds: 60 };
    const from = (issuer: string): Principal => ({ ...who('agent:x', ['finance']), issuer });
    expect(decide(policy, request, from('https://idp.example.com'))).toMatchObject({
      outcome: 'granted',
      rule: { name: 'agents-write' },
    });
    expect(decide(policy, request, from('https://ci.example.com')).outcome).toBe('denied');
  });

  it('refuses a rule naming an issuer that is not configured', () => {
    expect(() =>
      parsePolicyText(`
version: 1
publicUrl: http://127.0.0.1:8787
connections: { shop: { adminSecret: s, profiles: { read: {} } } }
rules:
  - { name: r, when: { issuer: https://nowhere.example.com }, connection: shop, access: read, maxTtl: 1m }
`),
    ).toThrow(/rules\[0\]\.when\.issuer: "https:\/\/nowhere\.example\.com" is not one of identity\.issuers/);
  });

  it('expands approver groups', () => {
    const decision = decide(withClaims, { connection: 'shop', access: 'write', ttlSeconds: 60 }, who('bob', ['dba']));
    expect(decision).toMatchObject({
      outcome: 'approval',
      approvers: ['dba@example.com', 'lead@example.com'],
      required: 2,
    });
  });

  it('globs only on *', () => {
    expect(globMatch('agent:*', 'agent:')).toBe(true);
    expect(globMatch('agent:*', 'agent:a.b')).toBe(true);
    expect(globMatch('agent.*', 'agentX')).toBe(false);
    expect(globMatch('a*z', 'a\nz')).toBe(true);
    expect(globMatch('exact', 'exactly')).toBe(false);
  });
});
