import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signApprovalLink } from '../../shared/approvals/link.ts';
import { loadSigningKeys } from '../../shared/identity/grant-token.ts';
import { readSecret, SECRET_NAMES, SigningKeysSecret } from '../../shared/secrets/index.ts';
import { DEMO_POLICY_TEXT, startTestAirlock, type TestAirlock } from '../support/airlock.ts';
import { adminClient, secrets } from '../support/infra.ts';
import {
  auditTypes,
  codeOn,
  decide,
  edit,
  emailsFor,
  expectPageHeaders,
  grantOf,
  grantRef,
  linkFor,
  open,
  outbox,
  requestWrite,
  submit,
} from './support.ts';

let stack: TestAirlock;
beforeAll(async () => {
  stack = await startTestAirlock();
});
afterAll(async () => {
  await stack.airlock.sweep();
  await stack.close();
});

async function roleExists(grantId: string, on: TestAirlock = stack): Promise<boolean> {
  const admin = await adminClient();
  try {
    return (await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [on.roleOf(grantId)])).rows.length === 1;
  } finally {
    await admin.end();
  }
}

async function ownLink(ref: string, approver: string, expiresAt: string): Promise<string> {
  const keys = await loadSigningKeys(await readSecret(secrets(), SECRET_NAMES.signingKeys, SigningKeysSecret));
  const { token } = await signApprovalLink(
    keys,
    { approval: ref, approver, expiresAt: new Date(expiresAt), issuer: stack.policy.publicUrl },
    stack.clock.now,
  );
  return `${stack.baseUrl}/v1/approvals/${token}`;
}

describe('asking for a grant', () => {
  it('grants read automatically (no email) and holds write for approval, emailing each approver their own link', async () => {
    const before = (await outbox(stack)).length;
    const identity = await stack.token('agent:asker', ['finance'], { email: 'asker@example.com' });
    const read = await stack.call('POST', '/v1/grants', {
      token: identity,
      body: { connection: 'shop', access: 'read', ttl: 300, reason: 'look around' },
    });
    expect(read.status).toBe(201);
    expect((await outbox(stack)).length).toBe(before);

    const write = await stack.call('POST', '/v1/grants', {
      token: identity,
      body: { connection: 'shop', access: 'write', ttl: '10m', reason: 'fix <b>order</b> 42 & co' },
    });
    expect(write.status).toBe(202);
    expect(write.body.grant).toMatchObject({ status: 'pending', rule: 'agents-write', ttlSeconds: 600 });
    expect(write.body.token).toBeUndefined();

    const emails = await emailsFor(stack, grantRef(write.body.grant.id));
    expect([...emails.keys()].sort()).toEqual(['dba@example.com', 'oncall@example.com']);
    const links = [...emails.values()].map((email) => email.links[0]!);
    expect(new Set(links).size).toBe(2);
    for (const [approver, email] of emails) {
      expect(email.subject).toBe('Airlock: "agent:asker" asks for write access to shop');
      expect(email.links[0]!.startsWith(`${stack.policy.publicUrl}/v1/approvals/`)).toBe(true);
      // The link comes first; what the requester wrote comes after it, quoted.
      expect(email.text.split('\n').slice(0, 2)).toEqual([
        `Review and decide (this link is for ${approver} only and works once):`,
        email.links[0],
      ]);
      expect(email.text).toContain('Requested by: "agent:asker" ("asker@example.com")');
      expect(email.text).toContain('Asks: write access to shop for 10 minutes');
      expect(email.text).toContain('Why: "fix <b>order</b> 42 & co"');
      expect(email.text).toContain('Rule: agents-write');
      expect(email.html).toContain('&quot;fix &lt;b&gt;order&lt;/b&gt; 42 &amp; co&quot;');
      expect(email.html).toContain(`href="${email.links[0]}"`);
      // RFC 5322 with a multipart/alternative body: text part first, HTML second.
      expect(email.raw).toMatch(
        /^From: airlock@localhost\r\nTo: [^\r\n]+\r\nSubject: [^\r\n]+\r\nDate: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000\r\nMessage-ID: <[^>]+>\r\nX-Airlock-Approval-Link: https?:\/\/\S+\r\nMIME-Version: 1\.0\r\nContent-Type: multipart\/alternative; boundary="[^"]+"\r\n\r\n/,
      );
      expect(email.raw.indexOf('Content-Type: text/plain; charset=utf-8')).toBeLessThan(
        email.raw.indexOf('Content-Type: text/html; charset=utf-8'),
      );
      // The link header cannot be folded (a URL has no space to fold at): under RFC 5322's 998, the rest under 78.
      for (const line of email.raw.split('\r\n'))
        expect(line.length).toBeLessThanOrEqual(line.startsWith('X-Airlock-Approval-Link: ') ? 998 : 78);
      // The code is only on the page: whoever merely receives the email cannot decide.
      expect(email.raw).not.toContain(codeOn(await open(email.links[0]!)));
    }
  });

  it('lists the outbox at /dev/outbox as JSON and as HTML, and shows one message', async () => {
    const { grant } = await requestWrite(stack);
    const list = await stack.call('GET', '/dev/outbox');
    expect(list.status).toBe(200);
    const mine = list.body.messages.filter((m: { links: string[] }) =>
      m.links.some((link) => link.includes('/v1/approvals/')),
    );
    expect(mine.length).toBeGreaterThanOrEqual(2);
    expect(mine[0]).toMatchObject({
      id: expect.any(String),
      to: [expect.stringMatching(/@example\.com$/)],
      subject: expect.any(String),
      at: expect.any(String),
    });
    const link = await linkFor(stack, grantRef(grant.id), 'dba@example.com');
    expect(list.body.messages.some((m: { links: string[] }) => m.links.includes(link))).toBe(true);

    const html = await stack.call('GET', '/dev/outbox', { headers: { accept: 'text/html' } });
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html.body).toContain(`href="/dev/outbox/${mine[0].id}"`);
    const one = await stack.call('GET', `/dev/outbox/${mine[0].id}`, { headers: { accept: 'text/html' } });
    expect(one.status).toBe(200);
    expect(one.body).toContain(mine[0].links[0]);
    const json = await stack.call('GET', `/dev/outbox/${mine[0].id}`);
    expect(json.body.message).toMatchObject({
      id: mine[0].id,
      links: mine[0].links,
      text: expect.stringContaining('Asks: write access to shop'),
    });
    for (const bad of ['nope', '..%2F..%2Fsecrets', `${mine[0].id}x`])
      expect((await stack.call('GET', `/dev/outbox/${bad}`)).status).toBe(404);
  });
});

