// What the console tests share: a policy with operators and a console, and a sign-in through the dev issuer's
// OIDC flow done over real HTTP (login → /dev/authorize form → callback), with the cookies it sets.

import { expect } from 'vitest';
import { DEMO_POLICY_TEXT, type TestAirlock } from '../support/airlock.ts';

/** The demo policy, plus operators (group `security`) and the console signed in through the dev issuer. */
export const CONSOLE_POLICY = DEMO_POLICY_TEXT.replace(
  /^auditors: .*$/m,
  [
    'auditors:  { groups: [audit] }',
    'operators: { groups: [security] }',
    'console:   { issuer: http://127.0.0.1:8787/dev, clientId: airlock-console }',
  ].join('\n'),
);

export interface Person {
  sub: string;
  groups?: string[];
  email?: string;
}

export const OPERATOR: Person = { sub: 'human:sec', groups: ['security'], email: 'sec@example.com' };
export const AUDITOR: Person = { sub: 'human:audit', groups: ['audit'], email: 'audit@example.com' };
export const APPROVER: Person = { sub: 'human:oncall', groups: [], email: 'oncall@example.com' };
export const AGENT: Person = { sub: 'agent:demo', groups: ['finance'], email: 'agent-owner@example.com' };

export interface Session {
  /** The Cookie header that carries the session. */
  cookie: string;
  /** Every Set-Cookie line of the callback, as sent. */
  setCookies: string[];
  /** The login cookie line /console/login set. */
  loginCookie: string;
}

const cookiePair = (line: string) => line.split(';')[0]!;

/** Signs in as `person` through /console/login, the dev issuer's form and /console/callback. */
export async function signIn(stack: TestAirlock, person: Person): Promise<Session> {
  const login = await fetch(`${stack.baseUrl}/console/login`, { redirect: 'manual' });
  expect(login.status).toBe(302);
  const loginCookie = login.headers.getSetCookie()[0]!;
  const authorize = new URL(login.headers.get('location')!);
  expect(authorize.pathname).toBe('/dev/authorize');
  const form = new URLSearchParams(authorize.searchParams);
  form.set('sub', person.sub);
  form.set('groups', (person.groups ?? []).join(','));
  form.set('email', person.email ?? '');
  const decided = await fetch(`${stack.baseUrl}/dev/authorize`, { method: 'POST', body: form, redirect: 'manual' });
  expect(decided.status).toBe(303);
  const callback = await fetch(decided.headers.get('location')!, {
    headers: { cookie: cookiePair(loginCookie) },
    redirect: 'manual',
  });
  expect(callback.status).toBe(200);
  const setCookies = callback.headers.getSetCookie();
  const session = setCookies.find((line) => line.startsWith('airlock-console='));
  expect(session).toBeDefined();
  return { cookie: cookiePair(session!), setCookies, loginCookie };
}

export interface ConsoleResponse {
  status: number;
  html: string;
  headers: Headers;
}

/** A console request with the session's cookie; forms are sent url-encoded, redirects are not followed. */
export async function consoleCall(
  stack: TestAirlock,
  session: Session | null,
  method: 'GET' | 'POST',
  path: string,
  form?: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<ConsoleResponse> {
  const response = await fetch(`${stack.baseUrl}${path}`, {
    method,
    headers: { ...(session ? { cookie: session.cookie } : {}), ...headers },
    ...(form ? { body: new URLSearchParams(form) } : {}),
    redirect: 'manual',
  });
  return { status: response.status, html: await response.text(), headers: response.headers };
}

/** The CSRF token a console page carries in its forms. */
export async function csrfOf(stack: TestAirlock, session: Session, path = '/console/locks'): Promise<string> {
  const page = await consoleCall(stack, session, 'GET', path);
  const match = /name="_csrf" value="([^"]+)"/.exec(page.html);
  expect(match, `a CSRF field on ${path}`).not.toBeNull();
  return match![1]!;
}
