// The console's page frame: one stylesheet and one small script, both inline and allowed by their CSP hashes.
// Must never render a value unescaped, nor put anything on a page that the CSP would have to allow by name.

import { createHash } from 'node:crypto';
import type { Child } from 'hono/jsx';
import { LOCAL_TIME_SCRIPT } from '../approvals/index.ts';

const STYLE = [
  ':root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#f6f7f9;--accent:#0969da;--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700}',
  '*{box-sizing:border-box}',
  'body{font:16px/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg);margin:0}',
  'header{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1.25rem;padding:.6rem 1rem;background:#fff;border-bottom:1px solid var(--line)}',
  'header .brand{font-weight:700;color:var(--fg);text-decoration:none}',
  'nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem}',
  'nav a{color:var(--accent);text-decoration:none;padding:.2rem 0}nav a[aria-current=page]{font-weight:700;border-bottom:2px solid var(--accent)}',
  '.who{margin-left:auto;display:flex;flex-wrap:wrap;align-items:center;gap:.5rem;color:var(--muted);font-size:.9rem}',
  'main{max-width:72rem;margin:1rem auto;padding:0 1rem}',
  'h1{font-size:1.4rem;margin:.5rem 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}',
  '.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:1rem;margin:0 0 1rem}',
  'dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:0}',
  'dt{font-weight:600}dd{margin:0;overflow-wrap:break-word;word-break:normal;min-width:0}',
  'code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}',
  'code{overflow-wrap:anywhere}',
  '.card h2:first-child{margin-top:0}.card form{margin-top:1rem}',
  'pre{white-space:pre-wrap;overflow-wrap:break-word;background:#f0f2f5;padding:.5rem .75rem;border-radius:4px;margin:.25rem 0}',
  'table{width:100%;border-collapse:collapse;background:#fff;border:1px solid var(--line);border-radius:8px}',
  'th,td{text-align:left;padding:.5rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}',
  'th{font-size:.85rem;color:var(--muted);font-weight:600}',
  'td a{color:var(--accent)}',
  '.badge{display:inline-block;justify-self:start;padding:0 .5rem;border-radius:1rem;font-size:.85rem;font-weight:600;border:1px solid currentColor;white-space:nowrap}',
  '.s-active,.s-approved,.s-executed{color:var(--ok)}.s-pending,.s-held{color:var(--warn)}',
  '.s-denied,.s-revoked,.s-blocked,.s-failed{color:var(--bad)}.s-expired{color:var(--muted)}',
  '.muted{color:var(--muted);font-size:.9rem}',
  'time{white-space:nowrap}',
  'form.filters{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-end;margin:0 0 1rem}',
  'label{display:block;font-weight:600;font-size:.9rem;margin:0 0 .2rem}',
  'input,select,textarea{font:inherit;padding:.4rem;border:1px solid #8c959f;border-radius:4px;background:#fff;max-width:100%}',
  'textarea,.wide{width:100%}',
  '.field{margin:0 0 .75rem}',
  'button{font:inherit;font-weight:600;padding:.45rem 1rem;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer}',
  'button.secondary{background:#fff;color:var(--accent)}button.danger{background:var(--bad);border-color:var(--bad)}',
  'button.deny{background:#fff;color:var(--bad);border-color:var(--bad)}button.approve{background:var(--ok);border-color:var(--ok)}',
  '.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:.75rem}',
  ':focus-visible{outline:3px solid var(--accent);outline-offset:2px}',
  '.verdict{padding:.75rem 1rem;border-radius:8px;font-weight:700;margin:0 0 1rem;border:2px solid}',
  '.verdict.ok{color:var(--ok);background:#dafbe1}.verdict.bad{color:var(--bad);background:#ffebe9}',
  '.notice{padding:.6rem 1rem;border-radius:8px;background:#ddf4ff;border:1px solid #54aeff;margin:0 0 1rem}',
  '.alert{padding:.6rem 1rem;border-radius:8px;background:#ffebe9;border:1px solid var(--bad);margin:0 0 1rem}',
  'ol.timeline{list-style:none;padding:0;margin:0;border-left:3px solid var(--line)}',
  'ol.timeline li{position:relative;margin:0 0 1rem;padding:0 0 0 1rem;min-width:0;overflow-wrap:break-word}',
  'ol.timeline .when{color:var(--muted);font-size:.85rem}',
  '.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:1}',
  '@media (max-width:720px){',
  'table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}',
  'table.stack thead{position:absolute;left:-9999px}',
  'table.stack tr{border-bottom:2px solid var(--line);padding:.5rem 0}',
  'table.stack td{border:0;padding:.15rem .6rem;display:grid;grid-template-columns:7.5rem 1fr;gap:.5rem}',
  'table.stack td::before{content:attr(data-label);font-weight:600;color:var(--muted);font-size:.85rem}',
  'dl{grid-template-columns:1fr}dt{margin-top:.4rem}',
  '.who{margin-left:0}',
  '}',
].join('');

