// What the hot-path client puts on the wire, next to what the SDK sends for the same call, both signatures
// checked by an independent SigV4 verifier; and how it behaves when the store throttles, fails, hangs or
// disagrees about the time (a scripted HTTP server: no store can be made to do these on demand).

import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DynamoDBClient,
  GetItemCommand,
  type GetItemCommandInput,
  PutItemCommand,
  type PutItemCommandInput,
  UpdateItemCommand,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAirlockError } from '../../shared/errors.ts';
import { isConditionFailure, storeCall } from '../../shared/store/dynamo.ts';
import { type DynamoCallError, type DynamoHotPath, hotPathFor } from '../../shared/store/hot-path.ts';

const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const SESSION = { ...CREDENTIALS, sessionToken: 'session-token-of-a-lambda-role' };

interface Captured {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}
type Behaviour = (request: Captured, response: ServerResponse) => void;

/** A store that records every request and answers each with the next scripted behaviour (200 `{}` when none is left). */
let server: Server;
let endpoint: string;
let captured: Captured[] = [];
let script: Behaviour[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = {
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      captured.push(entry);
      (script.shift() ?? answer(200, {}))(entry, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(() => {
  captured = [];
  script = [];
  server.closeAllConnections();
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function answer(status: number, body: unknown, headers: Record<string, string> = {}): Behaviour {
  return (_request, response) => {
    response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', ...headers });
    response.end(JSON.stringify(body));
  };
}
const failure = (status: number, type: string, message = type) =>
  answer(status, { __type: `com.amazonaws.dynamodb.v20120810#${type}`, message });
const hangUp: Behaviour = (_request, response) => response.socket?.destroy();
const silence: Behaviour = () => {};

function sdkClient(credentials: typeof CREDENTIALS = SESSION, maxAttempts = 1) {
  return new DynamoDBClient({ region: 'eu-west-1', endpoint, credentials, maxAttempts });
}

async function hotPath(
  options: Parameters<typeof hotPathFor>[1] = {},
  credentials: typeof CREDENTIALS = SESSION,
): Promise<DynamoHotPath> {
  return hotPathFor(sdkClient(credentials, 3), { backoffBaseMs: 1, ...options });
}

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** SigV4 as AWS documents it, written from the specification: true when the request's signature is right for `secret`. */
function signatureHolds(request: Captured, secret: string): boolean {
  const match =
    /^AWS4-HMAC-SHA256 Credential=[^/]+\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
      String(request.headers.authorization),
    );
  if (!match) return false;
  const [, day, region, service, signedHeaders, signature] = match as unknown as string[];
  const amzDate = String(request.headers['x-amz-date']);
  if (!amzDate.startsWith(day!)) return false;
  const payloadHash = sha256(request.body);
  const declared = request.headers['x-amz-content-sha256'];
  if (declared !== undefined && declared !== payloadHash) return false;
  const names = signedHeaders!.split(';');
  const canonicalHeaders = names
    .map(
      (name) =>
        `${name}:${String(request.headers[name] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const [path, query = ''] = request.path.split('?');
  const canonical = [request.method, path, query, canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day!), region!), service!), 'aws4_request');
  return createHmac('sha256', key).update(toSign).digest('hex') === signature;
}

const signedHeaderNames = (request: Captured) =>
  /SignedHeaders=([^,]+)/.exec(String(request.headers.authorization))![1]!.split(';');
const credentialScope = (request: Captured) =>
  /Credential=[^/]+\/\d{8}\/([^,]+),/.exec(String(request.headers.authorization))![1];
/** What the SDK signs for its own bookkeeping (invocation id, attempt counter, user agent): nothing DynamoDB acts on. */
const SDK_BOOKKEEPING = ['amz-sdk-invocation-id', 'amz-sdk-request', 'x-amz-user-agent'];

const GRANT_READ: GetItemCommandInput = {
  TableName: 'airlock-prod-grants',
  Key: { id: { S: '01J9ZK3V6Q1W8Y2B4C6D8E0F2G' } },
  ConsistentRead: true,
};
const AUDIT_APPEND: PutItemCommandInput = {
  TableName: 'airlock-prod-audit',
  Item: {
    grantId: { S: '01J9ZK3V6Q1W8Y2B4C6D8E0F2G' },
    seq: { N: '17' },
    type: { S: 'statement' },
    decision: { S: 'executed' },
    rowCount: { N: '100' },
    durationMs: { N: '1.25' },
    truncated: { BOOL: false },
    approvalId: { NULL: true },
    tables: { L: [{ S: 'public.customers' }] },
    maskedColumns: { SS: ['card_number', 'email'] },
    details: { M: { nested: { M: { bytes: { B: new Uint8Array([0, 255, 7]) } } } } },
    hash: { S: 'b'.repeat(64) },
  },
  ConditionExpression: 'attribute_not_exists(grantId)',
};
const HEAD_UPDATE: UpdateItemCommandInput = {
  TableName: 'airlock-prod-grants',
  Key: { id: { S: '01J9ZK3V6Q1W8Y2B4C6D8E0F2G' } },
  UpdateExpression: 'SET #head = :head',
  ConditionExpression: 'attribute_exists(id) AND (attribute_not_exists(#head) OR #head.#seq < :seq)',
  ExpressionAttributeNames: { '#head': 'auditHead', '#seq': 'seq' },
  ExpressionAttributeValues: { ':head': { M: { seq: { N: '17' }, hash: { S: 'b'.repeat(64) } } }, ':seq': { N: '17' } },
  ReturnValues: 'NONE',
};

describe('the same request as the SDK', () => {
  const calls = [
    ['GetItem (the grant read)', (hot: DynamoHotPath) => hot.getItem(GRANT_READ), new GetItemCommand(GRANT_READ)],
    ['PutItem (the audit append)', (hot: DynamoHotPath) => hot.putItem(AUDIT_APPEND), new PutItemCommand(AUDIT_APPEND)],
    [
      'UpdateItem (the chain head)',
      (hot: DynamoHotPath) => hot.updateItem(HEAD_UPDATE),
      new UpdateItemCommand(HEAD_UPDATE),
    ],
  ] as const;

  it.each(calls)(
    '%s: same target, body, content type, scope and signed headers; both signatures hold',
    async (_name, viaHot, command) => {
      const hot = await hotPath();
      const sdk = sdkClient();
      await sdk.send(command as GetItemCommand);
      await viaHot(hot);
      hot.close();
      sdk.destroy();
      const [fromSdk, fromHot] = captured as [Captured, Captured];
      expect(fromHot.method).toBe('POST');
      expect(fromHot.path).toBe(fromSdk.path);
      expect(fromHot.headers['x-amz-target']).toBe(fromSdk.headers['x-amz-target']);
      expect(fromHot.headers['content-type']).toBe(fromSdk.headers['content-type']);
      expect(JSON.parse(fromHot.body)).toEqual(JSON.parse(fromSdk.body));
      expect(credentialScope(fromHot)).toBe('eu-west-1/dynamodb/aws4_request');
      expect(credentialScope(fromHot)).toBe(credentialScope(fromSdk));
      const sdkSigned = signedHeaderNames(fromSdk);
      const hotSigned = signedHeaderNames(fromHot);
      expect(hotSigned).toEqual(sdkSigned.filter((name) => !SDK_BOOKKEEPING.includes(name)));
      for (const name of ['host', 'x-amz-date', 'x-amz-target', 'content-type', 'x-amz-security-token'])
        expect(hotSigned).toContain(name);
      expect(fromHot.headers['x-amz-security-token']).toBe(SESSION.sessionToken);
      expect(signatureHolds(fromSdk, SESSION.secretAccessKey)).toBe(true);
      expect(signatureHolds(fromHot, SESSION.secretAccessKey)).toBe(true);
    },
  );

  it('binary values travel as base64, as the SDK sends them', async () => {
    const hot = await hotPath();
    await hot.putItem(AUDIT_APPEND);
    hot.close();
    expect(JSON.parse(captured[0]!.body).Item.details.M.nested.M.bytes).toEqual({ B: 'AP8H' });
  });

  it('long-lived credentials: no session token header', async () => {
    const hot = await hotPath({}, CREDENTIALS);
    await hot.getItem(GRANT_READ);
    hot.close();
    expect(captured[0]!.headers['x-amz-security-token']).toBeUndefined();
    expect(signedHeaderNames(captured[0]!)).not.toContain('x-amz-security-token');
    expect(signatureHolds(captured[0]!, CREDENTIALS.secretAccessKey)).toBe(true);
  });

  it('the verifier refuses a request whose target, body or key was changed after signing', async () => {
    const hot = await hotPath();
    await hot.putItem(AUDIT_APPEND);
    hot.close();
    const signed = captured[0]!;
    expect(signatureHolds(signed, SESSION.secretAccessKey)).toBe(true);
    const retargeted = { ...signed, headers: { ...signed.headers, 'x-amz-target': 'DynamoDB_20120810.DeleteItem' } };
    expect(signatureHolds(retargeted, SESSION.secretAccessKey)).toBe(false);
    expect(
      signatureHolds({ ...signed, body: signed.body.replace('executed', 'blocked') }, SESSION.secretAccessKey),
    ).toBe(false);
    expect(signatureHolds(signed, 'another-secret')).toBe(false);
  });
});

describe('retries, as the SDK retries', () => {
  it('a 500 is retried and the call succeeds', async () => {
    script = [failure(500, 'InternalServerError')];
    const hot = await hotPath();
    const output = await hot.getItem(GRANT_READ);
    hot.close();
    expect(captured).toHaveLength(2);
    expect(output.$metadata).toMatchObject({ httpStatusCode: 200, attempts: 2 });
  });

  it('throttling is retried with backoff until it passes', async () => {
    script = [
      failure(400, 'ProvisionedThroughputExceededException'),
      failure(400, 'ThrottlingException', 'Rate of requests exceeds the allowed throughput.'),
    ];
    const hot = await hotPath();
    await hot.putItem(AUDIT_APPEND);
    hot.close();
    expect(captured).toHaveLength(3);
    // Each attempt is signed afresh.
    for (const request of captured) expect(signatureHolds(request, SESSION.secretAccessKey)).toBe(true);
  });

  it('a connection cut before the answer is retried', async () => {
    script = [hangUp];
    const hot = await hotPath();
    expect((await hot.getItem(GRANT_READ)).$metadata.attempts).toBe(2);
    hot.close();
  });

  it('an attempt with no answer is cut off after attemptTimeoutMs and retried', async () => {
    script = [silence];
    const hot = await hotPath({ attemptTimeoutMs: 200 });
    const started = performance.now();
    expect((await hot.getItem(GRANT_READ)).$metadata.attempts).toBe(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    hot.close();
  });

  it('a refusal (validation, condition) is not retried', async () => {
    script = [failure(400, 'ValidationException', 'One or more parameter values were invalid')];
    const hot = await hotPath();
    const refused = await hot.getItem(GRANT_READ).catch((caught: unknown) => caught);
    expect(refused).toMatchObject({ name: 'ValidationException', $fault: 'client' });
    script = [failure(400, 'ConditionalCheckFailedException', 'The conditional request failed')];
    const lost = await hot.putItem(AUDIT_APPEND).catch((caught: unknown) => caught);
    hot.close();
    expect(captured).toHaveLength(2);
    expect(isConditionFailure(lost)).toBe(true);
    expect((lost as DynamoCallError).message).toBe('The conditional request failed');
  });

  it('the error type comes from x-amzn-ErrorType when the store sends it', async () => {
    script = [
      answer(400, { message: 'gone' }, { 'x-amzn-errortype': 'ResourceNotFoundException:http://internal.amazon.com/' }),
    ];
    const hot = await hotPath();
    const error = await hot.getItem(GRANT_READ).catch((caught: unknown) => caught);
    hot.close();
    expect(error).toMatchObject({ name: 'ResourceNotFoundException', message: 'gone' });
  });

  it('failures past maxAttempts fail closed: `unavailable` through storeCall, whatever the cause', async () => {
    const hot = await hotPath({ maxAttempts: 3, attemptTimeoutMs: 100 });
    for (const behaviour of [failure(503, 'ServiceUnavailable'), hangUp, silence]) {
      captured = [];
      script = [behaviour, behaviour, behaviour];
      const error = await storeCall('audit log', () => hot.putItem(AUDIT_APPEND)).catch((caught: unknown) => caught);
      expect(isAirlockError(error, 'unavailable')).toBe(true);
      expect(captured).toHaveLength(3);
    }
    hot.close();
  });

  it('takes its attempts per call from the SDK client it was made from', async () => {
    script = Array.from({ length: 3 }, () => failure(500, 'InternalServerError'));
    const hot = await hotPathFor(sdkClient(SESSION, 2), { backoffBaseMs: 1 });
    const error = await hot.getItem(GRANT_READ).catch((caught: unknown) => caught);
    hot.close();
    expect(error).toMatchObject({ name: 'InternalServerError', $fault: 'server', $metadata: { attempts: 2 } });
    expect(captured).toHaveLength(2);
  });

  it('a store that keeps failing exhausts the shared retry budget: then each call is tried once', async () => {
    const hot = await hotPath({ maxAttempts: 2 });
    script = Array.from({ length: 200 }, () => failure(500, 'InternalServerError'));
    for (let i = 0; i < 40; i++) await hot.getItem(GRANT_READ).catch(() => {});
    hot.close();
    // 500 tokens at 14 per retry: 35 calls get their retry, the last 5 do not.
    expect(captured).toHaveLength(40 + 35);
  });
});

describe('clock skew', () => {
  /** A store whose clock is an hour ahead: it refuses signatures dated more than 5 minutes off its own time. */
  const aheadMs = 3600_000;
  const strictClock: Behaviour = (request, response) => {
    const serverNow = new Date(Date.now() + aheadMs);
    const dated = String(request.headers['x-amz-date']).replace(
      /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/,
      '$1-$2-$3T$4:$5:$6Z',
    );
    const skewed = Math.abs(Date.parse(dated) - serverNow.getTime()) > 300_000;
    response.writeHead(skewed ? 400 : 200, {
      'content-type': 'application/x-amz-json-1.0',
      date: serverNow.toUTCString(),
    });
    response.end(
      JSON.stringify(
        skewed
          ? { __type: 'com.amazon.coral.service#InvalidSignatureException', message: 'Signature expired: ...' }
          : {},
      ),
    );
  };

  it('corrects its clock from the store’s Date header, retries once, and stays corrected', async () => {
    script = Array.from({ length: 6 }, () => strictClock);
    const hot = await hotPath();
    expect((await hot.getItem(GRANT_READ)).$metadata.attempts).toBe(2);
    expect((await hot.putItem(AUDIT_APPEND)).$metadata.attempts).toBe(1);
    hot.close();
    expect(captured).toHaveLength(3);
    for (const request of captured) expect(signatureHolds(request, SESSION.secretAccessKey)).toBe(true);
  });

  it('as the SDK does against the same store', async () => {
    script = Array.from({ length: 6 }, () => strictClock);
    const sdk = sdkClient(SESSION, 3);
    const first = await sdk.send(new GetItemCommand(GRANT_READ));
    await sdk.send(new PutItemCommand(AUDIT_APPEND));
    sdk.destroy();
    expect(first.$metadata.attempts).toBe(2);
    expect(captured).toHaveLength(3);
  });

  it('an expired signature is not retried when the clocks agree (the retry could not help)', async () => {
    script = [failure(400, 'InvalidSignatureException', 'Signature expired')];
    const hot = await hotPath();
    const error = await hot.getItem(GRANT_READ).catch((caught: unknown) => caught);
    hot.close();
    expect(error).toMatchObject({ name: 'InvalidSignatureException' });
    expect(captured).toHaveLength(1);
  });
});
