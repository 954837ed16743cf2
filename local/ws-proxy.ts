// WebSocket→TCP proxy so @neondatabase/serverless reaches a plain PostgreSQL, as Neon's proxy does.
// It is not an open relay: it forwards only to the targets it was given and refuses anything else.

import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface WsProxy {
  /** `host:port` of the proxy, as the Neon driver's `wsProxy` wants it. */
  address: string;
  port: number;
  close(): Promise<void>;
}

export interface WsProxyOptions {
  /** Allowed `host:port` targets, e.g. `127.0.0.1:54329`. */
  targets: string[];
  port?: number;
  host?: string;
}

/** The driver asks for `ws://<proxy>/v1?address=<host>:<port>`. */
export function wsProxyUrlFor(proxyAddress: string): (host: string, port: number | string) => string {
  return (host, port) => `${proxyAddress}/v1?address=${encodeURIComponent(`${host}:${port}`)}`;
}

export async function startWsProxy(options: WsProxyOptions): Promise<WsProxy> {
  const allowed = new Set(options.targets);
  const server: Server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only\n');
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  server.on('upgrade', (request, socket, head) => {
    const url = new URL(request.url ?? '/', 'ws://proxy');
    const target = url.searchParams.get('address') ?? '';
    if (url.pathname !== '/v1' || !allowed.has(target)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const [host, port] = splitTarget(target);
      const tcp = connect({ host, port, noDelay: true });
      ws.binaryType = 'nodebuffer';
      ws.on('message', (data: Buffer) => tcp.write(data));
      tcp.on('data', (data) => ws.send(data));
      const closeBoth = () => {
        tcp.destroy();
        if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
      };
      ws.on('close', closeBoth);
      ws.on('error', closeBoth);
      tcp.on('close', closeBoth);
      tcp.on('error', closeBoth);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  return {
    address: `${address}:${port}`,
    port,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function splitTarget(target: string): [string, number] {
  const index = target.lastIndexOf(':');
  return [target.slice(0, index), Number(target.slice(index + 1))];
}