describe('the approval page', () => {
  it('GET shows who asks for what and why, and changes nothing', async () => {
    const { grant, identity } = await requestWrite(stack, {
      email: 'req@example.com',
      reason: 'repair <script>alert(1)</script> rows',
    });
    const link = await linkFor(stack, grantRef(grant.id), 'oncall@example.com');
    const first = await open(link);
    const second = await open(link);
    for (const page of [first, second]) {
      expect(page.status).toBe(200);
      expectPageHeaders(page);
      expect(page.html).toContain('Approve write access to shop?');
      expect(page.html).toContain('req@example.com');
      expect(page.html).toContain('10 minutes');
      expect(page.html).toContain('agents-write');
      expect(page.html).toContain('repair &lt;script&gt;alert(1)&lt;/script&gt; rows');
      expect(page.html).toMatch(/<label for="confirm">/);
      expect(page.html).toMatch(/<form method="post">/);
    }
    expect(codeOn(first)).toBe(codeOn(second));
    expect((await grantOf(stack, grant.id, identity)).grant.status).toBe('pending');
    expect(await auditTypes(stack, grant.id, identity)).toEqual(['grant.requested']);
    // A HEAD (what some scanners send) decides nothing either.
    expect((await fetch(link, { method: 'HEAD' })).status).toBe(200);
    expect((await grantOf(stack, grant.id, identity)).grant.status).toBe('pending');
  });

  it('POST without the code, or with a wrong one, or without a decision, is a 400 page and decides nothing', async () => {
    const { grant, identity } = await requestWrite(stack);
    const link = await linkFor(stack, grantRef(grant.id), 'oncall@example.com');
    const code = codeOn(await open(link));
    const wrong = code === 'AAAAAA' ? 'BBBBBB' : 'AAAAAA';
    const attempts: Array<Record<string, string>> = [
      { decision: 'approve' },
      { decision: 'approve', confirm: '' },
      { decision: 'approve', confirm: wrong },
      { decision: 'deny', confirm: wrong },
      { confirm: code },
      { decision: 'maybe', confirm: code },
    ];
    for (const fields of attempts) {
      const page = await submit(link, fields);
      expect(page.status, JSON.stringify(fields)).toBe(400);
      expectPageHeaders(page);
    }
    const json = await fetch(link, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ decision: 'approve', confirm: code }),
    });
    expect(json.status).toBe(400);
    expect((await grantOf(stack, grant.id, identity)).grant.status).toBe('pending');
    // The link still works afterwards: a wrong code does not use it up. Codes forgive case and spacing.
    const page = await submit(link, {
      decision: 'approve',
      confirm: ` ${code.slice(0, 3).toLowerCase()} ${code.slice(3)} `,
    });
    expect(page.status).toBe(200);
  });

  it('approve: the grant becomes active, its token comes from GET /v1/grants/{id} and works; the link is then spent (410)', async () => {
    const { grant, identity } = await requestWrite(stack, { reason: 'close stale orders' });
    const link = await linkFor(stack, grantRef(grant.id), 'dba@example.com');
    const page = await open(link);
    const started = performance.now();
    const result = await submit(link, { decision: 'approve', confirm: codeOn(page), reason: 'ok for today' });
    const approveMs = performance.now() - started;
    expect(result.status, result.html).toBe(200);
    expectPageHeaders(result);
    expect(result.html).toContain('Approved');
    const after = await grantOf(stack, grant.id, identity);
    const activeMs = performance.now() - started;
    console.log(
      `[measure] approve POST → 200: ${approveMs.toFixed(0)} ms; approve → GET shows active + token: ${activeMs.toFixed(0)} ms`,
    );
    expect(after.grant.status).toBe('active');
    expect(after.grant.decisions.map((d) => [d.by, d.decision])).toEqual([
      ['dba@example.com', 'approved'],
      ['airlock', 'activated'],
    ]);
    expect(after.grant.decisions[0]!.reason).toBe('ok for today');
    expect(typeof after.token).toBe('string');
    const query = await stack.call('POST', '/v1/query', {
      token: after.token,
      body: { sql: 'SELECT count(*)::int AS n FROM orders' },
    });
    expect(query.status).toBe(200);
    expect(await roleExists(grant.id)).toBe(true);

    for (const replay of [await open(link), await submit(link, { decision: 'approve', confirm: codeOn(page) })]) {
      expect(replay.status).toBe(410);
      expectPageHeaders(replay);
    }
    // The other approver's link is over too: the request is decided.
    const other = await linkFor(stack, grantRef(grant.id), 'oncall@example.com');
    expect((await open(other)).status).toBe(410);
    const types = await auditTypes(stack, grant.id, identity);
    expect(types.slice(0, 3)).toEqual(['grant.requested', 'grant.approved', 'grant.activated']);
  });

  it('deny ends the request at once, with the reason; other links are spent; no role is made', async () => {
    const { grant, identity } = await requestWrite(stack);
    const result = await decide(
      await linkFor(stack, grantRef(grant.id), 'oncall@example.com'),
      'deny',
      'not during the freeze',
    );
    expect(result.status).toBe(200);
    expect(result.html).toContain('Denied');
    const after = await grantOf(stack, grant.id, identity);
    expect(after.grant.status).toBe('denied');
    expect(after.grant.decisions).toEqual([
      expect.objectContaining({ by: 'oncall@example.com', decision: 'denied', reason: 'not during the freeze' }),
    ]);
    expect(after.token).toBeUndefined();
    expect((await open(await linkFor(stack, grantRef(grant.id), 'dba@example.com'))).status).toBe(410);
    expect(await roleExists(grant.id)).toBe(false);
    const events = (await stack.call('GET', `/v1/grants/${grant.id}/audit`, { token: identity })).body.events;
    expect(events.map((e: { type: string }) => e.type)).toEqual(['grant.requested', 'grant.denied']);
    expect(events[1]).toMatchObject({ by: 'oncall@example.com', reason: 'not during the freeze' });
  });

  it('a link past the deadline (clock moved) is a 410 page; the sweeper then expires the grant', async () => {
    const { grant, identity } = await requestWrite(stack);
    const link = await linkFor(stack, grantRef(grant.id), 'oncall@example.com');
    const code = codeOn(await open(link));
    stack.clock.advance(3601);
    try {
      for (const page of [await open(link), await submit(link, { decision: 'approve', confirm: code })]) {
        expect(page.status).toBe(410);
        expectPageHeaders(page);
        expect(page.html).toContain('expired');
      }
      expect((await grantOf(stack, grant.id, identity)).grant.status).toBe('pending');
      await stack.airlock.sweep();
      expect((await grantOf(stack, grant.id, identity)).grant.status).toBe('expired');
    } finally {
      stack.clock.advance(-3601);
    }
    expect((await open(link)).status).toBe(410);
  });

  it('a tampered, truncated, foreign or garbage token is a 400 page; links are not grant or identity tokens', async () => {
    const { grant, identity } = await requestWrite(stack);
    const link = await linkFor(stack, grantRef(grant.id), 'oncall@example.com');
    const token = link.slice(link.lastIndexOf('/') + 1);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'mallory@example.com' })).toString('base64url');
    const flipped = signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11);
    const read = await stack.call('POST', '/v1/grants', {
      token: identity,
      body: { connection: 'shop', access: 'read', ttl: 60, reason: 'x' },
    });
    const tokens = [
      `${header}.${forged}.${signature}`,
      `${header}.${payload}.${flipped}`,
      `${header}.${payload}.`,
      `${header}.${payload}`,
      'not-a-token',
      read.body.token as string,
      identity,
    ];
    for (const bad of tokens) {
      for (const page of [
        await open(`${stack.baseUrl}/v1/approvals/${bad}`),
        await submit(`${stack.baseUrl}/v1/approvals/${bad}`, { decision: 'approve', confirm: 'AAAAAA' }),
      ]) {
        expect(page.status, bad).toBe(400);
        expectPageHeaders(page);
      }
    }
    expect((await grantOf(stack, grant.id, identity)).grant.status).toBe('pending');
    const asGrantToken = await stack.call('POST', '/v1/query', { token, body: { sql: 'SELECT 1' } });
    expect(asGrantToken.status).toBe(401);
    const asIdentity = await stack.call('GET', '/v1/grants', { token });
    expect(asIdentity.status).toBe(401);
  });

  it('refuses the requester’s own approval (403) even with a valid link, and does not email the requester', async () => {
    const { grant, identity } = await requestWrite(stack, { email: 'OnCall@example.com' });
    const emails = await emailsFor(stack, grantRef(grant.id));
    expect([...emails.keys()]).toEqual(['dba@example.com']);
    const own = await ownLink(grantRef(grant.id), 'oncall@example.com', grant.approvalDeadline);
    const page = await open(own);
    expect(page.status).toBe(403);
    expectPageHeaders(page);
    expect(page.html).toContain('someone else has to approve it');
    expect((await submit(own, { decision: 'approve', confirm: 'AAAAAA' })).status).toBe(403);
    // Someone who is not an approver at all, with a link signed by Airlock itself: also 403.
    expect((await open(await ownLink(grantRef(grant.id), 'intern@example.com', grant.approvalDeadline))).status).toBe(
      403,
    );
    expect((await grantOf(stack, grant.id, identity)).grant.status).toBe('pending');
  });

  it('two approvers at once (required 1): exactly one activation, the other link gets 410', async () => {
    const { grant, identity } = await requestWrite(stack);
    const links = await Promise.all(
      ['oncall@example.com', 'dba@example.com'].map((approver) => linkFor(stack, grantRef(grant.id), approver)),
    );
    const codes = await Promise.all(links.map(async (link) => codeOn(await open(link))));
    const results = await Promise.all(
      links.map((link, i) => submit(link, { decision: 'approve', confirm: codes[i]! })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 410]);
    const types = await auditTypes(stack, grant.id, identity);
    expect(types.filter((t) => t === 'grant.activated')).toHaveLength(1);
    expect(types.filter((t) => t === 'grant.approved')).toHaveLength(1);
    expect((await grantOf(stack, grant.id, identity)).grant.status).toBe('active');
  });
});

