// The wire guard on synthetic protocol bytes: whole messages reach the parser however the socket splits them, rows
// are held to their caps, and every way the bytes can be wrong or too large cuts the session without a throw.

import { describe, expect, it } from 'vitest';
import { type Cut, createWireGuard, type PipelineWatch, type RowBudget } from '../../shared/postgres/wire-guard.ts';

function message(type: string, body: Buffer | string = ''): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeUInt32BE(payload.length + 4, 1);
  return Buffer.concat([header, payload]);
}

const row = (bytes: number) => message('D', Buffer.alloc(bytes, 0x78));
const complete = (tag = 'SELECT 1') => message('C', `${tag}\0`);
const ready = () => message('Z', 'T');
const notice = (bytes: number) => message('N', Buffer.alloc(bytes, 0x6e));

/** Splits a buffer at pseudo-random points (mulberry32, seeded), one-byte pieces included. */
function split(bytes: Buffer, seed: number): Buffer[] {
  let state = seed;
  const next = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = next() % 5 === 0 ? 1 + (next() % 4) : 1 + (next() % 900);
    pieces.push(bytes.subarray(at, at + size));
    at += size;
  }
  return pieces;
}

/** Parses forwarded chunks back into messages (hex, for cheap comparison); throws if a chunk ends inside a message. */
function wholeMessages(chunks: Buffer[]): string[] {
  const messages: string[] = [];
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.length; ) {
      const size = chunk.length - at >= 5 ? chunk.readUInt32BE(at + 1) + 1 : Number.POSITIVE_INFINITY;
      if (at + size > chunk.length) throw new Error('a forwarded chunk ends inside a message');
      messages.push(chunk.toString('hex', at, at + size));
      at += size;
    }
  }
  return messages;
}

const hex = (...messages: Buffer[]) => messages.map((each) => each.toString('hex'));

function harness(maxMessageBytes = 1024) {
  const forwarded: Buffer[] = [];
  let closes = 0;
  const guard = createWireGuard({
    forward: (data) => forwarded.push(Buffer.from(data)),
    close: () => {
      closes++;
    },
    maxMessageBytes,
  });
  return { guard, forwarded, closes: () => closes };
}

function watchOf(budgets: Record<number, RowBudget>, maxMessageBytes = 1024) {
  const cuts: Cut[] = [];
  const watch: PipelineWatch = {
    budgets: new Map(Object.entries(budgets).map(([index, budget]) => [Number(index), budget])),
    tallies: new Map(),
    maxMessageBytes,
    onCut: (cut) => cuts.push(cut),
  };
  return { watch, cuts };
}

describe('framing', () => {
  it('hands the parser whole messages, in order, however the socket splits the bytes', () => {
    const stream = [
      message('1'),
      message('2'),
      message('T', Buffer.alloc(40, 1)),
      ...Array.from({ length: 30 }, (_, i) => row(i * 37)),
      row(5000),
      complete('SELECT 31'),
      ready(),
      notice(900),
    ];
    const bytes = Buffer.concat(stream);
    for (let seed = 1; seed <= 100; seed++) {
      const { guard, forwarded } = harness(8192);
      for (const piece of split(bytes, seed)) guard.receive(piece);
      expect(guard.lost).toBe(false);
      expect(wholeMessages(forwarded)).toEqual(hex(...stream));
    }
  });

  it('passes a chunk of whole messages on as it came, without copying', () => {
    const forwarded: Buffer[] = [];
    const guard = createWireGuard({ forward: (data) => forwarded.push(data), close: () => {}, maxMessageBytes: 1024 });
    const chunk = Buffer.concat([row(10), row(20), complete()]);
    guard.receive(chunk);
    expect(forwarded).toHaveLength(1);
    expect(forwarded[0]!.buffer).toBe(chunk.buffer);
  });

  it('accepts bytes as a Uint8Array too', () => {
    const { guard, forwarded } = harness();
    const bytes = Buffer.concat([row(3), complete()]);
    guard.receive(new Uint8Array(bytes));
    expect(wholeMessages(forwarded)).toEqual(hex(row(3), complete()));
  });
});

