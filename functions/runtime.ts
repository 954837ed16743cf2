// What every Lambda entry point shares: build one Airlock per warm process from the function config,
// retry a failed build on the next event, answer HTTP with the API's error shape while it is down, and
// write the function's JSON log lines and its metrics (EMF, flushed once per invocation).

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { handle, type LambdaContext } from 'hono/aws-lambda';
import type { Airlock, AirlockConfig } from '../shared/airlock/index.ts';
import { AirlockError } from '../shared/errors.ts';
import { presentError } from '../shared/http/index.ts';
import {
  acceptRequestId,
  createEmfMetrics,
  createLogger,
  describeCause,
  type Logger,
  type Metrics,
  newRequestId,
  REQUEST_ID_HEADER,
} from '../shared/observe/index.ts';
import { createAwsSecretSource, createFileSecretSource, type SecretSource } from '../shared/secrets/index.ts';
import { createDynamoClient } from '../shared/store/index.ts';
import { type FunctionConfig, renamedSecrets } from './config.ts';

export type Parts = AirlockConfig['parts'];

/** The function's log and metrics; `metrics.flush()` writes the invocation's EMF lines. */
export interface Observability {
  logger: Logger;
  metrics: Metrics & { flush(): void };
}

/** JSON lines on stdout (Lambda's request id is added per invocation) and EMF metrics under `Airlock/<stage>`. */
export function functionObservability(config: FunctionConfig, name: string): Observability {
  return {
    logger: createLogger({ level: config.logLevel, base: { fn: name } }),
    metrics: createEmfMetrics({ namespace: `Airlock/${config.stage}`, dimensions: { function: name } }),
  };
}

export function secretSource(config: FunctionConfig): SecretSource {
  if (config.test?.secretsFile) return createFileSecretSource(config.test.secretsFile);
  return renamedSecrets(
    createAwsSecretSource({ client: new SecretsManagerClient({ region: config.region }) }),
    config.secretNames,
  );
}

export function dynamoClient(config: FunctionConfig): DynamoDBClient {
  return createDynamoClient({
    region: config.region,
    ...(config.test?.dynamoEndpoint ? { endpoint: config.test.dynamoEndpoint } : {}),
  });
}

export interface Warm<T> {
  /** The built value; a failed build is forgotten, so the next event tries again. */
  get(): Promise<T>;
}

/** Builds once per warm process; a failure is logged with its cause and retried on the next event. */
export function warm<T>(build: () => Promise<T>, logger: Logger): Warm<T> {
  let current: Promise<T> | undefined;
  return {
    get() {
      current ??= build().catch((error: unknown) => {
        current = undefined;
        // The cause goes to the function's log only: the caller sees a bare 503.
        logger.error({ cause: describeCause(error) }, 'airlock: cannot start');
        throw error;
      });
      return current;
    },
  };
}

type LambdaHandler = ReturnType<typeof handle>;

/** The Hono app as a Lambda handler; while Airlock cannot be built, every request gets a JSON 503. */
export function httpHandler(airlock: Warm<Airlock>, observe: Observability): LambdaHandler {
  let handler: LambdaHandler | undefined;
  return (async (event, context) => {
    try {
      if (!handler) {
        try {
          handler = handle((await airlock.get()).app);
        } catch {
          return notReady(event as { headers?: Record<string, string | undefined> }, context);
        }
      }
      return await handler(event, context);
    } finally {
      observe.metrics.flush();
    }
  }) as LambdaHandler;
}

function notReady(event: { headers?: Record<string, string | undefined> }, context: LambdaContext | undefined) {
  const requestId = acceptRequestId(event.headers?.[REQUEST_ID_HEADER]) ?? context?.awsRequestId ?? newRequestId();
  const presented = presentError(
    new AirlockError('unavailable', 'Airlock cannot start: its configuration or a backing service is unavailable'),
    { requestId },
  );
  return {
    statusCode: presented.status,
    headers: { 'content-type': 'application/json', [REQUEST_ID_HEADER]: requestId, ...presented.headers },
    body: JSON.stringify(presented.body),
    isBase64Encoded: false,
  };
}
