import { describe, expect, it } from 'vitest';
import { EXIT, EXIT_FOR_CODE, exitCodeFor } from '../../cli/exit.ts';
import { STATUS } from '../../shared/http/index.ts';

describe('exit codes for API error codes', () => {
  it('maps every code the API can answer with (the same keys as the HTTP status table)', () => {
    expect(Object.keys(EXIT_FOR_CODE).sort()).toEqual(Object.keys(STATUS).sort());
  });

  it.each([
    ['approval_required', EXIT.pending],
    ['policy_denied', EXIT.refused],
    ['locked', EXIT.refused],
    ['forbidden', EXIT.refused],
    ['statement_blocked', EXIT.refused],
    ['grant_expired', EXIT.refused],
    ['grant_revoked', EXIT.refused],
    ['rate_limited', EXIT.error],
    ['statement_too_complex', EXIT.error],
    ['sql_syntax', EXIT.error],
    ['unauthenticated', EXIT.error],
    ['unavailable', EXIT.error],
  ])('%s exits %i', (code, exit) => {
    expect(exitCodeFor(code)).toBe(exit);
  });

  it('treats a code it does not know (a newer server, an HTTP status) as an error, never as success', () => {
    for (const code of ['some_new_code', 'http_502', '__proto__', 'constructor', 'toString', ''])
      expect(exitCodeFor(code)).toBe(EXIT.error);
  });
});