describe('refusals without a pipeline', () => {
  it('cuts at a message larger than the limit: nothing of it reaches the parser, what came before does', () => {
    const { guard, forwarded, closes } = harness(1024);
    const before = Buffer.concat([message('1'), notice(100)]);
    const big = notice(4096);
    for (const piece of split(Buffer.concat([before, big, ready()]), 7)) guard.receive(piece);
    expect(guard.lost).toBe(true);
    expect(closes()).toBe(1);
    expect(wholeMessages(forwarded)).toEqual(hex(message('1'), notice(100)));
  });

  it('decides on the header: a 600 MB row is refused before a byte of its body is held', () => {
    const { guard, forwarded } = harness(64 * 1024 * 1024);
    const header = Buffer.alloc(5);
    header.write('D', 0, 'latin1');
    header.writeUInt32BE(600_000_006, 1);
    guard.receive(Buffer.concat([complete(), header.subarray(0, 3)]));
    expect(guard.lost).toBe(false);
    guard.receive(header.subarray(3));
    expect(guard.lost).toBe(true);
    guard.receive(Buffer.alloc(65_536, 0x78));
    expect(wholeMessages(forwarded)).toEqual(hex(complete()));
  });

  it('cuts at a length field below the minimum', () => {
    const { guard, forwarded } = harness();
    const bad = Buffer.from([0x44, 0, 0, 0, 3]);
    guard.receive(Buffer.concat([complete(), bad, complete()]));
    expect(guard.lost).toBe(true);
    expect(wholeMessages(forwarded)).toEqual(hex(complete()));
  });

  it('cuts on data that is not bytes', () => {
    const { guard, forwarded } = harness();
    guard.receive('S');
    expect(guard.lost).toBe(true);
    expect(forwarded).toEqual([]);
  });

  it('keeps an exception thrown while parsing to the session: cut, not thrown', () => {
    let calls = 0;
    const guard = createWireGuard({
      forward: () => {
        calls++;
        throw new RangeError('Cannot create a string longer than 0x1fffffe8 characters');
      },
      close: () => {},
      maxMessageBytes: 1024,
    });
    const { watch, cuts } = watchOf({});
    guard.arm(watch);
    expect(() => guard.receive(complete())).not.toThrow();
    expect(guard.lost).toBe(true);
    expect(cuts.map((cut) => cut.reason)).toEqual(['driver-failure']);
    guard.receive(complete());
    expect(calls).toBe(1);
  });

  it('after the socket closed, nothing more is read', () => {
    const { guard, forwarded } = harness();
    guard.markClosed();
    guard.receive(complete());
    expect(guard.lost).toBe(true);
    expect(forwarded).toEqual([]);
  });
});

