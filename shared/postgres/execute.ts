// Runs statements on a session as one pipeline: Parse/Bind/Execute for each, one Sync, one write, one round trip,
// with each statement's rows held to their caps as they arrive. It never sends a statement it was not given.

import { Client, DatabaseError, type Submittable } from '@neondatabase/serverless';
import { AirlockError } from '../errors.ts';
import { type Cut, type PipelineWatch, type RowBudget, type RowTally, sessionGuard } from './wire-guard.ts';

export interface WireStatement {
  text: string;
  values?: readonly unknown[];
}

export interface ResultLimits {
  maxRows: number;
  /** Bytes of rows kept, counted on the wire. */
  maxBytes: number;
  /**
   * The statement changes nothing (a plain SELECT): Postgres stops it after maxRows + 1 rows and its rowCount is the
   * rows returned. Otherwise it runs to the end, rows past the caps are dropped unread, and rowCount is the command tag's.
   */
  stopsEarly?: boolean;
}

/** One statement of a pipeline; with `result`, its rows are wanted and come back, else they are dropped. */
export interface PipelineStep extends WireStatement {
  result?: ResultLimits;
}

export interface PipelineOptions {
  /**
   * Nothing is lost if the session goes (a read-only transaction): when the last statement's rows pass its caps by more
   * than a small allowance, the session is cut instead of read to the end. Without it, rows past the caps are read and dropped.
   */
  disposableSession?: boolean;
}

/** A result column, as the driver describes it (the same object `client.query` returns in `fields`). */
export interface ResultField {
  name: string;
  tableID: number;
  columnID: number;
  dataTypeID: number;
  dataTypeSize: number;
  dataTypeModifier: number;
  format: string;
}

export interface StatementResult {
  fields: ResultField[];
  /** Values decoded by the client's type parsers, exactly as `client.query({ rowMode: 'array' })` returns them. */
  rows: unknown[][];
  rowCount: number;
  /** The command tag's verb (`SELECT`, `INSERT`, …); null when the statement was stopped before its tag. */
  command: string | null;
  truncated: boolean;
}

export interface PipelineResult {
  /** One per step with `result`, in order. */
  results: StatementResult[];
  /** The session was cut while the last statement's rows arrived: it is gone, and its transaction with it. */
  sessionLost: boolean;
}

export interface RunStatementOptions extends PipelineOptions, ResultLimits {
  /** Airlock's own statements before it, in the same round trip (BEGIN, SET LOCAL, the window check). */
  prelude?: WireStatement[];
  statement: WireStatement;
  /** Airlock's own statements after it, in the same round trip (the COMMIT of a read-only transaction). */
  epilogue?: WireStatement[];
}

/**
 * Rows past a disposable session's caps that are still read and dropped, so that a result cut by a few rows (or by
 * its maxRows + 1-th row) keeps its session; beyond it, cutting costs less than reading on (see docs/result-limits.md).
 */
const DROP_BEFORE_CUT_BYTES = 1024 * 1024;
/** Messages other than rows (errors, notices, descriptions) may be as large as the rows' cap, and at least this. */
const MIN_MESSAGE_BYTES = 1024 * 1024;
const SQLSTATE = /^[0-9A-Z]{5}$/;
const COMMAND_TAG = /^([A-Za-z]+)(?: (\d+))?(?: (\d+))?/;

/** Runs prelude, statement and epilogue in one round trip and returns the statement's result. */
export async function runStatement(
  client: Client,
  options: RunStatementOptions,
): Promise<StatementResult & { sessionLost: boolean }> {
  const prelude = options.prelude ?? [];
  const { maxRows, maxBytes, stopsEarly } = options;
  const steps: PipelineStep[] = [
    ...prelude,
    { ...options.statement, result: { maxRows, maxBytes, stopsEarly } },
    ...(options.epilogue ?? []),
  ];
  const { results, sessionLost } = await runPipeline(client, steps, options);
  return { ...results[0]!, sessionLost };
}

/**
 * Runs the steps in order as one pipeline. A step that fails ends it: Postgres skips the rest up to the Sync, and the
 * promise rejects with the server's DatabaseError once the session is ready again (`failedStep` says which step).
 */
export function runPipeline(
  client: Client,
  steps: readonly PipelineStep[],
  options: PipelineOptions = {},
): Promise<PipelineResult> {
  return new Promise((resolve, reject) => {
    for (const step of steps) {
      if (step.result) assertLimits(step.result);
    }
    const pipeline = new Pipeline(client, steps, options.disposableSession ?? false, resolve, reject);
    // The driver's typings name its Connection; a pipeline uses the narrower surface declared below.
    client.query(pipeline as unknown as Submittable);
  });
}

/** Ends the session's transaction. */
export async function endTransaction(client: Client, how: 'COMMIT' | 'ROLLBACK'): Promise<void> {
  await runPipeline(client, [{ text: how }]);
}

/**
 * Whether an error means the session is gone (or cannot be trusted) rather than that Postgres refused a statement.
 * A statement error is the server's ErrorResponse with a SQLSTATE, below FATAL, outside class 08 (but 08P01, the
 * server refusing what was sent, e.g. a parameter count) and the shutdown codes. An AirlockError was classified where
 * it was raised: only `unavailable` says the database was lost. Anything else fails closed: lost.
 */
