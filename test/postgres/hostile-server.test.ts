// A server that answers with bytes no Postgres would send, behind the real WebSocket proxy: whatever the driver throws
// on them must fail that session only: the connect or the query rejects, nothing reaches the process's error handlers.

import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import { closeClient, connectClient, type WireOptions } from '../../shared/postgres/driver.ts';
import { isConnectionLost, runStatement } from '../../shared/postgres/execute.ts';
import { isSessionLost } from '../../shared/postgres/wire-guard.ts';
import { startWsProxy, type WsProxy } from '../../shared/wsproxy/proxy.ts';

type Script = (socket: Socket, sent: Buffer) => void;

function message(type: string, body: Buffer | string = ''): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeUInt32BE(payload.length + 4, 1);
  return Buffer.concat([header, payload]);
}
const int32 = (value: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value);
  return bytes;
};
const AUTH_OK = message('R', int32(0));
const READY = message('Z', 'I');

let server: Server;
let proxy: WsProxy;
let wire: WireOptions;
let port = 0;
let script: Script = () => {};
const escaped: unknown[] = [];
const onEscape = (error: unknown) => escaped.push(error);

beforeAll(async () => {
  // Answers the startup message, then hands every later write to the current script.
  server = createServer((socket) => {
    let started = false;
    socket.on('error', () => {});
    socket.on('data', (sent: Buffer) => {
      if (!started) {
        started = true;
        script(socket, Buffer.alloc(0));
        return;
      }
      script(socket, sent);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  proxy = await startWsProxy({ targets: [`127.0.0.1:${port}`] });
  wire = { wsProxy: proxy.address, secureWebSocket: false };
});

afterAll(async () => {
  await proxy.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  escaped.length = 0;
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
});

afterEach(() => {
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
});

const target = () => ({ host: '127.0.0.1', port, user: 'agent', password: 'secret', database: 'shop' });
const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

describe('a hostile or broken server', () => {
  it('a SCRAM challenge the driver cannot parse fails the connect, not the process', async () => {
    script = (socket, sent) => {
      if (sent.length === 0) socket.write(message('R', Buffer.concat([int32(10), Buffer.from('SCRAM-SHA-256\0\0')])));
      else socket.write(message('R', Buffer.concat([int32(11), Buffer.from('not a scram message')])));
    };
    const error = await connectClient(target(), wire, {}, 5000).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(isAirlockError(error, 'unavailable')).toBe(true);
    await settle();
    expect(escaped).toEqual([]);
  });

  it('a row when no query is running cuts the session; the next query rejects as a lost connection', async () => {
    script = (socket, sent) => {
      if (sent.length === 0) socket.write(Buffer.concat([AUTH_OK, READY, message('D', Buffer.from([0, 0]))]));
    };
    const client = await connectClient(target(), wire, {}, 5000);
    try {
      await expect.poll(() => isSessionLost(client)).toBe(true);
      const error = await runStatement(client, { statement: { text: 'SELECT 1' }, maxRows: 1, maxBytes: 100 }).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(isConnectionLost(error)).toBe(true);
      await settle();
      expect(escaped).toEqual([]);
    } finally {
      await closeClient(client);
    }
  });

  it('a message whose length field is impossible cuts the session during a query', async () => {
    script = (socket, sent) => {
      if (sent.length === 0) socket.write(Buffer.concat([AUTH_OK, READY]));
      else socket.write(Buffer.from([0x31, 0, 0, 0, 2, 0x32, 0, 0, 0, 4]));
    };
    const client = await connectClient(target(), wire, {}, 5000);
    try {
      const error = await runStatement(client, { statement: { text: 'SELECT 1' }, maxRows: 1, maxBytes: 100 }).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(isAirlockError(error, 'unavailable')).toBe(true);
      expect(isSessionLost(client)).toBe(true);
      await settle();
      expect(escaped).toEqual([]);
    } finally {
      await closeClient(client);
    }
  });
});
