// Stands between a Postgres session's WebSocket and the driver's protocol parser: frames the server's messages,
// holds a pipeline's rows to their caps as they arrive, and keeps every exception raised in the driver to its session.
// It must never let a message past its cap reach the parser, nor let an exception escape into the event loop.

import type { Client } from '@neondatabase/serverless';

/** What the statement at one Execute of a pipeline may keep. */
export interface RowBudget {
  maxRows: number;
  /** Bytes of kept rows, counted on the wire (each DataRow message whole). */
  maxBytes: number;
  /** Bytes of rows past the caps that are read and dropped before the session is cut instead; Infinity: never cut. */
  dropBeforeCut: number;
}

export interface RowTally {
  keptRows: number;
  keptBytes: number;
  droppedRows: number;
  droppedBytes: number;
}

/** Why a session was cut: rows past a disposable session's allowance, or a session that can no longer be trusted. */
export type CutReason = 'rows' | 'oversized-message' | 'malformed-message' | 'driver-failure' | 'send-failure';

export interface Cut {
  reason: CutReason;
  /** The exception behind a driver or send failure; it may quote a value, so it is never presented. */
  cause?: unknown;
}

/** One pipeline's view of the wire, from its write to its ReadyForQuery. */
export interface PipelineWatch {
  /** Budgets by Execute index (the n-th Execute of the pipeline); rows of any other Execute are dropped. */
  budgets: ReadonlyMap<number, RowBudget>;
  /** Filled in by the guard, by Execute index. */
  tallies: Map<number, RowTally>;
  /** The largest message other than a DataRow the pipeline accepts. */
  maxMessageBytes: number;
  onCut(cut: Cut): void;
}

export interface SessionGuard {
  /** Applies a pipeline's budgets to the messages that follow, until its ReadyForQuery or disarm(). */
  arm(watch: PipelineWatch): void;
  disarm(watch: PipelineWatch): void;
  /** Stops reading, closes the socket and marks the session lost; the armed pipeline hears why. */
  cut(cut: Cut): void;
  /** The socket closed: nothing more will come; the driver tells the running query itself. */
  markClosed(): void;
  /** Cut, failed or closed: the session must never be used again. */
  readonly lost: boolean;
}

/** The largest message accepted when no pipeline is armed (Airlock's own queries, the admin side): far above theirs. */
const UNARMED_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** No message larger than this reaches the parser, whatever a pipeline allows: half of the longest string V8 makes. */
const CEILING_MESSAGE_BYTES = 256 * 1024 * 1024;

const HEADER_BYTES = 5;
const DATA_ROW = 0x44; // 'D'
const COPY_DATA = 0x64; // 'd'
const COMMAND_COMPLETE = 0x43; // 'C'
const PORTAL_SUSPENDED = 0x73; // 's'
const EMPTY_QUERY = 0x49; // 'I'
const READY_FOR_QUERY = 0x5a; // 'Z'

/** The parts of the Neon driver's Socket shim this module relies on (see its `connect`: one 'data' per message). */
interface DriverSocket {
  emit(event: string | symbol, ...args: unknown[]): boolean;
  ws: { close(): void; terminate?: () => void } | null;
}

interface EventTargetLike {
  addEventListener(type: string, listener: (event: unknown) => void, options?: unknown): void;
  send(data: unknown): void;
}
type WebSocketClass = new (url: string, protocols?: string | string[]) => EventTargetLike;

const guards = new WeakMap<object, SessionGuard>();

export function sessionGuard(client: Client): SessionGuard | undefined {
  return guards.get(client);
}

/** Whether the session was cut, failed or closed under the guard: it must never be used again. */
export function isSessionLost(client: Client): boolean {
  return guards.get(client)?.lost ?? false;
}

/**
 * Puts a not yet connected client under a guard: the socket's 'data' goes through the guard's framing first, and
 * every listener the driver puts on the WebSocket runs inside a catch that cuts this session only.
 * Postgres-level TLS must stay off (the Neon driver's `forceDisablePgSSL`): the guard frames plain protocol bytes.
 */
