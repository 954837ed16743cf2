// What every Lambda entry point shares: build one Airlock per warm process from the function config,
// retry a failed build on the next event, and answer HTTP with the API's error shape while it is down.

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { handle } from 'hono/aws-lambda';
import { type Airlock, type AirlockConfig, assembleAirlock } from '../shared/airlock/index.ts';
import { createSesMailer, type Mailer } from '../shared/approvals/index.ts';
import { AirlockError } from '../shared/errors.ts';
import { presentError } from '../shared/http/index.ts';
import { loadPolicyFile } from '../shared/policy/index.ts';
import { createAwsSecretSource, createFileSecretSource, type SecretSource } from '../shared/secrets/index.ts';
import { createDynamoClient } from '../shared/store/index.ts';
import { type FunctionConfig, renamedSecrets } from './config.ts';

export type Parts = AirlockConfig['parts'];

export interface BuildOptions {
  parts: Parts;
  /** Send approval mail through SES (API function and sweeper; the query side only records requests). */
  mail?: boolean;
}

export async function buildAirlock(config: FunctionConfig, options: BuildOptions): Promise<Airlock> {
  const policy = await loadPolicyFile(config.policyPath);
  const mailer: Mailer | undefined = options.mail
    ? createSesMailer({ client: new SESv2Client({ region: config.region }), from: policy.mail.from })
    : undefined;
  return assembleAirlock({
    policy,
    secrets: secretSource(config),
    dynamo: dynamoClient(config),
    tables: config.tables,
    wire: config.wire,
    parts: options.parts,
    ...(config.rolePrefix ? { rolePrefix: config.rolePrefix } : {}),
    ...(mailer ? { mailer } : {}),
  });
}

function secretSource(config: FunctionConfig): SecretSource {
  if (config.test?.secretsFile) return createFileSecretSource(config.test.secretsFile);
  return renamedSecrets(
    createAwsSecretSource({ client: new SecretsManagerClient({ region: config.region }) }),
    config.secretNames,
  );
}

function dynamoClient(config: FunctionConfig): DynamoDBClient {
  return createDynamoClient({
    region: config.region,
    ...(config.test?.dynamoEndpoint ? { endpoint: config.test.dynamoEndpoint } : {}),
  });
}

export interface WarmAirlock {
  /** The built Airlock; a failed build is forgotten, so the next event tries again. */
  get(): Promise<Airlock>;
}

export function warmAirlock(build: () => Promise<Airlock>): WarmAirlock {
  let current: Promise<Airlock> | undefined;
  return {
    get() {
      current ??= build().catch((error: unknown) => {
        current = undefined;
        throw error;
      });
      return current;
    },
  };
}

type LambdaHandler = ReturnType<typeof handle>;

/** The Hono app as a Lambda handler; while Airlock cannot be built, every request gets a JSON 503. */
export function httpHandler(airlock: WarmAirlock): LambdaHandler {
  let handler: LambdaHandler | undefined;
  return (async (event, context) => {
    if (!handler) {
      try {
        handler = handle((await airlock.get()).app);
      } catch (error) {
        // The cause goes to the function's log only: it may name secrets or tables.
        console.error('airlock: cannot start', error);
        return notReady();
      }
    }
    return handler(event, context);
  }) as LambdaHandler;
}

function notReady() {
  const presented = presentError(
    new AirlockError('unavailable', 'Airlock cannot start: its configuration or a backing service is unavailable'),
  );
  return {
    statusCode: presented.status,
    headers: { 'content-type': 'application/json', ...presented.headers },
    body: JSON.stringify(presented.body),
    isBase64Encoded: false,
  };
}
