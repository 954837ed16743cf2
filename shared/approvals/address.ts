// Email addresses compared as the mailboxes they reach: case folded and a `+tag` dropped from the local part,
// so `Oncall+agent@Example.com` is `oncall@example.com`. Must never treat two mailboxes as one beyond that, and a
// match after normalising only ever refuses (a requester) or de-duplicates (an approver), never admits.

/** The mailbox an address delivers to: lower-case, without a `+tag` in the local part. */
export function mailbox(address: string): string {
  const normalized = address.trim().toLowerCase();
  const at = normalized.lastIndexOf('@');
  if (at <= 0) return normalized;
  const local = normalized.slice(0, at);
  const plus = local.indexOf('+');
  return `${plus > 0 ? local.slice(0, plus) : local}${normalized.slice(at)}`;
}

/** Whether two addresses reach the same mailbox (a missing address never matches). */
export function sameMailbox(a: string | null | undefined, b: string | null | undefined): boolean {
  return typeof a === 'string' && typeof b === 'string' && mailbox(a) === mailbox(b);
}

/** Addresses with one entry per mailbox (the first spelling kept), so one person is never counted or mailed twice. */
export function distinctMailboxes(addresses: readonly string[]): string[] {
  const seen = new Set<string>();
  return addresses.filter((address) => {
    const key = mailbox(address);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
