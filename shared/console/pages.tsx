// The console's pages: grants, a grant's story, approvals, locks, sign-in and errors — server-rendered HTML.
// Must never show a form for an action the viewer's roles do not allow, nor a statement's raw text to a non-approver.

import { sameMailbox } from '../approvals/index.ts';
import type { AuditEvent } from '../audit/index.ts';
import type { GrantRecord } from '../grants/index.ts';
import type { AdminGrant, ChainVerdict, PublicApproval, PublicLock } from '../operators/index.ts';
import { Badge, Csrf, Page, Time, type Viewer, When } from './layout.tsx';

export interface Roles {
  auditor: boolean;
  operator: boolean;
  approver: boolean;
}

const seconds = (value: number) => {
  if (value % 3600 === 0) return `${value / 3600} h`;
  if (value % 60 === 0) return `${value / 60} min`;
  return `${value} s`;
};

/** Fixed messages after an action; the query string only ever picks one of these. */
export const NOTICES = {
  revoked: 'The grant is revoked: its window is closed and its role dropped.',
  decided: 'Your decision is recorded.',
  locked: 'The lock is in force: everything it covers was revoked or denied.',
  lifted: 'The lock is lifted.',
  'signed-out': 'You are signed out.',
} as const;
export type Notice = keyof typeof NOTICES;

function NoticeBox(props: { notice: Notice | undefined }) {
  return props.notice ? (
    <p class="notice" role="status">
      {NOTICES[props.notice]}
    </p>
  ) : null;
}

function Window(props: { grant: AdminGrant | GrantRecord; now: Date }) {
  const { grant, now } = props;
  if (grant.status === 'pending') return <When at={grant.approvalDeadline} now={now} label="decision due" />;
  if (grant.status === 'active') return <When at={grant.expiresAt} now={now} label="ends" />;
  if (grant.expiresAt && grant.activatedAt) return <When at={grant.expiresAt} now={now} label="ended" />;
  return <When at={grant.requestedAt} now={now} label="requested" />;
}

export interface GrantFilters {
  status?: string | undefined;
  subject?: string | undefined;
  connection?: string | undefined;
}

