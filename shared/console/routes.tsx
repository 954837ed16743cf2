// /console: sign-in (OIDC code flow with PKCE), the session, and the pages over the operator plane's own functions.
// Must never act without a verified session, a matching CSRF token and the plane's role check for the same person.

import type { Context, MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Child } from 'hono/jsx';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { AirlockError } from '../errors.ts';
import { presentError, type Routes } from '../http/index.ts';
import { createIdentityVerifier, type Principal } from '../identity/index.ts';
import { noteError } from '../observe/index.ts';
import {
  ApprovalDecisionBody,
  adminGrant,
  GrantListQuery,
  LockRequest,
  type LockStore,
  locksOut,
  type OperatorPlane,
  type OperatorRight,
  publicLock,
  ReasonBody,
  rolesOf,
} from '../operators/index.ts';
import { formatIssues, type Policy } from '../policy/index.ts';
import { FAVICON, Page, SECURITY_HEADERS, type Viewer } from './layout.tsx';
import { createOidcClient, type OidcClient } from './oidc.ts';
import {
  ApprovalsPage,
  ErrorPage,
  GrantsPage,
  LocksPage,
  NOTICES,
  type Notice,
  type Roles,
  SignInPage,
  StoryPage,
} from './pages.tsx';
import {
  cookieNames,
  createSessionSealer,
  LOGIN_MAX_SECONDS,
  randomToken,
  SESSION_MAX_SECONDS,
  sameToken,
} from './session.ts';
import type { ConsoleSessionStore } from './session-store.ts';

export interface ConsoleRoutesOptions {
  policy: Policy;
  plane: OperatorPlane;
  /** A secret of this deployment the session keys are derived from (HKDF, one key per purpose). */
  sessionSecret: string;
  /** Server-side sessions: sign-out and a lock on the person end a session for every copy of its cookie. */
  sessions: ConsoleSessionStore;
  /** Read on every console request: a lock naming the person's subject (and no connection) ends their session. */
  locks: Pick<LockStore, 'listUnlifted'>;
  now?: () => Date;
  /** Reaches the issuer's discovery document, token endpoint and keys. */
  fetch?: typeof fetch;
  /** The OIDC client; default: discovery at the policy's `console.issuer`. */
  oidc?: OidcClient;
}

type ConsoleEnv = { Variables: { principal: Principal; csrf: string; sid: string } };

const FORM = 'application/x-www-form-urlencoded';

