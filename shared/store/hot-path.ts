// The per-statement DynamoDB calls (GetItem, PutItem, UpdateItem) over keep-alive HTTP, signed by the SDK
// client's own SigV4 signer and credentials, without its middleware stack. Never turns a failure into a result.

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type {
  AttributeValue,
  DynamoDBClient,
  GetItemCommandInput,
  GetItemCommandOutput,
  PutItemCommandInput,
  PutItemCommandOutput,
  UpdateItemCommandInput,
  UpdateItemCommandOutput,
} from '@aws-sdk/client-dynamodb';

/** The SDK client's SigV4 signer (`client.config.signer()`): it reads the client's credential provider chain on every call. */
export type HotPathSigner = Awaited<ReturnType<DynamoDBClient['config']['signer']>>;

export interface DynamoHotPathOptions {
  /** Where DynamoDB listens, e.g. `https://dynamodb.eu-west-1.amazonaws.com` or a local store's URL. */
  endpoint: string;
  region: string;
  signer: HotPathSigner;
  /** Attempts per call, the first included (default 3). */
  maxAttempts?: number;
  /** Bound on one attempt, connection included (default 5 s); a timed-out attempt is retried like a network error. */
  attemptTimeoutMs?: number;
  /** Base of the full-jitter backoff after a transient failure (default 50 ms; throttling 20×). */
  backoffBaseMs?: number;
  /** The wall clock requests are dated by, before skew correction: never a test's moved clock. */
  now?: () => Date;
}

export type HotPathOperation = 'GetItem' | 'PutItem' | 'UpdateItem';

export interface DynamoHotPath {
  getItem(input: GetItemCommandInput): Promise<GetItemCommandOutput>;
  putItem(input: PutItemCommandInput): Promise<PutItemCommandOutput>;
  updateItem(input: UpdateItemCommandInput): Promise<UpdateItemCommandOutput>;
  /** Closes the kept-alive connections. */
  close(): void;
}

/** A store's refusal, named like the SDK's exception for it (`ConditionalCheckFailedException`, `ValidationException`, …). */
export class DynamoCallError extends Error {
  readonly $fault: 'client' | 'server';
  readonly $metadata: CallMetadata;
  /** The item a failed condition returned (`ReturnValuesOnConditionCheckFailure`), as the SDK's exception carries it. */
  readonly Item?: Record<string, AttributeValue>;

  constructor(
    name: string,
    message: string,
    fault: 'client' | 'server',
    metadata: CallMetadata,
    item?: Record<string, AttributeValue>,
  ) {
    super(message);
    this.name = name;
    this.$fault = fault;
    this.$metadata = metadata;
    if (item) this.Item = item;
  }
}

interface CallMetadata {
  httpStatusCode?: number;
  requestId?: string;
  attempts: number;
  totalRetryDelay: number;
}

// The SDK's classification (@smithy/core retry): which failures a retry may cure.
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'LimitExceededException',
  'TransactionInProgressException',
]);
const TRANSIENT = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const TRANSIENT_STATUS = new Set([500, 502, 503, 504]);
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const CLOCK_SKEW = new Set([
  'AccessDeniedException',
  'InvalidSignatureException',
  'AuthFailure',
  'RequestExpired',
  'RequestInTheFuture',
  'RequestTimeTooSkewed',
  'SignatureDoesNotMatch',
]);
/** Skew below this is within SigV4's 5-minute tolerance and left alone (a Date header has 1 s resolution). */
const SKEW_CORRECTION_MS = 60_000;
const MAX_BACKOFF_MS = 20_000;
/** A retry budget shared by all calls, as the SDK's: a store that keeps failing is not hammered. */
const RETRY_CAPACITY = 500;
const RETRY_COST = 14;
const THROTTLING_RETRY_COST = 5;