describe('a rule that needs two approvers', () => {
  let two: TestAirlock;
  beforeAll(async () => {
    const policy = edit(
      DEMO_POLICY_TEXT,
      '    approval: { approvers: [oncall@example.com, dba@example.com], required: 1 }\n',
      '    approval: { approvers: [oncall@example.com, dba@example.com, sre], required: 2 }\n',
    ).replace('auditors:', 'approverGroups: { sre: [sre1@example.com] }\nauditors:');
    two = await startTestAirlock({ policyText: policy });
  });
  afterAll(async () => {
    await two.airlock.sweep();
    await two.close();
  });

  it('needs two different approvers; the same approver twice does not count', async () => {
    const { grant, identity } = await requestWrite(two);
    expect([...(await emailsFor(two, grantRef(grant.id))).keys()].sort()).toEqual([
      'dba@example.com',
      'oncall@example.com',
      'sre1@example.com',
    ]);
    const oncall = await linkFor(two, grantRef(grant.id), 'oncall@example.com');
    const code = codeOn(await open(oncall));
    const first = await submit(oncall, { decision: 'approve', confirm: code });
    expect(first.status).toBe(200);
    expect(first.html).toContain('1 of 2 needed');
    expect((await grantOf(two, grant.id, identity)).grant.status).toBe('pending');

    const again = await submit(oncall, { decision: 'approve', confirm: code });
    expect(again.status).toBe(410);
    expect((await open(oncall)).status).toBe(410);
    expect((await grantOf(two, grant.id, identity)).grant.status).toBe('pending');

    const second = await decide(await linkFor(two, grantRef(grant.id), 'sre1@example.com'), 'approve');
    expect(second.status).toBe(200);
    const after = await grantOf(two, grant.id, identity);
    expect(after.grant.status).toBe('active');
    expect(after.grant.decisions.filter((d) => d.decision === 'approved').map((d) => d.by)).toEqual([
      'oncall@example.com',
      'sre1@example.com',
    ]);
    expect(typeof after.token).toBe('string');
    expect(await auditTypes(two, grant.id, identity)).toEqual([
      'grant.requested',
      'grant.approved',
      'grant.approved',
      'grant.activated',
    ]);
  });

  it('one deny after one approval ends it', async () => {
    const { grant, identity } = await requestWrite(two);
    expect((await decide(await linkFor(two, grantRef(grant.id), 'oncall@example.com'), 'approve')).status).toBe(200);
    expect((await decide(await linkFor(two, grantRef(grant.id), 'dba@example.com'), 'deny')).status).toBe(200);
    expect((await grantOf(two, grant.id, identity)).grant.status).toBe('denied');
    expect((await open(await linkFor(two, grantRef(grant.id), 'sre1@example.com'))).status).toBe(410);
  });

  it('two approvers at once (required 2): both count, one activation', async () => {
    const { grant, identity } = await requestWrite(two);
    const links = await Promise.all(
      ['oncall@example.com', 'dba@example.com'].map((approver) => linkFor(two, grantRef(grant.id), approver)),
    );
    const codes = await Promise.all(links.map(async (link) => codeOn(await open(link))));
    const results = await Promise.all(
      links.map((link, i) => submit(link, { decision: 'approve', confirm: codes[i]! })),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    expect((await grantOf(two, grant.id, identity)).grant.status).toBe('active');
    const types = await auditTypes(two, grant.id, identity);
    expect(types.filter((t) => t === 'grant.activated')).toHaveLength(1);
  });
});

describe('approval racing expiry', () => {
  let racing: TestAirlock;
  beforeAll(async () => {
    racing = await startTestAirlock();
  });
  afterAll(async () => {
    await racing.airlock.sweep();
    await racing.close();
  });

  it('an approval sent as the deadline passes and the sweeper runs: the grant is active (200) or expired (410), never both', async () => {
    const outcomes: string[] = [];
    let postMs = 0;
    for (const delayMs of [0, 5, 10, 15, 20, 30, 40, 60, 100, 300]) {
      const { grant, identity } = await requestWrite(racing);
      const link = await linkFor(racing, grantRef(grant.id), 'oncall@example.com');
      const code = codeOn(await open(link));
      // The link's exp is the deadline rounded down to a whole second: whichever comes first ends it.
      const expiresAt = Math.min(
        Date.parse(grant.approvalDeadline),
        Number(decodeJwt(link.slice(link.lastIndexOf('/') + 1)).exp) * 1000,
      );
      const left = (expiresAt - racing.clock.now().getTime()) / 1000;
      racing.clock.advance(left - 0.5);
      const started = performance.now();
      const [page] = await Promise.all([
        submit(link, { decision: 'approve', confirm: code }).then((result) => {
          postMs = performance.now() - started;
          return result;
        }),
        (async () => {
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          racing.clock.advance(1);
          await racing.airlock.sweep();
        })(),
      ]);
      await racing.airlock.sweep();
      const after = await grantOf(racing, grant.id, identity);
      const types = await auditTypes(racing, grant.id, identity);
      if (page.status === 200) {
        expect(after.grant.status).toBe('active');
        expect(typeof after.token).toBe('string');
        expect(await roleExists(grant.id, racing)).toBe(true);
        expect(types).not.toContain('grant.expired');
      } else {
        expect(page.status).toBe(410);
        expect(after.grant.status).toBe('expired');
        expect(after.token).toBeUndefined();
        expect(await roleExists(grant.id, racing)).toBe(false);
        expect(types).not.toContain('grant.activated');
      }
      outcomes.push(
        `clock jump at ${delayMs}ms, answer after ${postMs.toFixed(0)}ms: ${page.status}${page.html.includes('approval was recorded') ? '(recorded, then lost to the sweeper)' : ''}`,
      );
    }
    console.log(`[measure] approval vs expiry:\n  ${outcomes.join('\n  ')}`);
  });
});
