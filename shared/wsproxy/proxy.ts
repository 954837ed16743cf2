// WebSocket→TCP proxy so @neondatabase/serverless reaches a plain PostgreSQL, as Neon's proxy does.
// It is not an open relay: it forwards only to the allow-listed targets and refuses anything else.

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type ConnectionOptions, connect as connectTls } from 'node:tls';
import { type WebSocket, WebSocketServer } from 'ws';

export interface WsProxy {
  /** `host:port` of the proxy, as the Neon driver's `wsProxy` wants it. */
  address: string;
  port: number;
  close(): Promise<void>;
}

export interface UpstreamTls {
  /** PEM bundle the Postgres certificate must chain to (e.g. the RDS global bundle); default: Node's roots. */
  ca?: string;
  /** Verify the certificate and its host name (default true); false only encrypts. */
  verify?: boolean;
}

export interface WsProxyOptions {
  /** Allowed `host:port` targets, e.g. `127.0.0.1:54329`; compared without case. */
  targets: string[];
  port?: number;
  host?: string;
  /** Serve `wss://` with this certificate; omit behind a TLS-terminating load balancer or on loopback. */
  listenTls?: { cert: string; key: string };
  /** Speak TLS to Postgres (SSLRequest, then TLS), as RDS and Aurora expect. */
  upstreamTls?: UpstreamTls;
  /** Called once per refused or failed connection, never with data that went through. */
  log?: (line: string) => void;
}

/** PostgreSQL's SSLRequest: length 8, code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

export async function startWsProxy(options: WsProxyOptions): Promise<WsProxy> {
  const allowed = new Set(options.targets.map(normalizeTarget));
  const log = options.log ?? (() => {});
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    else res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only\n');
  };
  const server: Server = options.listenTls
    ? createHttpsServer(options.listenTls, onRequest)
    : createHttpServer(onRequest);
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });

  server.on('upgrade', (request, socket, head) => {
    const url = new URL(request.url ?? '/', 'ws://proxy');
    const target = normalizeTarget(url.searchParams.get('address') ?? '');
    if (url.pathname !== '/v1' || !allowed.has(target)) {
      log(`refused a connection to "${target}"`);
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => relay(ws, target, options.upstreamTls, log));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  return {
    address: `${address.includes(':') ? `[${address}]` : address}:${port}`,
    port,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Pipes one WebSocket to one Postgres connection; bytes sent before the upstream is ready are queued in order. */
function relay(ws: WebSocket, target: string, tls: UpstreamTls | undefined, log: (line: string) => void): void {
  const [host, port] = splitTarget(target);
  const pending: Buffer[] = [];
  let upstream: Duplex | undefined;
  let closed = false;
  const tcp = connect({ host, port, noDelay: true });
  const closeBoth = () => {
    if (closed) return;
    closed = true;
    tcp.destroy();
    upstream?.destroy();
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
  };
  ws.binaryType = 'nodebuffer';
  ws.on('message', (data: Buffer) => (upstream ? upstream.write(data) : pending.push(data)));
  ws.on('close', closeBoth);
  ws.on('error', closeBoth);
  tcp.on('close', closeBoth);
  tcp.on('error', (error) => {
    log(`upstream ${target}: ${error.message}`);
    closeBoth();
  });

  const ready = (stream: Duplex) => {
    upstream = stream;
    stream.on('data', (data: Buffer) => ws.send(data));
    for (const data of pending.splice(0)) stream.write(data);
  };
  if (!tls) {
    ready(tcp);
    return;
  }
  tcp.once('connect', () => tcp.write(SSL_REQUEST));
  tcp.once('data', (answer: Buffer) => {
    if (answer.length !== 1 || answer[0] !== 0x53 /* 'S' */) {
      log(`upstream ${target} refused TLS`);
      closeBoth();
      return;
    }
    const secure = connectTls(tlsOptions(tcp, host, tls));
    secure.once('secureConnect', () => ready(secure));
    secure.on('error', (error) => {
      log(`upstream ${target}: TLS ${error.message}`);
      closeBoth();
    });
    secure.on('close', closeBoth);
  });
}

function tlsOptions(socket: Socket, host: string, tls: UpstreamTls): ConnectionOptions {
  const verify = tls.verify ?? true;
  return {
    socket,
    ...(isIp(host) ? {} : { servername: host }),
    rejectUnauthorized: verify,
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(verify ? {} : { checkServerIdentity: () => undefined }),
  };
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

export function normalizeTarget(target: string): string {
  return target.trim().toLowerCase();
}

function splitTarget(target: string): [string, number] {
  const index = target.lastIndexOf(':');
  return [target.slice(0, index).replace(/^\[(.*)\]$/, '$1'), Number(target.slice(index + 1))];
}
