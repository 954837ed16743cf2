// The authenticated caller as the rest of Airlock sees it, whichever issuer vouched for it.
// Must never be built from an unverified token: only verify.ts creates one.

export interface Principal {
  /** The token's `sub`, unique within its issuer. */
  subject: string;
  /** The token's `iss`, exactly as configured. */
  issuer: string;
  groups: string[];
  email: string | null;
  /** Every verified claim of the token, for policy `claims` matches. */
  claims: Record<string, unknown>;
}
