import { stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { adminClient, infra } from '../support/infra.ts';

describe('local infrastructure', () => {
  it('reaches Postgres through the WebSocket proxy and reports column origins', async () => {
    const client = await adminClient();
    try {
      const result = await client.query({
        text: 'SELECT c.email AS contact, 1 AS one FROM public.customers c LIMIT 1',
        rowMode: 'array',
      });
      const [email, one] = result.fields;
      expect(email!.tableID).toBeGreaterThan(0);
      expect(email!.columnID).toBe(3);
      expect(one!.tableID).toBe(0);
      const oid = await client.query(`SELECT 'public.customers'::regclass::oid::int AS oid`);
      expect(oid.rows[0].oid).toBe(email!.tableID);
    } finally {
      await client.end();
    }
  });

  it('seeded the demo data deterministically', async () => {
    const client = await adminClient();
    try {
      const counts = await client.query(
        `SELECT (SELECT count(*) FROM customers)::int AS c, (SELECT count(*) FROM orders)::int AS o`,
      );
      expect(counts.rows[0]).toEqual({ c: 1000, o: 5000 });
      const bad = await client.query(
        `SELECT count(*)::int AS n FROM customers WHERE ssn !~ '^\\d{3}-\\d{2}-\\d{4}$' OR email !~ '@'`,
      );
      expect(bad.rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
  });

  it('refuses to proxy to any target but the configured Postgres', async () => {
    const attempt = (address: string) =>
      new Promise<string>((resolve) => {
        const socket = new WebSocket(`ws://${infra().proxyAddress}/v1?address=${encodeURIComponent(address)}`);
        socket.on('open', () => {
          socket.close();
          resolve('open');
        });
        socket.on('unexpected-response', (_req, res) => resolve(`http ${res.statusCode}`));
        socket.on('error', () => resolve('error'));
      });
    expect(await attempt('127.0.0.1:22')).toBe('http 403');
    expect(await attempt('example.com:5432')).toBe('http 403');
    expect(await attempt(`127.0.0.1:${infra().pgPort}`)).toBe('open');
  });

  it('keeps secrets.json private (mode 0600)', async () => {
    const info = await stat(infra().secretsPath);
    expect(info.mode & 0o777).toBe(0o600);
  });
});
