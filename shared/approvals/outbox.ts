// The local mailer: every message becomes an RFC 5322 `.eml` file in the outbox folder, named so that
// names sort by time; and the reader behind `/dev/outbox`. Must never write outside its folder.

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unavailable } from '../errors.ts';
import { APPROVAL_LINK_HEADER, type Mailer } from './mailer.ts';
import { buildMessage, parseMessage } from './mime.ts';

/** `20250101T120000123Z-000042-k3j4h5g6`: time, a per-process counter, randomness. */
export const OUTBOX_ID = /^\d{8}T\d{9}Z-\d{6}-[0-9a-z]{8}$/;
/** A decision link as Airlock writes it; the header must hold exactly one. */
const LINK = /^https?:\/\/[^\s<>"']+\/v1\/approvals\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface OutboxEntry {
  id: string;
  to: string[];
  subject: string;
  at: string;
  links: string[];
}

export interface OutboxMessage extends OutboxEntry {
  text: string;
  html: string;
}

let counter = 0;

export function createOutboxMailer(options: { dir: string; from: string; now?: () => Date }): Mailer {
  const now = options.now ?? (() => new Date());
  return {
    async send(message) {
      const at = now();
      const id = `${at.toISOString().replace(/[-:.]/g, '')}-${String(counter++ % 1_000_000).padStart(6, '0')}-${randomSuffix()}`;
      const { link, ...content } = message;
      const raw = buildMessage(
        {
          ...content,
          from: options.from,
          date: at,
          messageId: `${id}@airlock.local`,
          ...(link ? { headers: { [APPROVAL_LINK_HEADER]: link } } : {}),
        },
        `=_airlock_${randomSuffix()}`,
      );
      try {
        await mkdir(options.dir, { recursive: true });
        // Write then rename, so a reader never sees half a message.
        const temporary = join(options.dir, `.${id}.tmp`);
        await writeFile(temporary, raw, { mode: 0o600 });
        await rename(temporary, join(options.dir, `${id}.eml`));
      } catch (error) {
        throw unavailable('the outbox', error);
      }
    },
  };
}

/** Newest first. */
export async function listOutbox(dir: string): Promise<OutboxEntry[]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
  const ids = names
    .filter((name) => name.endsWith('.eml') && OUTBOX_ID.test(name.slice(0, -4)))
    .map((name) => name.slice(0, -4))
    .sort()
    .reverse();
  const messages = await Promise.all(ids.map((id) => readOutboxMessage(dir, id)));
  return messages
    .filter((message): message is OutboxMessage => message !== null)
    .map(({ text: _text, html: _html, ...entry }) => entry);
}

export async function readOutboxMessage(dir: string, id: string): Promise<OutboxMessage | null> {
  if (!OUTBOX_ID.test(id)) return null;
  const raw = await readFile(join(dir, `${id}.eml`), 'utf8').catch(() => null);
  if (raw === null) return null;
  const parsed = parseMessage(raw);
  const date = Date.parse(parsed.headers.date ?? '');
  return {
    id,
    to: (parsed.headers.to ?? '')
      .split(',')
      .map((address) => address.trim())
      .filter(Boolean),
    subject: parsed.headers.subject ?? '',
    at: Number.isNaN(date) ? '' : new Date(date).toISOString(),
    // From the structured header only: the body carries the requester's words, which may look like anything.
    links: linksOf(parsed.headers[APPROVAL_LINK_HEADER.toLowerCase()]),
    text: parsed.text,
    html: parsed.html,
  };
}

function linksOf(header: string | undefined): string[] {
  const value = header?.trim();
  return value && LINK.test(value) ? [value] : [];
}

function randomSuffix(): string {
  return [...randomBytes(8)].map((byte) => '0123456789abcdefghijklmnopqrstuvwxyz'[byte % 36]).join('');
}
