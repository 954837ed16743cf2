// Local-mode OIDC routes of the dev issuer: discovery, a sign-in form that names anyone, and the token endpoint.
// Never mounted in AWS; the form only ever sends the browser back to this stack's own origin.

import { createHash } from 'node:crypto';
import { html } from 'hono/html';
import { type DevAuthorizer, DevPerson } from '../identity/index.ts';
import type { Routes } from './app.ts';

const STYLE = [
  'body{font:16px/1.5 system-ui,sans-serif;color:#1b1f24;background:#f6f7f9;margin:0}',
  'main{max-width:28rem;margin:2rem auto;padding:1.5rem;background:#fff;border:1px solid #d0d7de;border-radius:8px}',
  'h1{font-size:1.3rem;margin:0 0 .5rem}label{display:block;font-weight:600;margin:1rem 0 .25rem}',
  'input{font:inherit;padding:.4rem;border:1px solid #8c959f;border-radius:4px;width:100%;box-sizing:border-box}',
  'button{font:inherit;font-weight:600;margin-top:1.25rem;padding:.5rem 1.25rem;border-radius:6px;border:1px solid #0969da;background:#0969da;color:#fff}',
  '.note{color:#57606a;font-size:.9rem}:focus-visible{outline:3px solid #0969da;outline-offset:2px}',
].join('');
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');
const HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export function devAuthorizeRoutes(options: { authorizer: DevAuthorizer; issuer: string }): Routes {
  const { authorizer, issuer } = options;
  return (app) => {
    app.get('/dev/.well-known/openid-configuration', (c) =>
      c.json({
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/oauth/token`,
        jwks_uri: `${issuer}/jwks.json`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code'],
        code_challenge_methods_supported: ['S256'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
        token_endpoint_auth_methods_supported: ['none'],
        scopes_supported: ['openid', 'email', 'profile', 'groups'],
      }),
    );

    app.get('/dev/authorize', async (c) => {
      const params = authorizer.check(c.req.query());
      const hidden = Object.entries(params).map(
        ([name, value]) => html`<input type="hidden" name="${name}" value="${String(value)}">`,
      );
      return c.html(
        html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Airlock dev issuer</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>Sign in to the local stack</h1>
<p class="note">The dev issuer signs whoever you name here. It exists only in local mode.</p>
<form method="post" action="/dev/authorize">
${hidden}
<label for="sub">Subject</label>
<input id="sub" name="sub" required maxlength="256" autocomplete="username" value="human:me">
<label for="groups">Groups (comma-separated)</label>
<input id="groups" name="groups" maxlength="2048" value="security">
<label for="email">Email</label>
<input id="email" name="email" type="email" maxlength="256" autocomplete="email">
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>`,
        200,
        HEADERS,
      );
    });

    app.post('/dev/authorize', async (c) => {
      const form = Object.fromEntries(Object.entries(await c.req.parseBody()).map(([k, v]) => [k, String(v)]));
      const params = authorizer.check(form);
      const person = DevPerson.safeParse(form);
      if (!person.success) return c.text('name a subject, and a valid email or none', 400, HEADERS);
      return c.redirect(authorizer.authorize(params, person.data), 303);
    });

    app.post('/dev/oauth/token', async (c) => {
      const form = Object.fromEntries(Object.entries(await c.req.parseBody()).map(([k, v]) => [k, String(v)]));
      return c.json(await authorizer.exchange(form), 200, { 'cache-control': 'no-store' });
    });
  };
}