/** The approval link page's script: both show times in the viewer's local time, UTC on hover. */
const SCRIPT = LOCAL_TIME_SCRIPT;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The console's Content-Security-Policy: nothing loads or runs but this page's own hashed style and script. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  `style-src ${hash(STYLE)}`,
  `script-src ${hash(SCRIPT)}`,
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'cache-control': 'no-store',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
};

/** The tab's icon: a padlock, served by the console itself (the CSP allows images from this origin only). */
export const FAVICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="2" y="7" width="12" height="8" rx="1.5" fill="#0969da"/>' +
  '<path d="M5 7V5a3 3 0 0 1 6 0v2" fill="none" stroke="#0969da" stroke-width="2"/></svg>';

/** Who is signed in, as the frame shows it. */
export interface Viewer {
  subject: string;
  email: string | null;
  roles: string[];
  csrf: string;
}

export type Section = 'grants' | 'approvals' | 'locks' | null;

export function Page(props: { title: string; section: Section; viewer?: Viewer; children?: Child }) {
  const link = (section: Exclude<Section, null>, label: string) => (
    <a href={`/console/${section}`} aria-current={props.section === section ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex, nofollow" />
        <title>{`${props.title} · Airlock console`}</title>
        <link rel="icon" href="/console/favicon.svg" type="image/svg+xml" />
        <style dangerouslySetInnerHTML={{ __html: STYLE }} />
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header>
          <a class="brand" href="/console">
            Airlock console
          </a>
          {props.viewer && (
            <nav aria-label="Console">
              {link('grants', 'Grants')}
              {link('approvals', 'Approvals')}
              {link('locks', 'Locks')}
            </nav>
          )}
          {props.viewer && (
            <div class="who">
              <span>
                Signed in as <strong>{props.viewer.subject}</strong>
                {props.viewer.roles.length > 0 ? ` (${props.viewer.roles.join(', ')})` : ' (no console role)'}
              </span>
              <form method="post" action="/console/logout">
                <input type="hidden" name="_csrf" value={props.viewer.csrf} />
                <button class="secondary" type="submit">
                  Sign out
                </button>
              </form>
            </div>
          )}
        </header>
        <main id="main">
          <h1>{props.title}</h1>
          {props.children}
        </main>
        <script dangerouslySetInnerHTML={{ __html: SCRIPT }} />
      </body>
    </html>
  );
}

const UNITS: Array<[number, string]> = [
  [86400, 'd'],
  [3600, 'h'],
  [60, 'min'],
  [1, 's'],
];

/** "in 12 min", "3 h ago": the largest unit, rounded down. */
export function relative(at: string, now: Date): string {
  const seconds = Math.round((Date.parse(at) - now.getTime()) / 1000);
  const size = Math.abs(seconds);
  const [unit, name] = UNITS.find(([unit]) => size >= unit) ?? [1, 's'];
  const count = Math.floor(size / unit);
  return seconds >= 0 ? `in ${count} ${name}` : `${count} ${name} ago`;
}

/** A time: UTC in the markup (local time once the script ran), the UTC value on hover. */
export function Time(props: { at: string | null | undefined }) {
  if (!props.at) return <span class="muted">—</span>;
  const utc = `${props.at.slice(0, 16).replace('T', ' ')} UTC`;
  return (
    <time datetime={props.at} title={`UTC: ${props.at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`}>
      {utc}
    </time>
  );
}

/** A time with how long ago or how soon it is. */
export function When(props: { at: string | null | undefined; now: Date; label?: string }) {
  if (!props.at) return <span class="muted">—</span>;
  return (
    <span>
      {props.label ? `${props.label} ` : ''}
      {relative(props.at, props.now)} (<Time at={props.at} />)
    </span>
  );
}

export function Badge(props: { value: string }) {
  return <span class={`badge s-${props.value}`}>{props.value}</span>;
}

export function Csrf(props: { token: string }) {
  return <input type="hidden" name="_csrf" value={props.token} />;
}