export function consoleRoutes(options: ConsoleRoutesOptions): Routes {
  const { policy, plane } = options;
  const config = policy.console;
  if (!config) throw new AirlockError('invalid_config', 'the policy configures no console');
  const now = options.now ?? (() => new Date());
  const issuer = policy.identity.issuers.find((candidate) => candidate.issuer === config.issuer);
  if (!issuer) throw new AirlockError('invalid_config', `console.issuer "${config.issuer}" is not an identity issuer`);
  // The ID token is verified by the same code as API tokens, with the console's client id as its audience.
  const verifier = createIdentityVerifier({
    issuers: [{ ...issuer, audience: config.clientId }],
    now,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const publicUrl = policy.publicUrl.replace(/\/+$/, '');
  const origin = new URL(publicUrl).origin;
  const secure = new URL(publicUrl).protocol === 'https:';
  const names = cookieNames(secure);
  const sealer = createSessionSealer({ secret: options.sessionSecret, now });
  const oidc =
    options.oidc ??
    createOidcClient({
      issuer: config.issuer,
      clientId: config.clientId,
      scopes: config.scopes,
      redirectUri: `${publicUrl}/console/callback`,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });

  const rolesFor = (principal: Principal): Roles => {
    const roles = rolesOf(policy, principal);
    return { auditor: roles.auditor, operator: roles.operator, approver: roles.approver };
  };
  const viewerOf = (c: Context<ConsoleEnv>): Viewer => {
    const principal = c.get('principal');
    const roles = rolesFor(principal);
    return {
      subject: principal.subject,
      email: principal.email,
      roles: [
        roles.operator ? 'operator' : roles.auditor ? 'auditor' : null,
        roles.approver ? 'approver' : null,
      ].filter((role): role is string => role !== null),
      csrf: c.get('csrf'),
    };
  };
  const noticeOf = (c: Context): Notice | undefined => {
    const notice = c.req.query('notice');
    return notice !== undefined && notice in NOTICES ? (notice as Notice) : undefined;
  };
  const render = (c: Context, page: Child, status: ContentfulStatusCode = 200) =>
    c.html(`<!doctype html>${String(page)}`, status, SECURITY_HEADERS);

  const verified = async (idToken: string): Promise<Principal | null> => {
    try {
      return await verifier.verify(idToken);
    } catch (error) {
      if (error instanceof AirlockError && error.code === 'unauthenticated') return null;
      throw error;
    }
  };

  /**
   * The signed-in person, or null: a cookie that does not open, an ID token that no longer verifies, a session whose
   * record is gone (signed out) or past its end, or a person an operator has locked out, is none. The record and the
   * locks are read strongly consistently on every request, side by side; a store that cannot answer fails closed.
   */
  async function sessionOf(c: Context): Promise<{ principal: Principal; csrf: string; sid: string } | null> {
    const cookie = getCookie(c, names.session);
    if (!cookie) return null;
    const session = await sealer.open(cookie);
    if (!session) return null;
    const [record, principal, locks] = await Promise.all([
      options.sessions.get(session.sid),
      verified(session.idt),
      options.locks.listUnlifted(),
    ]);
    const at = now();
    if (!record || !principal || Date.parse(record.expiresAt) <= at.getTime()) return null;
    if (record.subject !== principal.subject || record.issuer !== principal.issuer) return null;
    if (locks.some((lock) => locksOut(lock, principal, at))) {
      // Ended, not only refused: lifting the lock later does not bring this session back.
      await options.sessions.end(session.sid);
      return null;
    }
    return { principal, csrf: session.csrf, sid: session.sid };
  }

  const signedIn: MiddlewareHandler<ConsoleEnv> = async function signedIn(c, next) {
    const session = await sessionOf(c);
    if (!session) {
      deleteCookie(c, names.session, { path: '/', secure });
      if (c.req.method === 'GET') return c.redirect('/console', 303);
      throw new AirlockError('unauthenticated', 'your session has ended: sign in again');
    }
    c.set('principal', session.principal);
    c.set('csrf', session.csrf);
    c.set('sid', session.sid);
    await next();
  };

  /** Every state-changing request: a form from this origin carrying the session's CSRF token. */
  const csrf: MiddlewareHandler<ConsoleEnv> = async function csrf(c, next) {
    const sent = c.req.header('origin');
    if (sent !== undefined && sent !== origin) throw new AirlockError('forbidden', 'the form came from another site');
    if (!(c.req.header('content-type') ?? '').startsWith(FORM))
      throw new AirlockError('invalid_request', 'expected a form');
    const token = (await c.req.parseBody())._csrf;
    if (typeof token !== 'string' || !sameToken(token, c.get('csrf')))
      throw new AirlockError('forbidden', 'the form is stale or not from this console: reload the page and try again');
    await next();
  };

  /** The plane's own role check, before the form is read: 403 comes before 400, as on the API. */
  const right =
    (needed: OperatorRight): MiddlewareHandler<ConsoleEnv> =>
    async (c, next) => {
      await plane.authorize(c.get('principal'), needed);
      await next();
    };

  const form = async (c: Context<ConsoleEnv>) => {
    const body = await c.req.parseBody();
    return Object.fromEntries(
      Object.entries(body)
        .filter(([name, value]) => name !== '_csrf' && typeof value === 'string' && value.trim() !== '')
        .map(([name, value]) => [name, String(value)]),
    );
  };
  const parse = <S extends z.ZodType>(schema: S, value: unknown): z.output<S> => {
    const parsed = schema.safeParse(value);
    if (!parsed.success)
      throw new AirlockError(
        'invalid_request',
        `the form is not complete: ${formatIssues(parsed.error.issues).join('; ')}`,
      );
    return parsed.data;
  };

  const web = new Hono<ConsoleEnv>();

  web.onError(async (error, c) => {
    const presented = presentError(error);
    noteError(presented.error.code, presented.severity === 'error' ? (presented.cause ?? error) : undefined);
    const viewer = c.get('principal') ? viewerOf(c) : undefined;
    const title =
      presented.status === 403 ? 'Not allowed' : presented.status === 401 ? 'Signed out' : 'Something went wrong';
    return render(c, <ErrorPage title={title} message={presented.error.message} viewer={viewer} />, presented.status);
  });
  web.notFound((c) => render(c, <ErrorPage title="Not found" message="There is no such console page." />, 404));

  web.get('/favicon.svg', (c) =>
    c.body(FAVICON, 200, { 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=86400' }),
  );

  web.get('/', async (c) => {
    const session = await sessionOf(c);
    if (!session) return render(c, <SignInPage notice={noticeOf(c)} />);
    const roles = rolesFor(session.principal);
    return c.redirect(!roles.auditor && roles.approver ? '/console/approvals' : '/console/grants', 303);
  });

  web.get('/login', async (c) => {
    const login = { state: randomToken(), nonce: randomToken(), verifier: randomToken(48), next: '/console' };
    const target = await oidc.authorizationUrl(login);
    // Lax, not Strict: it must come back with the issuer's cross-site redirect to the callback.
    setCookie(c, names.login, await sealer.sealLogin(login), {
      path: '/',
      httpOnly: true,
      secure,
      sameSite: 'Lax',
      maxAge: LOGIN_MAX_SECONDS,
    });
    c.header('cache-control', 'no-store');
    return c.redirect(target, 302);
  });

  web.get('/callback', async (c) => {
    const cookie = getCookie(c, names.login);
    deleteCookie(c, names.login, { path: '/', secure });
    const login = cookie ? await sealer.openLogin(cookie) : null;
    const state = c.req.query('state');
    const code = c.req.query('code');
    if (!login || state === undefined || !sameToken(state, login.state))
      throw new AirlockError('unauthenticated', 'this sign-in was not started here or took too long: sign in again');
    if (code === undefined || code.length === 0 || code.length > 2048)
      throw new AirlockError('unauthenticated', 'the issuer did not sign you in');
    const idToken = await oidc.exchange(code, login.verifier);
    const principal = await verifier.verify(idToken);
    if (typeof principal.claims.nonce !== 'string' || !sameToken(principal.claims.nonce, login.nonce))
      throw new AirlockError('unauthenticated', 'the ID token was not issued for this sign-in');
    const at = now();
    const lock = (await options.locks.listUnlifted()).find((candidate) => locksOut(candidate, principal, at));
    if (lock)
      throw new AirlockError('locked', 'an operator has locked your subject: you cannot sign in while the lock holds', {
        lock: { id: lock.id, reason: lock.reason },
      });
    const tokenEnds = typeof principal.claims.exp === 'number' ? principal.claims.exp * 1000 : 0;
    const ends = Math.min(tokenEnds, at.getTime() + SESSION_MAX_SECONDS * 1000);
    if (ends <= at.getTime()) throw new AirlockError('unauthenticated', 'the ID token has expired: sign in again');
    const sid = randomToken();
    await options.sessions.start({
      id: sid,
      subject: principal.subject,
      issuer: principal.issuer,
      createdAt: at.toISOString(),
      expiresAt: new Date(ends).toISOString(),
    });
    setCookie(c, names.session, await sealer.seal({ sid, idt: idToken, csrf: randomToken() }, new Date(ends)), {
      path: '/',
      httpOnly: true,
      secure,
      sameSite: 'Strict',
      maxAge: Math.max(1, Math.floor((ends - now().getTime()) / 1000)),
    });
    // A page, not a redirect: the Strict cookie is sent on the next same-site navigation, not on the issuer's redirect chain.
    return c.html(
      `<!doctype html>${(
        (
          <Page title="Signed in" section={null}>
            <meta http-equiv="refresh" content={`0;url=${login.next}`} />
            <p>
              <a href={login.next}>Continue to the console</a>
            </p>
          </Page>
        )
      ).toString()}`,
      200,
      SECURITY_HEADERS,
    );
  });

  web.post('/logout', signedIn, csrf, async (c) => {
    // The record goes first: every copy of this cookie, wherever it was taken, is no session from now on.
    await options.sessions.end(c.get('sid'));
    deleteCookie(c, names.session, { path: '/', secure });
    return c.redirect('/console?notice=signed-out', 303);
  });

  web.get('/grants', signedIn, async (c) => {
    const principal = c.get('principal');
    const raw = c.req.query();
    const filters = { status: raw.status, subject: raw.subject, connection: raw.connection };
    const query = parse(
      GrantListQuery,
      Object.fromEntries(
        Object.entries({ ...filters, next: raw.next, limit: '50' }).filter(
          (entry): entry is [string, string] => typeof entry[1] === 'string' && entry[1].trim() !== '',
        ),
      ),
    );
    const page = await plane.listGrants(principal, query);
    const statements = await plane.statementCounts(
      principal,
      page.grants.map((grant) => grant.id),
    );
    return render(
      c,
      <GrantsPage
        viewer={viewerOf(c)}
        now={now()}
        grants={page.grants}
        statements={statements}
        filters={filters}
        next={page.next}
        notice={noticeOf(c)}
      />,
    );
  });

  web.get('/grants/:id/events.json', signedIn, async (c) => {
    const story = await plane.grantStory(c.get('principal'), c.req.param('id'));
    const body = { grant: adminGrant(story.grant), events: story.events, verified: story.verdict.verified };
    return c.json(body, 200, {
      ...SECURITY_HEADERS,
      'content-disposition': `attachment; filename="grant-${story.grant.id.replace(/[^A-Za-z0-9_-]/g, '')}-audit.json"`,
    });
  });

  web.get('/grants/:id', signedIn, async (c) => {
    const principal = c.get('principal');
    const story = await plane.grantStory(principal, c.req.param('id'));
    return render(
      c,
      <StoryPage
        viewer={viewerOf(c)}
        roles={rolesFor(principal)}
        now={now()}
        grant={story.grant}
        events={story.events}
        verdict={story.verdict}
        notice={noticeOf(c)}
      />,
    );
  });

  web.post('/grants/:id/revoke', signedIn, right('operate'), csrf, async (c) => {
    const { reason } = parse(ReasonBody, await form(c));
    const grant = await plane.revokeGrant(c.get('principal'), c.req.param('id'), reason);
    return c.redirect(`/console/grants/${encodeURIComponent(grant.id)}?notice=revoked`, 303);
  });

  web.get('/approvals', signedIn, async (c) => {
    const approvals = await plane.listApprovals(c.get('principal'));
    return render(c, <ApprovalsPage viewer={viewerOf(c)} now={now()} approvals={approvals} notice={noticeOf(c)} />);
  });

  web.post('/approvals/:id', signedIn, right('decide'), csrf, async (c) => {
    const body = parse(ApprovalDecisionBody, await form(c));
    await plane.decideApproval(c.get('principal'), c.req.param('id'), body);
    return c.redirect('/console/approvals?notice=decided', 303);
  });

  web.get('/locks', signedIn, async (c) => {
    const principal = c.get('principal');
    const locks = (await plane.listLocks(principal)).map(publicLock);
    return render(
      c,
      <LocksPage viewer={viewerOf(c)} roles={rolesFor(principal)} now={now()} locks={locks} notice={noticeOf(c)} />,
    );
  });

  web.post('/locks', signedIn, right('operate'), csrf, async (c) => {
    const request = parse(LockRequest, await form(c));
    await plane.createLock(c.get('principal'), request);
    return c.redirect('/console/locks?notice=locked', 303);
  });

  web.post('/locks/:id/lift', signedIn, right('operate'), csrf, async (c) => {
    const { reason } = parse(ReasonBody, await form(c));
    await plane.liftLock(c.get('principal'), c.req.param('id'), reason);
    return c.redirect('/console/locks?notice=lifted', 303);
  });

  return (app) => {
    app.route('/console', web);
  };
}