describe('a pipeline’s rows', () => {
  const budget = (overrides: Partial<RowBudget> = {}): RowBudget => ({
    maxRows: 3,
    maxBytes: 1000,
    dropBeforeCut: Number.POSITIVE_INFINITY,
    ...overrides,
  });

  it('keeps the statement’s rows up to maxRows and drops the rest unread', () => {
    const { guard, forwarded } = harness();
    const { watch, cuts } = watchOf({ 1: budget() });
    guard.arm(watch);
    const rows = Array.from({ length: 5 }, () => row(10));
    guard.receive(Buffer.concat([complete('BEGIN'), message('T', 'x'), ...rows, complete('SELECT 5'), ready()]));
    expect(wholeMessages(forwarded)).toEqual(
      hex(complete('BEGIN'), message('T', 'x'), ...rows.slice(0, 3), complete('SELECT 5'), ready()),
    );
    expect(watch.tallies.get(1)).toEqual({ keptRows: 3, keptBytes: 45, droppedRows: 2, droppedBytes: 30 });
    expect(cuts).toEqual([]);
  });

  it('keeps rows while their bytes fit maxBytes, counted whole on the wire, and nothing after the first dropped', () => {
    const { guard, forwarded } = harness();
    const { watch } = watchOf({ 0: budget({ maxRows: 100, maxBytes: 250 }) });
    guard.arm(watch);
    const rows = [row(95), row(95), row(95), row(1)];
    guard.receive(Buffer.concat([...rows, complete()]));
    // 100 + 100 = 200 fit; the third would make 300; the small fourth would fit, but a result is a prefix.
    expect(wholeMessages(forwarded)).toEqual(hex(rows[0]!, rows[1]!, complete()));
    expect(watch.tallies.get(0)).toEqual({ keptRows: 2, keptBytes: 200, droppedRows: 2, droppedBytes: 106 });
  });

  it('drops the rows of Airlock’s own statements', () => {
    const { guard, forwarded } = harness();
    const { watch } = watchOf({ 1: budget() });
    guard.arm(watch);
    guard.receive(Buffer.concat([row(10), complete(), row(11), complete()]));
    expect(wholeMessages(forwarded)).toEqual(hex(complete(), row(11), complete()));
  });

  it('cuts a disposable session once the dropped bytes pass the allowance, after the kept rows reached the parser', () => {
    const { guard, forwarded, closes } = harness();
    const { watch, cuts } = watchOf({ 0: budget({ maxRows: 2, dropBeforeCut: 100 }) });
    const seen: number[] = [];
    watch.onCut = (cut) => {
      cuts.push(cut);
      seen.push(wholeMessages(forwarded).length);
    };
    guard.arm(watch);
    guard.receive(Buffer.concat([row(10), row(10), row(40), row(40), row(40), complete()]));
    expect(cuts.map((cut) => cut.reason)).toEqual(['rows']);
    expect(seen).toEqual([2]);
    expect(closes()).toBe(1);
    expect(watch.tallies.get(0)).toMatchObject({ keptRows: 2, droppedRows: 2, droppedBytes: 90 });
  });

  it('no row over 256 MiB reaches the parser, whatever the budget allows', () => {
    const { guard, forwarded } = harness();
    const { watch } = watchOf({ 0: budget({ maxBytes: 2 ** 31 }) });
    guard.arm(watch);
    const header = Buffer.alloc(5);
    header.write('D', 0, 'latin1');
    header.writeUInt32BE(300 * 1024 * 1024, 1);
    guard.receive(header);
    for (let sent = 0; sent < 300 * 1024 * 1024 - 4; sent += 4 * 1024 * 1024)
      guard.receive(Buffer.alloc(Math.min(4 * 1024 * 1024, 300 * 1024 * 1024 - 4 - sent)));
    guard.receive(complete());
    expect(guard.lost).toBe(false);
    expect(wholeMessages(forwarded)).toEqual(hex(complete()));
    expect(watch.tallies.get(0)).toMatchObject({ keptRows: 0, droppedRows: 1 });
  });

  it('cuts at a non-row message larger than the pipeline accepts', () => {
    const { guard } = harness(1 << 20);
    const { watch, cuts } = watchOf({ 0: budget() }, 500);
    guard.arm(watch);
    guard.receive(Buffer.concat([message('E', Buffer.alloc(600, 0x45)), ready()]));
    expect(cuts.map((cut) => cut.reason)).toEqual(['oversized-message']);
  });

  it('counts Executes by CommandComplete, PortalSuspended and EmptyQuery', () => {
    const { guard, forwarded } = harness();
    const { watch } = watchOf({ 3: budget() });
    guard.arm(watch);
    guard.receive(Buffer.concat([complete(), message('s'), message('I'), row(7), complete()]));
    expect(wholeMessages(forwarded)).toContain(row(7).toString('hex'));
  });

  it('lets go of the pipeline at its ReadyForQuery', () => {
    const { guard, forwarded } = harness(64);
    const { watch, cuts } = watchOf({ 0: budget({ maxRows: 0 }) });
    guard.arm(watch);
    guard.receive(Buffer.concat([ready(), row(10)]));
    expect(wholeMessages(forwarded)).toEqual(hex(ready(), row(10)));
    expect(cuts).toEqual([]);
  });
});