/** The hot path of an SDK client: same endpoint, region, credential chain, signer and attempts per call. */
export async function hotPathFor(
  client: DynamoDBClient,
  options: Omit<DynamoHotPathOptions, 'endpoint' | 'region' | 'signer'> = {},
): Promise<DynamoHotPath> {
  const region = await client.config.region();
  const custom = client.config.endpoint ? await client.config.endpoint() : undefined;
  const endpoint = custom
    ? `${custom.protocol}//${custom.hostname}${custom.port ? `:${custom.port}` : ''}${custom.path}`
    : client.config
        .endpointProvider({
          Region: region,
          UseFIPS: await client.config.useFipsEndpoint(),
          UseDualStack: await client.config.useDualstackEndpoint(),
        })
        .url.toString();
  return createDynamoHotPath({
    ...options,
    endpoint,
    region,
    signer: await client.config.signer(),
    maxAttempts: options.maxAttempts ?? (await client.config.maxAttempts()),
  });
}

export function createDynamoHotPath(options: DynamoHotPathOptions): DynamoHotPath {
  const url = new URL(options.endpoint);
  const secure = url.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  // Every call reuses a connection: on the query path the store is called two or three times per statement.
  const agent = secure
    ? new HttpsAgent({ keepAlive: true, maxSockets: 50 })
    : new HttpAgent({ keepAlive: true, maxSockets: 50 });
  const port = url.port ? Number(url.port) : undefined;
  const host = url.host;
  const path = url.pathname || '/';
  const maxAttempts = options.maxAttempts ?? 3;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 5000;
  const backoffBaseMs = options.backoffBaseMs ?? 50;
  const now = options.now ?? (() => new Date());
  let clockOffsetMs = 0;
  let retryCapacity = RETRY_CAPACITY;

  /** The output is the store's JSON as the SDK would return it (no schema check, like the SDK's): callers parse items. */
  async function call<Output>(operation: HotPathOperation, input: object): Promise<Output> {
    const body = JSON.stringify(input, encodeBinary);
    const headers = {
      host,
      'content-type': 'application/x-amz-json-1.0',
      'content-length': String(Buffer.byteLength(body)),
      'x-amz-target': `DynamoDB_20120810.${operation}`,
    };
    let totalRetryDelay = 0;
    for (let attempt = 1; ; attempt++) {
      const signed = await options.signer.sign(
        { method: 'POST', protocol: url.protocol, hostname: url.hostname, port, path, headers, body },
        {
          signingDate: new Date(now().getTime() + clockOffsetMs),
          signingRegion: options.region,
          signingService: 'dynamodb',
        },
      );
      let failure: unknown;
      let kind: 'throttling' | 'transient' | undefined;
      try {
        const response = await exchange(signed.headers as Record<string, string>, body);
        const skewed = correctSkew(response.date);
        const metadata = {
          httpStatusCode: response.status,
          requestId: response.requestId,
          attempts: attempt,
          totalRetryDelay,
        };
        if (response.status === 200) {
          retryCapacity = Math.min(RETRY_CAPACITY, retryCapacity + 1);
          const output = response.text ? (JSON.parse(response.text) as Record<string, unknown>) : {};
          decodeItems(output);
          output.$metadata = metadata;
          return output as Output;
        }
        const error = serviceError(response, metadata);
        failure = error;
        kind = THROTTLING.has(error.name)
          ? 'throttling'
          : TRANSIENT.has(error.name) || TRANSIENT_STATUS.has(response.status) || (skewed && CLOCK_SKEW.has(error.name))
            ? 'transient'
            : undefined;
      } catch (error) {
        failure = error;
        kind = isNetworkFailure(error) ? 'transient' : undefined;
      }
      const cost = kind === 'throttling' ? THROTTLING_RETRY_COST : RETRY_COST;
      if (!kind || attempt >= maxAttempts || retryCapacity < cost) throw failure;
      retryCapacity -= cost;
      const base = kind === 'throttling' ? backoffBaseMs * 20 : backoffBaseMs;
      const delay = Math.floor(Math.random() * Math.min(base * 2 ** (attempt - 1), MAX_BACKOFF_MS));
      totalRetryDelay += delay;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** Moves the signing clock to the store's when they disagree by more than SigV4 tolerates; true when it moved. */
  function correctSkew(date: string | undefined): boolean {
    if (!date) return false;
    const serverMs = Date.parse(date);
    if (Number.isNaN(serverMs)) return false;
    const skew = serverMs - now().getTime();
    if (Math.abs(skew - clockOffsetMs) < SKEW_CORRECTION_MS) return false;
    clockOffsetMs = skew;
    return true;
  }

  function exchange(headers: Record<string, string>, body: string): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const fail = (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      };
      const request = send({ agent, method: 'POST', hostname: url.hostname, port, path, headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', fail);
        response.on('end', () => {
          clearTimeout(timer);
          resolve(rawResponse(response, chunks));
        });
      });
      timer = setTimeout(() => {
        request.destroy(Object.assign(new Error(`no answer within ${attemptTimeoutMs} ms`), { name: 'TimeoutError' }));
      }, attemptTimeoutMs);
      request.on('error', fail);
      request.end(body);
    });
  }

  return {
    getItem: (input) => call<GetItemCommandOutput>('GetItem', input),
    putItem: (input) => call<PutItemCommandOutput>('PutItem', input),
    updateItem: (input) => call<UpdateItemCommandOutput>('UpdateItem', input),
    close: () => agent.destroy(),
  };
}

