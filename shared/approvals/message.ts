// The email an approver gets: who asks, for what, why, and the approver's own link. Short on purpose.
// Must never carry the confirmation code: the page shows it, so only a person who opened the page can decide.

import type { MailMessage } from './mailer.ts';
import type { ApprovalRequest } from './model.ts';
import { escapeHtml, formatDuration } from './page.ts';

/** Emails show at most this much of a statement; the page shows all of it. */
const STATEMENT_PREVIEW = 400;

export function approvalMessage(request: ApprovalRequest, approver: string, link: string): MailMessage {
  const who = request.requester.email
    ? `${request.requester.subject} (${request.requester.email})`
    : request.requester.subject;
  const statement = request.statement;
  const what = statement
    ? `to run a ${statement.kind.toUpperCase()} on ${request.connection}, held by guardrail "${statement.guardrail}"`
    : `${request.access} access to ${request.connection} for ${formatDuration(request.ttlSeconds)}`;
  const lines: Array<[string, string]> = [
    ['Why', request.reason],
    ...(statement
      ? ([
          ['Held because', statement.heldBecause],
          ['Statement', preview(statement.normalizedSql)],
          ['Tables', statement.tables.join(', ') || '(none)'],
        ] as Array<[string, string]>)
      : ([['Rule', request.rule]] as Array<[string, string]>)),
    ['Approvals needed', String(request.required)],
    ['Decide before', request.deadline],
  ];
  const subject = statement
    ? `Airlock: approve a ${statement.kind.toUpperCase()} on ${request.connection} for ${request.requester.subject}?`
    : `Airlock: ${request.requester.subject} asks for ${request.access} access to ${request.connection}`;
  const text = [
    `${who} asks ${statement ? '' : 'for '}${what}.`,
    '',
    ...lines.map(([label, value]) => `${label}: ${value}`),
    '',
    `Review and decide (this link is for ${approver} only and works once):`,
    link,
    '',
    'Opening the link changes nothing; you decide on the page.',
    '',
  ].join('\n');
  const html = `<!doctype html><html lang="en"><body style="font:15px/1.5 sans-serif">
<p>${escapeHtml(who)} asks ${statement ? '' : 'for '}${escapeHtml(what)}.</p>
<table>${lines.map(([label, value]) => `<tr><th align="left" valign="top">${escapeHtml(label)}</th><td>${label === 'Statement' ? `<code>${escapeHtml(value)}</code>` : escapeHtml(value)}</td></tr>`).join('')}</table>
<p><a href="${escapeHtml(link)}">Review and decide</a> (this link is for ${escapeHtml(approver)} only and works once).</p>
<p style="color:#57606a">Opening the link changes nothing; you decide on the page.</p>
</body></html>
`;
  return { to: [approver], subject, text, html };
}

function preview(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > STATEMENT_PREVIEW ? `${flat.slice(0, STATEMENT_PREVIEW)}…` : flat;
}
