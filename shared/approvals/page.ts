// The approver's pages: a confirmation form, a result, a refusal — small, accessible, one hashed script for local times.
// Every value is HTML-escaped, and every page carries headers that keep the link out of referrers and caches.

import { createHash } from 'node:crypto';
import { type ApprovalRequest, approvalsGiven } from './model.ts';

const STYLE = [
  'body{font:16px/1.5 system-ui,sans-serif;color:#1b1f24;background:#f6f7f9;margin:0}',
  'header{padding:.6rem 1rem;background:#fff;border-bottom:1px solid #d0d7de;font-weight:700}',
  'main{max-width:46rem;margin:1rem auto;padding:1.25rem 1rem;background:#fff;border:1px solid #d0d7de;border-radius:8px}',
  '@media (min-width:48rem){main{padding:1.5rem 2rem;margin:2rem auto}}',
  'h1{font-size:1.4rem;margin:0 0 1rem}',
  'dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:0 0 1.25rem}',
  '@media (max-width:30rem){dl{grid-template-columns:1fr}dt{margin-top:.4rem}}',
  'dt{font-weight:600}dd{margin:0;overflow-wrap:break-word;min-width:0}',
  'time{white-space:nowrap}',
  'pre{white-space:pre-wrap;overflow-wrap:break-word;background:#f0f2f5;padding:.5rem .75rem;border-radius:4px;margin:0}',
  '.code{font:700 1.5rem/1 ui-monospace,monospace;letter-spacing:.2em;background:#fff8c5;padding:.2rem .5rem;border-radius:4px}',
  'label{display:block;font-weight:600;margin:1rem 0 .25rem}',
  'input,textarea{font:inherit;padding:.4rem;border:1px solid #8c959f;border-radius:4px;width:100%;box-sizing:border-box}',
  '#confirm{width:10rem;font-family:ui-monospace,monospace;letter-spacing:.15em;text-transform:uppercase}',
  '.actions{display:flex;flex-wrap:wrap;gap:1rem;margin-top:1.25rem}',
  'button{font:inherit;font-weight:600;padding:.5rem 1.25rem;border-radius:6px;border:1px solid #1f2328;cursor:pointer}',
  '.approve{background:#1a7f37;color:#fff;border-color:#1a7f37}.deny{background:#fff;color:#cf222e;border-color:#cf222e}',
  ':focus-visible{outline:3px solid #0969da;outline-offset:2px}',
  '.note{color:#57606a;font-size:.9rem}a{color:#0969da}',
].join('');

/** Shows each `<time>` in the viewer's local time; the UTC value stays in its title. Shared with the console. */
export const LOCAL_TIME_SCRIPT =
  "document.querySelectorAll('time[datetime]').forEach(function(t){var d=new Date(t.getAttribute('datetime'));" +
  "if(isNaN(d))return;t.title='UTC: '+d.toISOString().replace('T',' ').replace(/\\.\\d+Z$/,' UTC');" +
  "t.textContent=d.toLocaleString(undefined,{dateStyle:'medium',timeStyle:'short'});});";
const SCRIPT_HASH = createHash('sha256').update(LOCAL_TIME_SCRIPT).digest('base64');

const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