export function guardSession(client: Client): SessionGuard {
  const existing = guards.get(client);
  if (existing) return existing;
  const socket = client.connection.stream as unknown as DriverSocket;
  const emit = socket.emit;
  const guard = createWireGuard({
    forward: (data) => emit.call(socket, 'data', data),
    close: () => {
      const ws = socket.ws;
      if (!ws) return;
      if (typeof ws.terminate === 'function') ws.terminate();
      else ws.close();
    },
    maxMessageBytes: UNARMED_MAX_MESSAGE_BYTES,
  });
  socket.emit = (event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'data') {
      guard.receive(args[0]);
      return true;
    }
    // Lost from the moment the socket closes, before the driver's own handlers run.
    if (event === 'close') guard.markClosed();
    return emit.call(socket, event, ...args);
  };
  const config = client.neonConfig;
  const base = config.webSocketConstructor as unknown as WebSocketClass | undefined;
  if (base)
    config.webSocketConstructor = containedWebSocket(base, guard) as unknown as typeof config.webSocketConstructor;
  // The driver's SCRAM step is async: a rejection there would be unhandled; it fails the connect instead.
  const scramContinue = client._handleAuthSASLContinue.bind(client);
  client._handleAuthSASLContinue = (message: unknown) =>
    scramContinue(message).catch((error: unknown) => {
      client.connection.emit('error', error);
    });
  client.on('error', () => {}); // a failed session is noticed through its queries and isSessionLost, never by a throw
  guards.set(client, guard);
  return guard;
}

export interface WireGuardOptions {
  /** Hands whole messages on to the driver's parser; whatever it throws cuts the session. */
  forward: (data: Buffer) => void;
  /** Drops the connection. */
  close: () => void;
  maxMessageBytes: number;
}

/** The guard itself, on any byte source: `receive` takes what the socket delivered, in order. */
export function createWireGuard(options: WireGuardOptions): SessionGuard & { receive(data: unknown): void } {
  return new WireGuard(options.forward, options.close, options.maxMessageBytes);
}

function containedWebSocket(Base: WebSocketClass, guard: SessionGuard): WebSocketClass {
  return class ContainedWebSocket extends Base {
    override addEventListener(type: string, listener: (event: unknown) => void, options?: unknown): void {
      super.addEventListener(
        type,
        (event: unknown) => {
          try {
            listener(event);
          } catch (error) {
            guard.cut({ reason: 'driver-failure', cause: error });
          }
        },
        options,
      );
    }

    override send(data: unknown): void {
      try {
        super.send(data);
      } catch (error) {
        guard.cut({ reason: 'send-failure', cause: error });
      }
    }
  };
}

type Verdict = 'forward' | 'drop' | 'cut';

class WireGuard implements SessionGuard {
  lost = false;
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerHave = 0;
  /** A forwarded message that spans chunks, gathered here so the parser only ever gets whole messages. */
  private message: Buffer | undefined;
  private messageHave = 0;
  /** Bytes left of a dropped message. */
  private dropLeft = 0;
  private watch: PipelineWatch | undefined;
  /** Executes of the armed pipeline that have ended (CommandComplete, PortalSuspended or EmptyQuery seen). */
  private executes = 0;
  private pendingCut: Cut | undefined;

  constructor(
    private readonly forward: (data: Buffer) => void,
    private readonly close: () => void,
    private readonly maxMessageBytes: number,
  ) {}

  arm(watch: PipelineWatch): void {
    this.watch = watch;
    this.executes = 0;
  }

  disarm(watch: PipelineWatch): void {
    if (this.watch === watch) this.watch = undefined;
  }

  markClosed(): void {
    this.lost = true;
    this.watch = undefined;
    this.message = undefined;
  }

  cut(cut: Cut): void {
    if (this.lost) return;
    this.lost = true;
    this.message = undefined;
    const watch = this.watch;
    this.watch = undefined;
    try {
      this.close();
    } catch {
      // The socket is dropped either way: nothing more is read from it.
    }
    if (watch) {
      try {
        watch.onCut(cut);
      } catch {
        // A pipeline's own bookkeeping must not undo the cut.
      }
    }
  }