export function isConnectionLost(error: unknown): boolean {
  if (error instanceof AirlockError) return error.code === 'unavailable';
  if (typeof error !== 'object' || error === null) return true;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  if (typeof code !== 'string' || !SQLSTATE.test(code)) return true;
  if (severity === 'FATAL' || severity === 'PANIC') return true;
  if (code.startsWith('08')) return code !== '08P01';
  return code === '57P01' || code === '57P02' || code === '57P03';
}

const failedSteps = new WeakMap<object, number>();

/** The index (in the steps given to runPipeline; for runStatement, prelude first) of the step an error came from. */
export function failedStep(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null ? failedSteps.get(error) : undefined;
}

function assertLimits(limits: ResultLimits): void {
  const positive = (value: number) => Number.isSafeInteger(value) && value > 0;
  if (!positive(limits.maxRows) || !positive(limits.maxBytes))
    throw new AirlockError('invalid_config', 'result limits must be positive whole numbers');
}

/** The parts of pg's Connection a pipeline writes with, so values are serialized exactly as `client.query` does. */
interface DriverConnection {
  stream: { write(data: Uint8Array): boolean };
  parse(message: { text: string; name?: string; types?: number[] }): void;
  bind(message: { values: readonly unknown[]; valueMapper: ValueMapper }): void;
  describe(message: { type: 'P'; name: string }): void;
  execute(message: { portal: string; rows: number }): void;
  sync(): void;
  sendCopyFail(message: string): void;
  once(event: 'readyForQuery', listener: (message: { status: string }) => void): unknown;
  once(event: 'end', listener: () => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
}

type ValueMapper = (value: unknown, index: number) => unknown;
type TypeParser = (text: string) => unknown;

interface Slot {
  limits: ResultLimits;
  fields: ResultField[];
  parsers: TypeParser[];
  rows: unknown[][];
  tag: string | null;
}

/** The driver's submittable protocol (pg's Client calls these as the server answers); one pipeline per instance. */
class Pipeline {
  private readonly slots = new Map<number, Slot>();
  private readonly watch: PipelineWatch;
  /** Executes that have ended, i.e. the index of the step the server is answering now. */
  private completed = 0;
  private error: unknown;
  private settled = false;
  private connection: DriverConnection | undefined;

  constructor(
    private readonly client: Client,
    private readonly steps: readonly PipelineStep[],
    disposable: boolean,
    private readonly resolve: (result: PipelineResult) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    const budgets = new Map<number, RowBudget>();
    let maxMessageBytes = MIN_MESSAGE_BYTES;
    let last = -1;
    for (const [index, step] of steps.entries()) {
      if (!step.result) continue;
      this.slots.set(index, { limits: step.result, fields: [], parsers: [], rows: [], tag: null });
      last = index;
      maxMessageBytes = Math.max(maxMessageBytes, step.result.maxBytes);
    }
    for (const [index, slot] of this.slots) {
      const dropBeforeCut = disposable && index === last ? DROP_BEFORE_CUT_BYTES : Number.POSITIVE_INFINITY;
      budgets.set(index, { maxRows: slot.limits.maxRows, maxBytes: slot.limits.maxBytes, dropBeforeCut });
    }
    this.watch = { budgets, tallies: new Map(), maxMessageBytes, onCut: (cut) => this.onCut(cut) };
  }

  /** Called by the client when this pipeline's turn comes; an Error returned is handed back to handleError. */
  submit(connection: DriverConnection): Error | null {
    const guard = sessionGuard(this.client);
    if (!guard) return new Error('the session was not opened under a wire guard');
    if (guard.lost) return new AirlockError('unavailable', 'the database session was lost');
    let message: Buffer;
    try {
      message = serialize(connection, this.steps);
    } catch (error) {
      // A value the driver cannot serialize: nothing was sent, the session stays as it was.
      return error instanceof Error ? error : new Error('a parameter could not be serialized');
    }
    this.connection = connection;
    connection.once('readyForQuery', this.onReady);
    connection.once('end', this.onEnd);
    guard.arm(this.watch);
    connection.stream.write(message);
    return null;
  }

  handleRowDescription(message: { fields: ResultField[] }): void {
    const slot = this.slots.get(this.completed);
    if (!slot) return;
    slot.fields = message.fields;
    slot.parsers = message.fields.map(
      (field) =>
        this.client.getTypeParser(field.dataTypeID, field.format === 'binary' ? 'binary' : 'text') as TypeParser,
    );
  }

  handleDataRow(message: { fields: Array<string | null> }): void {
    const slot = this.slots.get(this.completed);
    if (!slot || this.error !== undefined) return;
    const values = message.fields;
    const row = new Array<unknown>(values.length);
    try {
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        row[i] = value === null || value === undefined ? null : slot.parsers[i]!(value);
      }
    } catch (cause) {
      // A type parser's message may quote the value: the cause is kept, never presented.
      this.error = new AirlockError('db_error', 'a value in the result could not be decoded', {}, { cause });
      return;
    }
    slot.rows.push(row);
  }

