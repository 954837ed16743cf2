import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { proxyOptions } from '../../proxy/config.ts';
import { startWsProxy, type UpstreamTls } from '../../shared/wsproxy/proxy.ts';

// A stand-in Postgres that answers SSLRequest like RDS does ('S', then TLS) and echoes what it gets.
let dir: string;
let cert: string;
let key: string;
let fakePg: Server;
let pgPort: number;
let sslAnswer = 'S';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-wsproxy-'));
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
  ]);
  [cert, key] = await Promise.all([readFile(join(dir, 'cert.pem'), 'utf8'), readFile(join(dir, 'key.pem'), 'utf8')]);
  fakePg = createServer((socket: Socket) => {
    socket.once('data', (request) => {
      if (!request.equals(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]))) return socket.destroy();
      socket.write(sslAnswer);
      if (sslAnswer !== 'S') return socket.end();
      const secure = new TLSSocket(socket, { isServer: true, cert, key });
      secure.on('data', (data) => secure.write(`pg:${data}`));
      secure.on('error', () => socket.destroy());
    });
  });
  await new Promise<void>((resolve) => fakePg.listen(0, '127.0.0.1', resolve));
  pgPort = (fakePg.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => fakePg?.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/** Opens the proxy to `target`, sends `hello` at once (before the upstream is ready) and returns what comes back. */
async function roundTrip(upstreamTls: UpstreamTls | undefined, target = `localhost:${pgPort}`): Promise<string> {
  const proxy = await startWsProxy({ targets: [`LOCALHOST:${pgPort}`], upstreamTls });
  try {
    return await new Promise<string>((resolve) => {
      const socket = new WebSocket(`ws://${proxy.address}/v1?address=${encodeURIComponent(target)}`);
      socket.on('open', () => socket.send(Buffer.from('hello')));
      socket.on('message', (data) => {
        resolve(String(data));
        socket.close();
      });
      socket.on('unexpected-response', (_req, res) => resolve(`http ${res.statusCode}`));
      socket.on('close', () => resolve('closed'));
      socket.on('error', () => resolve('error'));
    });
  } finally {
    await proxy.close();
  }
}

describe('the deployable WebSocket proxy', () => {
  it('speaks TLS to Postgres, verifying its certificate against the given CA', async () => {
    expect(await roundTrip({ ca: cert })).toBe('pg:hello');
  });

  it('refuses a Postgres certificate it cannot verify, unless told only to encrypt', async () => {
    expect(await roundTrip({})).toBe('closed');
    expect(await roundTrip({ verify: false })).toBe('pg:hello');
  });

  it('gives up when Postgres refuses TLS', async () => {
    sslAnswer = 'N';
    try {
      expect(await roundTrip({ ca: cert })).toBe('closed');
    } finally {
      sslAnswer = 'S';
    }
  });

  it('forwards only to allow-listed targets', async () => {
    expect(await roundTrip({ ca: cert }, `127.0.0.1:${pgPort}`)).toBe('http 403');
    expect(await roundTrip({ ca: cert }, 'example.com:5432')).toBe('http 403');
  });

  it('reads its configuration from the environment and refuses to run as an open relay', () => {
    expect(() => proxyOptions({})).toThrow(/WSPROXY_TARGETS/);
    expect(() => proxyOptions({ WSPROXY_TARGETS: ' , ' })).toThrow(/WSPROXY_TARGETS/);
    expect(() => proxyOptions({ WSPROXY_TARGETS: 'db.internal' })).toThrow(/host:port/);
    expect(() => proxyOptions({ WSPROXY_TARGETS: 'db:5432', WSPROXY_TLS_CERT_FILE: '/x.pem' })).toThrow(/both/);
    const options = proxyOptions({ WSPROXY_TARGETS: 'db.internal:5432, replica.internal:5432' });
    expect(options).toMatchObject({
      targets: ['db.internal:5432', 'replica.internal:5432'],
      host: '0.0.0.0',
      port: 8080,
      upstreamTls: { verify: true },
    });
    expect(proxyOptions({ WSPROXY_TARGETS: 'db:5432', WSPROXY_PG_TLS: 'off' }).upstreamTls).toBeUndefined();
  });
});
