// Timing helpers of the benchmarks: lanes of requests, percentiles, a keep-alive HTTP client that costs the
// client process little. Never part of `npm test`.

import { Agent, request } from 'node:http';

export interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return {
    n: sorted.length,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
  };
}

export const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

export function roundStats(s: Stats) {
  return { n: s.n, p50: round(s.p50), p95: round(s.p95), p99: round(s.p99), mean: round(s.mean) };
}

/** Runs `task` `count` times in `width` lanes; returns per-call wall times (ms) and the total. */
export async function measure(
  count: number,
  width: number,
  task: (i: number) => Promise<void>,
): Promise<{ samples: number[]; totalMs: number }> {
  const samples: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) {
        const i = next++;
        const t0 = performance.now();
        await task(i);
        samples.push(performance.now() - t0);
      }
    }),
  );
  return { samples, totalMs: performance.now() - started };
}

export interface HttpAnswer {
  status: number;
  text: string;
}

export interface HttpClient {
  call(method: string, path: string, token?: string, body?: unknown): Promise<HttpAnswer>;
  close(): void;
}

/** `http.request` over kept-alive sockets: a fraction of `fetch`'s CPU, so the client steals less from the broker. */
export function httpClient(baseUrl: string, sockets = 16): HttpClient {
  const url = new URL(baseUrl);
  // Idle sockets are closed by the client before the server's keep-alive timeout (65 s) would close them.
  const agent = new Agent({ keepAlive: true, maxSockets: sockets, timeout: 60_000 });
  const call: HttpClient['call'] = (method, path, token, body) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<HttpAnswer>((resolve, reject) => {
      const outgoing = request(
        {
          agent,
          method,
          hostname: url.hostname,
          port: url.port,
          path,
          headers: {
            ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
        },
      );
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        // The server closed a kept-alive socket as this request went out on it: send it again on a new one.
        if (outgoing.reusedSocket && error.code === 'ECONNRESET') call(method, path, token, body).then(resolve, reject);
        else reject(error);
      });
      outgoing.end(payload);
    });
  };
  return { call, close: () => agent.destroy() };
}