export function GrantsPage(props: {
  viewer: Viewer;
  now: Date;
  grants: AdminGrant[];
  /** Statements recorded in each grant's audit chain, by grant id. */
  statements: Map<string, number>;
  filters: GrantFilters;
  next?: string | undefined;
  notice?: Notice | undefined;
}) {
  const { filters } = props;
  const statuses = ['', 'pending', 'active', 'denied', 'expired', 'revoked'];
  const more = props.next
    ? `/console/grants?${new URLSearchParams({
        ...Object.fromEntries(Object.entries(filters).filter(([, value]) => value)),
        next: props.next,
      }).toString()}`
    : undefined;
  return (
    <Page title="Grants" section="grants" viewer={props.viewer}>
      <NoticeBox notice={props.notice} />
      <form class="filters" method="get" action="/console/grants" aria-label="Filter grants">
        <div>
          <label for="status">Status</label>
          <select id="status" name="status">
            {statuses.map((status) => (
              <option value={status} selected={filters.status === status || (!filters.status && status === '')}>
                {status || 'any'}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="subject">Subject</label>
          <input id="subject" name="subject" value={filters.subject ?? ''} maxlength={256} placeholder="agent:demo" />
        </div>
        <div>
          <label for="connection">Connection</label>
          <input id="connection" name="connection" value={filters.connection ?? ''} maxlength={128} />
        </div>
        <button type="submit">Filter</button>
      </form>
      {props.grants.length === 0 ? (
        <p class="card">No grants match.</p>
      ) : (
        <table class="stack">
          <thead>
            <tr>
              <th scope="col">Grant</th>
              <th scope="col">Status</th>
              <th scope="col">Requester</th>
              <th scope="col">Access</th>
              <th scope="col">Reason</th>
              <th scope="col">Rule</th>
              <th scope="col">Role</th>
              <th scope="col">Window</th>
              <th scope="col">Statements</th>
            </tr>
          </thead>
          <tbody>
            {props.grants.map((grant) => (
              <tr>
                <td data-label="Grant">
                  <a class="mono" href={`/console/grants/${encodeURIComponent(grant.id)}`}>
                    {grant.id.slice(0, 12)}
                  </a>
                </td>
                <td data-label="Status">
                  <Badge value={grant.status} />
                </td>
                <td data-label="Requester">{grant.subject}</td>
                <td data-label="Access">
                  {grant.access} on {grant.connection}
                </td>
                <td data-label="Reason">{grant.reason}</td>
                <td data-label="Rule">{grant.rule}</td>
                <td data-label="Role">
                  {/* A role exists in Postgres only once the window opened. */}
                  {grant.activatedAt ? (
                    <code>{grant.role}</code>
                  ) : (
                    <span class="muted">{grant.status === 'pending' ? 'none yet' : 'none'}</span>
                  )}
                </td>
                <td data-label="Window">
                  <Window grant={grant} now={props.now} />
                </td>
                <td data-label="Statements">{props.statements.get(grant.id) ?? 0}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {more && (
        <p>
          <a href={more}>Older grants</a>
        </p>
      )}
    </Page>
  );
}

function eventLine(event: AuditEvent, grant: GrantRecord) {
  switch (event.type) {
    case 'grant.requested':
      return (
        <>
          <strong>Requested</strong> by {event.subject}: {event.access} on {event.connection} for{' '}
          {seconds(event.requestedTtlSeconds)}
          {event.requestedTtlSeconds !== event.ttlSeconds ? ` (clamped to ${seconds(event.ttlSeconds)})` : ''} — “
          {event.reason}”. Rule {event.rule}: {event.needsApproval ? 'needs human approval' : 'granted automatically'}.
        </>
      );
    case 'grant.approved':
      return (
        <>
          <strong>Approved</strong> by {event.by} ({event.approvals} of {event.required})
          {event.reason ? ` — “${event.reason}”` : ''}
        </>
      );
    case 'grant.denied':
      return (
        <>
          <strong>Denied</strong> by {event.by}
          {event.reason ? ` — “${event.reason}”` : ''}
        </>
      );
    case 'grant.activated':
      return (
        <>
          <strong>Activated</strong>: window until <Time at={event.expiresAt} />, role <code>{event.role}</code>
        </>
      );
    case 'grant.revoked':
      return (
        <>
          <strong>Revoked</strong> by {event.by}
          {event.reason ? ` — “${event.reason}”` : ''}: window closed, role dropped
        </>
      );
    case 'grant.expired':
      return (
        <>
          <strong>Expired</strong> ({event.previous === 'pending' ? 'never approved' : 'window ended'}): role dropped
        </>
      );
    case 'statement': {
      const facts = [
        event.kind ? event.kind.toUpperCase() : null,
        event.tables.length ? `tables ${event.tables.join(', ')}` : null,
        typeof event.rowCount === 'number' ? `${event.rowCount} row${event.rowCount === 1 ? '' : 's'}` : null,
        typeof event.durationMs === 'number' ? `${event.durationMs} ms` : null,
        event.maskedColumns.length ? `masked ${event.maskedColumns.join(', ')}` : null,
        event.guardrail ? `guardrail ${event.guardrail}` : null,
        event.error ? `${event.error.code}${event.error.sqlstate ? ` ${event.error.sqlstate}` : ''}` : null,
      ].filter((fact) => fact !== null);
      return (
        <>
          <Badge value={event.decision} /> statement
          <pre>{event.normalizedSql ?? '(not parsed)'}</pre>
          <span class="muted">{facts.join(' · ')}</span>
        </>
      );
    }
    case 'statement.approved':
    case 'statement.denied':
      return (
        <>
          <strong>{event.type === 'statement.approved' ? 'Statement approved' : 'Statement denied'}</strong> by{' '}
          {event.by} (guardrail {event.guardrail}){event.reason ? ` — “${event.reason}”` : ''}
        </>
      );
    default:
      return (
        <>
          <strong>{event.type}</strong> on {grant.id}
        </>
      );
  }
}

export function StoryPage(props: {
  viewer: Viewer;
  roles: Roles;
  now: Date;
  grant: GrantRecord;
  events: AuditEvent[];
  verdict: ChainVerdict;
  notice?: Notice | undefined;
}) {
  const { grant, now } = props;
  const statements = props.events.filter((event) => event.type === 'statement').length;
  const live = grant.status === 'active' || grant.status === 'pending';
  return (
    <Page title={`Grant ${grant.id}`} section="grants" viewer={props.viewer}>
      <NoticeBox notice={props.notice} />
      {props.verdict.verified ? (
        <p class="verdict ok" role="status">
          Chain verified: all {props.events.length} events are intact and in order.
        </p>
      ) : (
        <p class="verdict bad" role="alert">
          Chain NOT verified: {props.verdict.reason ?? 'the audit trail does not check out'}.
        </p>
      )}
      <section class="card" aria-labelledby="grant-facts">
        <h2 id="grant-facts">The grant</h2>
        <dl>
          <dt>Status</dt>
          <dd>
            <Badge value={grant.status} />
          </dd>
          <dt>Requester</dt>
          <dd>
            {grant.subject}
            {grant.email ? ` (${grant.email})` : ''}
          </dd>
          <dt>Access</dt>
          <dd>
            {grant.access} on {grant.connection}
          </dd>
          <dt>Reason</dt>
          <dd>{grant.reason}</dd>
          <dt>Rule</dt>
          <dd>{grant.rule}</dd>
          <dt>Requested</dt>
          <dd>
            <When at={grant.requestedAt} now={now} />
          </dd>
          <dt>Window</dt>
          <dd>
            <Window grant={grant} now={now} />
          </dd>
          <dt>Role</dt>
          <dd>
            <code>{grant.role}</code>
          </dd>
          <dt>Statements</dt>
          <dd>{statements}</dd>
          <dt>Decisions</dt>
          <dd>
            {grant.decisions.length === 0
              ? 'none'
              : grant.decisions.map((decision) => (
                  <div>
                    {decision.decision} by {decision.by} <Time at={decision.at} />
                    {decision.reason ? ` — “${decision.reason}”` : ''}
                  </div>
                ))}
          </dd>
        </dl>
      </section>
      {live && props.roles.operator && (
        <form class="card" id="revoke" method="post" action={`/console/grants/${encodeURIComponent(grant.id)}/revoke`}>
          <h2>Revoke</h2>
          <Csrf token={props.viewer.csrf} />
          <div class="field">
            <label for="revoke-reason">Reason (required)</label>
            <textarea id="revoke-reason" name="reason" required maxlength={1000} rows={2} />
          </div>
          <button class="danger" type="submit">
            Revoke this grant
          </button>
        </form>
      )}
      <section aria-labelledby="timeline">
        <h2 id="timeline">Timeline</h2>
        <p>
          <a href={`/console/grants/${encodeURIComponent(grant.id)}/events.json`} download>
            Download the events as JSON
          </a>
        </p>
        <ol class="timeline">
          {props.events.map((event) => (
            <li>
              <div class="when">
                #{event.seq} · <Time at={event.at} />
              </div>
              {eventLine(event, grant)}
            </li>
          ))}
        </ol>
      </section>
    </Page>
  );
}

function ApprovalCard(props: { approval: PublicApproval; viewer: Viewer; now: Date }) {
  const { approval, now } = props;
  const statement = approval.statement;
  const still = Math.max(0, approval.required - approval.approvals);
  // Who can still give an approval: not whoever decided already, never the requester (as on the link page).
  const waitingOn = approval.approvers.filter(
    (approver) =>
      !approval.decisions.some((decision) => sameMailbox(decision.by, approver)) &&
      !sameMailbox(approval.requester.email, approver) &&
      !sameMailbox(approval.requester.subject, approver),
  );
  const you = (approver: string) => (sameMailbox(props.viewer.email, approver) ? `${approver} (you)` : approver);
  const title =
    approval.kind === 'grant'
      ? `${approval.access} access to ${approval.connection}`
      : `${statement?.kind.toUpperCase() ?? ''} statement on ${approval.connection}`;
  return (
    <article class="card" aria-label={title}>
      <h2>{title}</h2>
      <dl>
        <dt>Requester</dt>
        <dd>
          {approval.requester.subject}
          {approval.requester.email ? ` (${approval.requester.email})` : ''}
        </dd>
        <dt>Grant</dt>
        <dd>
          <a class="mono" href={`/console/grants/${encodeURIComponent(approval.grantId)}`}>
            {approval.grantId}
          </a>
        </dd>
        <dt>Reason</dt>
        <dd>{approval.reason}</dd>
        {approval.kind === 'grant' ? (
          <>
            <dt>Time to live</dt>
            <dd>{seconds(approval.ttlSeconds)}</dd>
            <dt>Rule</dt>
            <dd>{approval.rule}</dd>
          </>
        ) : (
          <>
            <dt>Guardrail</dt>
            <dd>
              {statement?.guardrail} — {statement?.heldBecause}
            </dd>
            <dt>Tables</dt>
            <dd>{statement?.tables.join(', ') || '(none)'}</dd>
            {statement?.measuredRows != null && (
              <>
                <dt>Rows it changed</dt>
                <dd>{statement.measuredRows} (measured by Airlock, then rolled back)</dd>
              </>
            )}
            <dt>Statement</dt>
            <dd>
              <pre>{statement?.normalizedSql}</pre>
            </dd>
            {statement?.sql !== undefined && (
              <>
                <dt>Full statement</dt>
                <dd>
                  <pre>{statement.sql}</pre>
                </dd>
              </>
            )}
            {statement?.params !== undefined && (
              <>
                <dt>Parameters</dt>
                <dd>
                  {statement.params.length === 0 ? (
                    '(none)'
                  ) : (
                    <ul class="params">
                      {statement.params.map((param) => (
                        <li>
                          <code>${param.position}</code> = <code>{param.shown}</code>
                          {param.masked !== null && <span class="muted"> (masked: {param.masked})</span>}
                        </li>
                      ))}
                    </ul>
                  )}
                </dd>
              </>
            )}
          </>
        )}
        <dt>Approvals</dt>
        <dd>
          {approval.approvals} of {approval.required} needed
        </dd>
        <dt>Already decided</dt>
        <dd>
          {approval.decisions.length === 0
            ? 'nobody yet'
            : approval.decisions.map((decision) => (
                <div>
                  {decision.decision} by {decision.by} <Time at={decision.at} />
                </div>
              ))}
        </dd>
        <dt>Still needed</dt>
        <dd>
          {still === 0
            ? 'no more approvals'
            : `${still} more approval${still === 1 ? '' : 's'}, from ${
                waitingOn.length === 0 ? 'nobody left who can give it' : waitingOn.map(you).join(', ')
              }`}
        </dd>
        <dt>Decide by</dt>
        <dd>
          <When at={approval.deadline} now={now} />
        </dd>
      </dl>
      {approval.canDecide ? (
        <form method="post" action={`/console/approvals/${encodeURIComponent(approval.id)}`}>
          <Csrf token={props.viewer.csrf} />
          <div class="field">
            <label for={`reason-${approval.id}`}>Reason (required)</label>
            <textarea id={`reason-${approval.id}`} name="reason" required maxlength={1000} rows={2} />
          </div>
          <div class="actions">
            <button class="approve" type="submit" name="decision" value="approve">
              Approve
            </button>
            <button class="deny" type="submit" name="decision" value="deny">
              Deny
            </button>
          </div>
        </form>
      ) : (
        <p class="muted">
          You cannot decide this one (you asked for it, already decided, or are not one of its approvers).
        </p>
      )}
    </article>
  );
}

export function ApprovalsPage(props: {
  viewer: Viewer;
  now: Date;
  approvals: PublicApproval[];
  notice?: Notice | undefined;
}) {
  return (
    <Page title="Approvals" section="approvals" viewer={props.viewer}>
      <NoticeBox notice={props.notice} />
      {props.approvals.length === 0 ? (
        <p class="card">Nothing waits for a decision.</p>
      ) : (
        props.approvals.map((approval) => <ApprovalCard approval={approval} viewer={props.viewer} now={props.now} />)
      )}
    </Page>
  );
}

export function LocksPage(props: {
  viewer: Viewer;
  roles: Roles;
  now: Date;
  locks: PublicLock[];
  notice?: Notice | undefined;
}) {
  return (
    <Page title="Locks" section="locks" viewer={props.viewer}>
      <NoticeBox notice={props.notice} />
      {props.roles.operator && (
        <form class="card" method="post" action="/console/locks">
          <h2>Lock a subject or a connection</h2>
          <p class="muted">
            Everything the lock covers is revoked or denied now, and new requests it covers are refused until it is
            lifted or ends.
          </p>
          <Csrf token={props.viewer.csrf} />
          <div class="field">
            <label for="lock-subject">Subject</label>
            <input id="lock-subject" class="wide" name="subject" maxlength={256} placeholder="agent:demo" />
          </div>
          <div class="field">
            <label for="lock-connection">Connection</label>
            <input id="lock-connection" class="wide" name="connection" maxlength={128} />
          </div>
          <div class="field">
            <label for="lock-ttl">Ends after (optional, e.g. 30m, 2h)</label>
            <input id="lock-ttl" name="ttl" maxlength={16} />
          </div>
          <div class="field">
            <label for="lock-reason">Reason (required)</label>
            <textarea id="lock-reason" name="reason" required maxlength={1000} rows={2} />
          </div>
          <button class="danger" type="submit">
            Create lock
          </button>
        </form>
      )}
      <h2>In force</h2>
      {props.locks.length === 0 ? (
        <p class="card">No lock is in force.</p>
      ) : (
        props.locks.map((lock) => (
          <article class="card" aria-label={`Lock ${lock.id}`}>
            <dl>
              <dt>Covers</dt>
              <dd>
                {[
                  lock.subject ? `subject ${lock.subject}` : null,
                  lock.issuer ? `of ${lock.issuer}` : null,
                  lock.connection ? `connection ${lock.connection}` : null,
                ]
                  .filter((part) => part !== null)
                  .join(', ')}
              </dd>
              <dt>Reason</dt>
              <dd>{lock.reason}</dd>
              <dt>By</dt>
              <dd>{lock.by}</dd>
              <dt>Since</dt>
              <dd>
                <When at={lock.createdAt} now={props.now} />
              </dd>
              <dt>Ends</dt>
              <dd>{lock.expiresAt ? <When at={lock.expiresAt} now={props.now} /> : 'when lifted'}</dd>
            </dl>
            {props.roles.operator && (
              <form method="post" action={`/console/locks/${encodeURIComponent(lock.id)}/lift`}>
                <Csrf token={props.viewer.csrf} />
                <div class="field">
                  <label for={`lift-${lock.id}`}>Reason for lifting (required)</label>
                  <textarea id={`lift-${lock.id}`} name="reason" required maxlength={1000} rows={2} />
                </div>
                <button class="secondary" type="submit">
                  Lift lock
                </button>
              </form>
            )}
          </article>
        ))
      )}
    </Page>
  );
}

export function SignInPage(props: { notice?: Notice | undefined }) {
  return (
    <Page title="Sign in" section={null}>
      <NoticeBox notice={props.notice} />
      <div class="card">
        <p>The console is for operators, auditors and approvers. Sign in with your organisation’s identity provider.</p>
        <p>
          <a href="/console/login">Sign in</a>
        </p>
      </div>
    </Page>
  );
}

export function ErrorPage(props: { title: string; message: string; viewer?: Viewer | undefined }) {
  return (
    <Page title={props.title} section={null} {...(props.viewer ? { viewer: props.viewer } : {})}>
      <p class="alert" role="alert">
        {props.message}
      </p>
      <p>
        <a href="/console">Back to the console</a>
      </p>
    </Page>
  );
}