  handleCommandComplete(message: { text: string }): void {
    const slot = this.slots.get(this.completed);
    if (slot) slot.tag = message.text;
    this.completed++;
  }

  handlePortalSuspended(): void {
    this.completed++;
  }

  handleEmptyQuery(): void {
    this.completed++;
  }

  /**
   * COPY FROM STDIN has nothing to read from. In copy mode Postgres swallows the Sync that follows: when COPY is the last
   * step, fail the copy and sync again; otherwise the next step's Parse ends the copy with an error of its own.
   */
  handleCopyInResponse(connection: DriverConnection): void {
    if (this.completed !== this.steps.length - 1) return;
    connection.sendCopyFail('COPY FROM STDIN is not supported');
    connection.sync();
  }

  handleCopyData(): void {}

  /** Settled by onReady instead: the client skips this after an error, the connection's event never is. */
  handleReadyForQuery(): void {}

  handleError(error: unknown): void {
    if (this.settled) return;
    const server = error instanceof DatabaseError && !isConnectionLost(error);
    if (this.error === undefined || server) this.error = error;
    if (server) failedSteps.set(error, this.completed);
    // The server skips to the Sync after an error: a statement error settles once the session is ready again.
    if (!server || !this.connection) this.settle();
  }

  private readonly onReady = (): void => {
    this.settle();
  };

  private readonly onEnd = (): void => {
    if (this.error === undefined) this.error = new AirlockError('unavailable', 'the database session was lost');
    this.settle();
  };

  private onCut(cut: Cut): void {
    if (this.settled) return;
    if (this.error !== undefined) {
      this.settle();
      return;
    }
    if (cut.reason === 'rows') {
      this.settle(this.completed);
      return;
    }
    this.error =
      cut.reason === 'oversized-message'
        ? new AirlockError(
            'db_error',
            'the database answered with a message larger than the result limit; the session was closed',
          )
        : new AirlockError(
            'unavailable',
            'the database session failed while reading the answer',
            {},
            { cause: cut.cause },
          );
    this.settle();
  }

  /** Ends the pipeline once: with its error, or with its results (`cutAt`: the step whose rows cut the session). */
  private settle(cutAt?: number): void {
    if (this.settled) return;
    this.settled = true;
    sessionGuard(this.client)?.disarm(this.watch);
    if (this.connection) {
      this.connection.removeListener('readyForQuery', this.onReady);
      this.connection.removeListener('end', this.onEnd);
    }
    if (this.error !== undefined) {
      this.reject(this.error);
      return;
    }
    const results: StatementResult[] = [];
    for (const [index, slot] of this.slots) {
      if (cutAt !== undefined && index > cutAt) break;
      results.push(resultOf(slot, this.watch.tallies.get(index), index === cutAt));
    }
    this.resolve({ results, sessionLost: cutAt !== undefined });
  }
}

function resultOf(slot: Slot, tally: RowTally | undefined, cut: boolean): StatementResult {
  const tag = slot.tag === null ? null : COMMAND_TAG.exec(slot.tag);
  const counted = tag?.[3] ?? tag?.[2];
  return {
    fields: slot.fields,
    rows: slot.rows,
    rowCount: slot.limits.stopsEarly || counted === undefined ? slot.rows.length : Number.parseInt(counted, 10),
    command: tag?.[1] ?? null,
    truncated: cut || (tally?.droppedRows ?? 0) > 0,
  };
}

/** The whole pipeline as one buffer, written by the driver's own serializers (captured, then sent in one write). */
function serialize(connection: DriverConnection, steps: readonly PipelineStep[]): Buffer {
  const stream = connection.stream;
  const write = stream.write;
  const chunks: Uint8Array[] = [];
  stream.write = (data: Uint8Array) => {
    chunks.push(data);
    return true;
  };
  try {
    for (const step of steps) {
      connection.parse({ text: step.text });
      connection.bind({ values: step.values ?? [], valueMapper: driverValueMapper });
      if (step.result) connection.describe({ type: 'P', name: '' });
      connection.execute({ portal: '', rows: step.result?.stopsEarly ? step.result.maxRows + 1 : 0 });
    }
    connection.sync();
  } finally {
    stream.write = write;
  }
  return Buffer.concat(chunks);
}

/**
 * The driver's own parameter serializer (pg's prepareValue), taken from its Query so that a pipeline binds values
 * exactly as `client.query` does; the driver does not export it.
 */
const driverValueMapper: ValueMapper = (() => {
  const DriverQuery = (Client as unknown as { Query: new (config: object) => { prepare(connection: object): void } })
    .Query;
  let mapper: unknown;
  const noop = () => {};
  new DriverQuery({ text: 'SELECT $1', values: [null] }).prepare({
    parsedStatements: {},
    parse: noop,
    bind: (message: { valueMapper?: unknown }) => {
      mapper = message.valueMapper;
    },
    describe: noop,
    execute: noop,
    sync: noop,
    flush: noop,
  });
  if (typeof mapper !== 'function') throw new Error('the Postgres driver no longer exposes its value serializer');
  return mapper as ValueMapper;
})();