  /**
   * Splits a chunk into whole messages for the parser and bytes that are dropped, deciding each message on its
   * header: whole messages inside the chunk go on as slices of it, a message that spans chunks is gathered first.
   */
  receive(data: unknown): void {
    if (this.lost) return;
    if (!(data instanceof Uint8Array)) {
      this.cut({ reason: 'malformed-message' });
      return;
    }
    const chunk = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const pieces: Buffer[] = [];
    const end = chunk.length;
    /** Start of the run of whole messages that goes on as one slice. */
    let spanStart = 0;
    let at = 0;
    const closeSpan = (upTo: number) => {
      if (upTo > spanStart) pieces.push(chunk.subarray(spanStart, upTo));
    };
    while (at < end) {
      if (this.message) {
        const take = Math.min(this.message.length - this.messageHave, end - at);
        chunk.copy(this.message, this.messageHave, at, at + take);
        this.messageHave += take;
        at += take;
        spanStart = at;
        if (this.messageHave === this.message.length) {
          pieces.push(this.message);
          this.message = undefined;
        }
        continue;
      }
      if (this.dropLeft > 0) {
        const take = Math.min(this.dropLeft, end - at);
        this.dropLeft -= take;
        at += take;
        spanStart = at;
        continue;
      }
      const messageStart = at;
      let type: number;
      let length: number;
      const split = this.headerHave > 0 || end - at < HEADER_BYTES;
      if (split) {
        // A header split across chunks is held back until it is whole, then decided like any other.
        closeSpan(at);
        const take = Math.min(HEADER_BYTES - this.headerHave, end - at);
        chunk.copy(this.header, this.headerHave, at, at + take);
        this.headerHave += take;
        at += take;
        spanStart = at;
        if (this.headerHave < HEADER_BYTES) continue;
        this.headerHave = 0;
        type = this.header[0]!;
        length = this.header.readUInt32BE(1);
      } else {
        type = chunk[at]!;
        length = chunk.readUInt32BE(at + 1);
        at += HEADER_BYTES;
      }
      const verdict = this.decide(type, length);
      const bodyLength = length - 4;
      if (verdict === 'cut') {
        closeSpan(split ? spanStart : messageStart);
        spanStart = end;
        break;
      }
      if (verdict === 'drop') {
        closeSpan(split ? spanStart : messageStart);
        spanStart = at;
        this.dropLeft = bodyLength;
        continue;
      }
      if (!split && end - at >= bodyLength) {
        at += bodyLength;
        continue;
      }
      // The rest of the message is in later chunks: gather it, header first.
      closeSpan(split ? spanStart : messageStart);
      this.message = Buffer.allocUnsafe(HEADER_BYTES + bodyLength);
      if (split) this.header.copy(this.message, 0);
      else chunk.copy(this.message, 0, messageStart, at);
      this.messageHave = HEADER_BYTES;
      spanStart = at;
      if (bodyLength === 0) {
        pieces.push(this.message);
        this.message = undefined;
      }
    }
    closeSpan(end);
    for (const piece of pieces) {
      if (this.lost) return;
      try {
        this.forward(piece);
      } catch (error) {
        this.cut({ reason: 'driver-failure', cause: error });
        return;
      }
    }
    const cut = this.pendingCut;
    if (cut) {
      this.pendingCut = undefined;
      this.cut(cut);
    }
  }

  /** Decides a message on its type and length; a cut is carried out once the bytes before it have reached the parser. */
  private decide(type: number, length: number): Verdict {
    if (length < 4) return this.decideCut({ reason: 'malformed-message' });
    const size = length + 1;
    if (size > CEILING_MESSAGE_BYTES && type !== DATA_ROW && type !== COPY_DATA)
      return this.decideCut({ reason: 'oversized-message' });
    const watch = this.watch;
    if (!watch) return size > this.maxMessageBytes ? this.decideCut({ reason: 'oversized-message' }) : 'forward';
    switch (type) {
      case DATA_ROW:
        return this.decideRow(watch, size);
      case COPY_DATA:
        return 'drop';
      case COMMAND_COMPLETE:
      case PORTAL_SUSPENDED:
      case EMPTY_QUERY:
        this.executes++;
        break;
      case READY_FOR_QUERY:
        // One Sync per pipeline: what follows belongs to whatever is sent next.
        this.watch = undefined;
        break;
    }
    return size > watch.maxMessageBytes ? this.decideCut({ reason: 'oversized-message' }) : 'forward';
  }

  private decideRow(watch: PipelineWatch, size: number): Verdict {
    const budget = watch.budgets.get(this.executes);
    // Rows of Airlock's own statements are never wanted.
    if (!budget) return 'drop';
    let tally = watch.tallies.get(this.executes);
    if (!tally) {
      tally = { keptRows: 0, keptBytes: 0, droppedRows: 0, droppedBytes: 0 };
      watch.tallies.set(this.executes, tally);
    }
    // Once a row is dropped, every later one is too: a truncated result is a prefix of the whole.
    const fits = size <= CEILING_MESSAGE_BYTES && tally.keptBytes + size <= budget.maxBytes;
    if (tally.droppedRows === 0 && tally.keptRows < budget.maxRows && fits) {
      tally.keptRows++;
      tally.keptBytes += size;
      return 'forward';
    }
    if (tally.droppedBytes + size > budget.dropBeforeCut) return this.decideCut({ reason: 'rows' });
    tally.droppedRows++;
    tally.droppedBytes += size;
    return 'drop';
  }

  private decideCut(cut: Cut): Verdict {
    this.pendingCut = cut;
    return 'cut';
  }
}
