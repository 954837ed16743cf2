// The console's OIDC client: discovery, the authorization-code request with PKCE (S256) and the code exchange.
// Must never accept an ID token it did not get from the issuer's token endpoint for the code it sent.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AirlockError, unavailable } from '../errors.ts';

const FETCH_TIMEOUT_MS = 5000;

const Discovery = z.object({
  issuer: z.string(),
  authorization_endpoint: z.url({ protocol: /^https?$/ }),
  token_endpoint: z.url({ protocol: /^https?$/ }),
});
type Discovery = z.infer<typeof Discovery>;

const TokenResponse = z.object({ id_token: z.string().min(1).max(16_384) });

export interface OidcClientOptions {
  issuer: string;
  clientId: string;
  scopes: string[];
  /** Where the issuer sends the browser back: `${publicUrl}/console/callback`. */
  redirectUri: string;
  fetch?: typeof fetch;
}

export interface OidcClient {
  /** The issuer's authorization URL for this sign-in. */
  authorizationUrl(request: { state: string; nonce: string; verifier: string }): Promise<string>;
  /** The ID token for a code, from the issuer's token endpoint (not yet verified: the caller verifies it). */
  exchange(code: string, verifier: string): Promise<string>;
}

export const pkceChallenge = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

export function createOidcClient(options: OidcClientOptions): OidcClient {
  const fetchImpl = options.fetch ?? fetch;
  let discovery: Promise<Discovery> | undefined;

  async function discover(): Promise<Discovery> {
    const url = `${options.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    try {
      const response = await fetchImpl(url, {
        headers: { accept: 'application/json' },
        redirect: 'manual',
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      if (response.status !== 200) throw new Error(`discovery answered HTTP ${response.status}`);
      const document = Discovery.parse(await response.json());
      if (document.issuer !== options.issuer) throw new Error('the discovery document names another issuer');
      return document;
    } catch (cause) {
      throw unavailable("the console issuer's discovery document", cause);
    }
  }

  const endpoints = () => {
    discovery ??= discover();
    // A failed discovery is forgotten, so the next sign-in tries again.
    discovery.catch(() => {
      discovery = undefined;
    });
    return discovery;
  };

  return {
    async authorizationUrl({ state, nonce, verifier }) {
      const url = new URL((await endpoints()).authorization_endpoint);
      const scopes = ['openid', ...options.scopes.filter((scope) => scope !== 'openid')];
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('client_id', options.clientId);
      url.searchParams.set('redirect_uri', options.redirectUri);
      url.searchParams.set('scope', scopes.join(' '));
      url.searchParams.set('state', state);
      url.searchParams.set('nonce', nonce);
      url.searchParams.set('code_challenge', pkceChallenge(verifier));
      url.searchParams.set('code_challenge_method', 'S256');
      return url.toString();
    },

    async exchange(code, verifier) {
      const { token_endpoint: tokenEndpoint } = await endpoints();
      let response: Response;
      try {
        response = await fetchImpl(tokenEndpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            redirect_uri: options.redirectUri,
            client_id: options.clientId,
            code_verifier: verifier,
          }),
          redirect: 'manual',
          signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        });
      } catch (cause) {
        throw unavailable("the console issuer's token endpoint", cause);
      }
      // A refused code is the person's to retry; the issuer's reasons are not shown.
      if (response.status >= 400 && response.status < 500)
        throw new AirlockError('unauthenticated', 'the issuer refused the sign-in code: sign in again');
      const parsed = TokenResponse.safeParse(response.status === 200 ? await response.json().catch(() => null) : null);
      if (!parsed.success)
        throw unavailable("the console issuer's token endpoint", new Error(`HTTP ${response.status}`));
      return parsed.data.id_token;
    },
  };
}
