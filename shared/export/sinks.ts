// Where audit events go: a webhook (a signed POST of a JSON array) or, locally, a JSON Lines file.
// A send resolves only once the receiver has the batch (2xx, or written and synced); it never logs a URL or header.

import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';
import { AirlockError } from '../errors.ts';
import { type AuditSink, type Policy, sinkName } from '../policy/index.ts';
import { readSecret, type SecretSource } from '../secrets/index.ts';
import { SIGNATURE_HEADER, signBody } from './signature.ts';

export type ExportFormat = AuditSink['format'];

export interface Sink {
  name: string;
  type: AuditSink['type'];
  format: ExportFormat;
  /** Most records per send. */
  batchSize: number;
  /** Delivers one batch, in order; rejects with a DeliveryError when the receiver did not take it. */
  send(records: unknown[]): Promise<void>;
}

/** A batch the receiver did not take; `status` is its HTTP status, when it answered. */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A webhook sink's secret: the signing key, and headers the receiver needs (e.g. `Authorization: Splunk …`). */
export const WebhookSecret = z.object({
  key: z.string().min(32),
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), z.string()).default({}),
});
export type WebhookSecret = z.infer<typeof WebhookSecret>;

/** Headers Airlock sets itself; a secret's headers cannot replace them. */
const OWN_HEADERS = new Set(['content-type', 'user-agent', SIGNATURE_HEADER]);
const USER_AGENT = 'airlock-audit-export/1';

export interface WebhookSinkOptions {
  name: string;
  url: string;
  secret: WebhookSecret;
  format: ExportFormat;
  batchSize: number;
  /** Each POST gets this long (default 10 s). */
  timeoutMs?: number;
}

export function createWebhookSink(options: WebhookSinkOptions): Sink {
  const extra = Object.fromEntries(
    Object.entries(options.secret.headers).filter(([name]) => !OWN_HEADERS.has(name.toLowerCase())),
  );
  return {
    name: options.name,
    type: 'webhook',
    format: options.format,
    batchSize: options.batchSize,
    async send(records) {
      const body = JSON.stringify(records);
      let response: Response;
      try {
        response = await fetch(options.url, {
          method: 'POST',
          headers: {
            ...extra,
            'content-type': 'application/json',
            'user-agent': USER_AGENT,
            [SIGNATURE_HEADER]: signBody(options.secret.key, body),
          },
          body,
          // A redirect could carry the batch to a host nobody configured.
          redirect: 'error',
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
      } catch (error) {
        throw new DeliveryError(`the webhook of sink ${options.name} did not answer`, undefined, { cause: error });
      }
      await response.body?.cancel().catch(() => {});
      if (!response.ok) throw new DeliveryError(`sink ${options.name} answered ${response.status}`, response.status);
    },
  };
}

/** Appends one JSON line per record and syncs before the batch counts as delivered. */
export function createFileSink(options: { name: string; path: string; format: ExportFormat }): Sink {
  return {
    name: options.name,
    type: 'file',
    format: options.format,
    batchSize: 500,
    async send(records) {
      const file = await open(options.path, 'a', 0o600);
      try {
        await file.writeFile(records.map((record) => `${JSON.stringify(record)}\n`).join(''));
        await file.datasync();
      } catch (error) {
        throw new DeliveryError(`sink ${options.name} could not write its file`, undefined, { cause: error });
      } finally {
        await file.close();
      }
    },
  };
}

export interface SinksOptions {
  policy: Policy;
  secrets: SecretSource;
  /** File sinks exist on the local stack only; elsewhere they are refused. */
  files: boolean;
  /** Relative file paths are resolved from here (default: the working directory). */
  cwd?: string;
}

/** The policy's sinks, each with its secret read and checked; a missing or malformed secret stops the start. */
export async function loadSinks(options: SinksOptions): Promise<Sink[]> {
  const sinks: Sink[] = [];
  for (const [index, sink] of options.policy.auditExport.sinks.entries()) {
    const name = sinkName(sink);
    if (sink.type === 'file') {
      if (!options.files)
        throw new AirlockError(
          'invalid_config',
          `auditExport.sinks[${index}] (${name}): file sinks run on the local stack only; use a webhook`,
        );
      sinks.push(createFileSink({ name, path: resolve(options.cwd ?? process.cwd(), sink.path), format: sink.format }));
      continue;
    }
    const secret = await readSecret(options.secrets, sink.secret, WebhookSecret);
    sinks.push(createWebhookSink({ name, url: sink.url, secret, format: sink.format, batchSize: sink.batchSize }));
  }
  return sinks;
}
