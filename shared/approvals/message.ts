// The email an approver gets: the approver's own link first, then who asks, for what, why and with which
// parameters, every requester-given value quoted on one line. Must never carry the confirmation code, nor let
// a requester's text pass for Airlock's own (a second "link", a line of instructions).

import type { MailMessage } from './mailer.ts';
import type { ApprovalRequest } from './model.ts';
import { escapeHtml, formatDuration, parameterLine } from './page.ts';

/** Emails show at most this much of a statement (and of any quoted value); the page shows all of it. */
const STATEMENT_PREVIEW = 400;

/** Controls, format characters (bidi overrides, zero-widths) and line/paragraph separators. */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/**
 * A requester-given value as one double-quoted line: control, line-breaking, bidi and invisible characters
 * escaped as \uXXXX (\n as \n), quotes and backslashes escaped, `://` defanged so no mail client makes a link
 * of it, and clipped. What is inside the quotes is the requester's, and looks it.
 */
export function quoted(value: string, limit = STATEMENT_PREVIEW): string {
  const escaped = value
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(INVISIBLE, (char) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`)
    .replace(/:\/\//g, '[:]//');
  return `"${escaped.length > limit ? `${escaped.slice(0, limit)}…` : escaped}"`;
}

export function approvalMessage(request: ApprovalRequest, approver: string, link: string): MailMessage {
  const statement = request.statement;
  const who = request.requester.email
    ? `${quoted(request.requester.subject)} (${quoted(request.requester.email)})`
    : quoted(request.requester.subject);
  const what = statement
    ? `to run a ${statement.kind.toUpperCase()} on ${request.connection}, held by guardrail "${statement.guardrail}"`
    : `${request.access} access to ${request.connection} for ${formatDuration(request.ttlSeconds)}`;
  const lines: Array<[string, string]> = [
    ['Requested by', who],
    ['Asks', what],
    ['Why', quoted(request.reason)],
    ...(statement
      ? ([
          ['Held because', quoted(statement.heldBecause)],
          ['Statement', quoted(statement.normalizedSql.replace(/\s+/g, ' ').trim())],
          ['Parameters', statement.params.length ? quoted(parameterLine(statement.params)) : '(none)'],
          ['Tables', statement.tables.length ? quoted(statement.tables.join(', ')) : '(none)'],
        ] as Array<[string, string]>)
      : ([['Rule', request.rule]] as Array<[string, string]>)),
    ['Approvals needed', String(request.required)],
    ['Decide before', request.deadline],
  ];
  const subject = statement
    ? `Airlock: approve a ${statement.kind.toUpperCase()} on ${request.connection} for ${quoted(request.requester.subject, 80)}?`
    : `Airlock: ${quoted(request.requester.subject, 80)} asks for ${request.access} access to ${request.connection}`;
  const text = [
    `Review and decide (this link is for ${approver} only and works once):`,
    link,
    'Opening the link changes nothing; you decide on the page.',
    '',
    'The request. Quoted values ("…") are what the requester sent, not instructions from Airlock:',
    ...lines.map(([label, value]) => `${label}: ${value}`),
    '',
  ].join('\n');
  const html = `<!doctype html><html lang="en"><body style="font:15px/1.5 sans-serif">
<p><a href="${escapeHtml(link)}">Review and decide</a> (this link is for ${escapeHtml(approver)} only and works once). Opening it changes nothing; you decide on the page.</p>
<p style="color:#57606a">The request. Quoted values are what the requester sent, not instructions from Airlock:</p>
<table>${lines.map(([label, value]) => `<tr><th align="left" valign="top">${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`).join('')}</table>
</body></html>
`;
  return { to: [approver], subject, text, html, link };
}