interface RawResponse {
  status: number;
  text: string;
  date?: string;
  requestId?: string;
  errorType?: string;
}

function rawResponse(response: IncomingMessage, chunks: Buffer[]): RawResponse {
  const header = (name: string) => {
    const value = response.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  return {
    status: response.statusCode ?? 0,
    text: chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'),
    date: header('date'),
    requestId: header('x-amzn-requestid'),
    errorType: header('x-amzn-errortype'),
  };
}

/** The error a non-200 answer means, named as the SDK names it: `x-amzn-ErrorType` or the body's `__type`, namespace and suffix dropped. */
function serviceError(response: RawResponse, metadata: CallMetadata): DynamoCallError {
  let body: { __type?: unknown; message?: unknown; Message?: unknown; Item?: unknown } = {};
  try {
    body = response.text ? JSON.parse(response.text) : {};
  } catch {
    // A proxy's HTML error page: the status decides.
  }
  const raw = response.errorType ?? (typeof body.__type === 'string' ? body.__type : '');
  const code = raw.split(':')[0]!.split('#').pop() || (response.status >= 500 ? 'InternalServerError' : 'UnknownError');
  const message =
    typeof body.message === 'string' ? body.message : typeof body.Message === 'string' ? body.Message : code;
  const item = isItem(body.Item) ? decodeMap(body.Item) : undefined;
  return new DynamoCallError(code, message, response.status >= 500 ? 'server' : 'client', metadata, item);
}

function isNetworkFailure(error: unknown): boolean {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  return (typeof code === 'string' && NETWORK_CODES.has(code)) || name === 'TimeoutError';
}

/** JSON.stringify replacer: binary attribute values travel as base64, as the DynamoDB JSON protocol wants. */
function encodeBinary(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  return raw instanceof Uint8Array ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') : value;
}

/** Turns the base64 of binary attribute values back into bytes, in place, as the SDK's output has them. */
function decodeItems(output: Record<string, unknown>): void {
  for (const field of ['Item', 'Attributes']) {
    const item = output[field];
    if (isItem(item)) decodeMap(item);
  }
}

function isItem(value: unknown): value is Record<string, AttributeValue> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function decodeMap(map: Record<string, AttributeValue>): Record<string, AttributeValue> {
  for (const value of Object.values(map)) decodeValue(value);
  return map;
}

function decodeValue(value: AttributeValue): void {
  const wire = value as unknown as Record<string, unknown>;
  if (typeof wire.B === 'string') wire.B = bytes(wire.B);
  else if (Array.isArray(wire.BS)) wire.BS = wire.BS.map((item) => (typeof item === 'string' ? bytes(item) : item));
  else if (isItem(wire.M)) decodeMap(wire.M);
  else if (Array.isArray(wire.L)) for (const item of wire.L as AttributeValue[]) decodeValue(item);
}

function bytes(base64: string): Uint8Array {
  const buffer = Buffer.from(base64, 'base64');
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