/** Sent with every approval page, error pages included. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'content-security-policy': `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; script-src 'sha256-${SCRIPT_HASH}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
};

export function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!,
  );
}

/** A page in the approvals look; `body` must already be escaped HTML. */
export function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)} · Airlock</title>
<style>${STYLE}</style>
</head>
<body>
<header>Airlock</header>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
<script>${LOCAL_TIME_SCRIPT}</script>
</body>
</html>
`;
}

/** A time as people read it: UTC to the minute in the markup, local time once the script ran, UTC on hover. */
export function timeHtml(at: string): string {
  const utc = `${at.slice(0, 16).replace('T', ' ')} UTC`;
  const exact = at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return `<time datetime="${escapeHtml(at)}" title="UTC: ${escapeHtml(exact)}">${escapeHtml(utc)}</time>`;
}

export function formatDuration(seconds: number): string {
  const parts: string[] = [];
  const units: Array<[number, string]> = [
    [86400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
    [1, 'second'],
  ];
  let left = seconds;
  for (const [size, name] of units) {
    const count = Math.floor(left / size);
    if (count > 0) parts.push(`${count} ${name}${count === 1 ? '' : 's'}`);
    left -= count * size;
  }
  return parts.join(' ') || '0 seconds';
}

/** `$1 = "shipped", $2 = a***@example.com (masked: email)` — as stored, so never a raw masked value. */
export function parameterLine(params: NonNullable<ApprovalRequest['statement']>['params']): string {
  return params
    .map(({ position, shown, masked }) => `$${position} = ${masked === null ? shown : `${shown} (masked: ${masked})`}`)
    .join(', ');
}

export function requestTitle(request: ApprovalRequest): string {
  return request.kind === 'grant'
    ? `Approve ${request.access} access to ${request.connection}?`
    : `Approve a ${request.statement?.kind.toUpperCase() ?? ''} statement on ${request.connection}?`;
}

function requesterLabel(request: ApprovalRequest): string {
  return request.requester.email
    ? `${request.requester.subject} (${request.requester.email})`
    : request.requester.subject;
}

function details(request: ApprovalRequest): string {
  const rows: Array<[string, string]> = [
    ['Requested by', escapeHtml(requesterLabel(request))],
    ['Connection', escapeHtml(request.connection)],
    ['Access', escapeHtml(request.access)],
    [
      request.kind === 'grant' ? 'Time to live' : 'Grant window ends',
      request.kind === 'grant'
        ? escapeHtml(formatDuration(request.ttlSeconds))
        : request.grantExpiresAt
          ? timeHtml(request.grantExpiresAt)
          : '',
    ],
    ['Reason', escapeHtml(request.reason)],
    [
      request.kind === 'grant' ? 'Rule' : 'Guardrail',
      escapeHtml(request.kind === 'grant' ? request.rule : (request.statement?.guardrail ?? '')),
    ],
  ];
  if (request.statement) {
    rows.push(
      ['Held because', escapeHtml(request.statement.heldBecause)],
      ['Tables', escapeHtml(request.statement.tables.join(', ') || '(none)')],
      ['Statement (normalized)', `<pre>${escapeHtml(request.statement.normalizedSql)}</pre>`],
      ['Full statement', `<pre>${escapeHtml(request.statement.sql)}</pre>`],
      [
        'Parameters',
        request.statement.params.length
          ? `<pre>${escapeHtml(request.statement.params.map((param) => parameterLine([param])).join('\n'))}</pre>`
          : '(none)',
      ],
    );
  }
  rows.push(['Approvals', escapeHtml(`${approvalsGiven(request)} of ${request.required} needed`)]);
  rows.push([
    'Already decided',
    request.decisions.length === 0
      ? 'nobody yet'
      : request.decisions
          .map((decision) => `${escapeHtml(`${decision.decision} by ${decision.approver}`)} ${timeHtml(decision.at)}`)
          .join('<br>'),
  ]);
  if (request.status === 'pending') rows.push(['Decide before', timeHtml(request.deadline)]);
  return `<dl>\n${rows.map(([term, value]) => `<dt>${term}</dt><dd>${value}</dd>`).join('\n')}\n</dl>`;
}

/** Where signed-in approvers can decide too, when the deployment has a console. */
const CONSOLE_NOTE =
  '<p class="note">Approvers who can sign in may also see and decide every request waiting for them in the <a href="/console/approvals">console</a>.</p>';

export function confirmPage(request: ApprovalRequest, approver: string, code: string, withConsole = false): string {
  const statementNote =
    request.kind === 'statement' ? ' Approving lets this exact statement, with these exact parameters, run once.' : '';
  return htmlPage(
    requestTitle(request),
    `${details(request)}
<form method="post">
<p>You are deciding as <strong>${escapeHtml(approver)}</strong>.${escapeHtml(statementNote)}</p>
<p id="code-help">To confirm that a person is deciding, type this code: <span class="code">${escapeHtml(code)}</span></p>
<label for="confirm">Confirmation code</label>
<input id="confirm" name="confirm" required autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="16" aria-describedby="code-help">
<label for="reason">Reason (optional)</label>
<textarea id="reason" name="reason" rows="2" maxlength="500"></textarea>
<div class="actions">
<button class="approve" type="submit" name="decision" value="approve">Approve</button>
<button class="deny" type="submit" name="decision" value="deny">Deny</button>
</div>
</form>
<p class="note">Opening this page changed nothing. This link is for you only and works once.</p>${withConsole ? `\n${CONSOLE_NOTE}` : ''}`,
  );
}

export function resultPage(title: string, message: string, request?: ApprovalRequest): string {
  return htmlPage(title, `<p role="status">${escapeHtml(message)}</p>${request ? `\n${details(request)}` : ''}`);
}

export function refusalPage(title: string, message: string): string {
  return htmlPage(title, `<p role="alert">${escapeHtml(message)}</p>`);
}
