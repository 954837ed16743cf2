// How an email address names a mailbox when Airlock decides who someone is: case and `+tag` do not matter.
// Must never widen who may approve: a match after normalising only ever refuses (a requester), never admits.

/** `Oncall+Agent@Example.com` → `oncall@example.com`; anything without one `@` is only trimmed and lower-cased. */
export function mailboxOf(address: string): string {
  const lower = address.trim().toLowerCase();
  const at = lower.lastIndexOf('@');
  if (at <= 0 || at !== lower.indexOf('@')) return lower;
  const local = lower.slice(0, at);
  const plus = local.indexOf('+');
  return `${plus > 0 ? local.slice(0, plus) : local}${lower.slice(at)}`;
}

/** Whether two addresses reach the same mailbox (a null never matches). */
export function sameMailbox(a: string | null | undefined, b: string | null | undefined): boolean {
  return typeof a === 'string' && typeof b === 'string' && mailboxOf(a) === mailboxOf(b);
}
