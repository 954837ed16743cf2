// Policy evaluation: which rule, if any, lets this principal have this access, and on what terms.
// A pure function of the policy, the request and the principal; no match is always a denial.

import { expandApprovers, type Policy, type Rule, type RuleMatch } from './schema.ts';

/** Who asks, as policy sees it: an identity's verified subject, issuer, groups and claims. */
export interface Requester {
  subject: string;
  issuer: string;
  groups: string[];
  claims: Record<string, unknown>;
}

export interface AccessRequest {
  connection: string;
  access: string;
  ttlSeconds: number;
}

export type Decision =
  | { outcome: 'denied'; reason: string }
  | { outcome: 'granted'; rule: Rule; ttlSeconds: number; clamped: boolean }
  | { outcome: 'approval'; rule: Rule; ttlSeconds: number; clamped: boolean; approvers: string[]; required: number };

export function decide(policy: Policy, request: AccessRequest, principal: Requester): Decision {
  // Own keys only: a requested `__proto__` or `constructor` must not find Object.prototype's.
  const connection = Object.hasOwn(policy.connections, request.connection)
    ? policy.connections[request.connection]
    : undefined;
  if (!connection) return { outcome: 'denied', reason: `unknown connection "${request.connection}"` };
  if (!Object.hasOwn(connection.profiles, request.access)) {
    return { outcome: 'denied', reason: `connection "${request.connection}" has no access "${request.access}"` };
  }
  const rule = policy.rules.find(
    (candidate) =>
      candidate.connection === request.connection &&
      candidate.access === request.access &&
      matches(candidate.when, principal),
  );
  if (!rule)
    return {
      outcome: 'denied',
      reason: `no rule allows ${request.access} access to ${request.connection} for ${principal.subject}`,
    };

  const ttlSeconds = Math.min(request.ttlSeconds, rule.maxTtl);
  const clamped = ttlSeconds < request.ttlSeconds;
  if (!rule.approval) return { outcome: 'granted', rule, ttlSeconds, clamped };
  return {
    outcome: 'approval',
    rule,
    ttlSeconds,
    clamped,
    approvers: expandApprovers(rule.approval.approvers, policy.approverGroups),
    required: rule.approval.required,
  };
}

/** Every condition given must hold; `issuer` compares exactly; `groups` is any-of; `claims` compare exactly. */
export function matches(when: RuleMatch, principal: Requester): boolean {
  if (when.issuer !== undefined && when.issuer !== principal.issuer) return false;
  if (when.subject !== undefined && !globMatch(when.subject, principal.subject)) return false;
  if (when.groups !== undefined && !when.groups.some((group) => principal.groups.includes(group))) return false;
  if (when.claims !== undefined) {
    for (const [name, expected] of Object.entries(when.claims)) {
      const actual = principal.claims[name];
      if (actual === undefined || actual === null || typeof actual === 'object') return false;
      if (String(actual) !== String(expected)) return false;
    }
  }
  return true;
}

/** `*` matches any run of characters (including none); everything else is literal. */
export function globMatch(pattern: string, value: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`, 's').test(value);
}
