// Builds the whole Airlock (both halves, SES mail) for the API function and the sweeper. The query function
// builds only its half (shared/airlock/query.ts) and must never import this file: it would carry SES and the rest.

import { SESv2Client } from '@aws-sdk/client-sesv2';
import { type Airlock, assembleAirlock } from '../shared/airlock/index.ts';
import { createSesMailer, type Mailer } from '../shared/approvals/index.ts';
import { loadPolicyFile } from '../shared/policy/index.ts';
import { hotPathFor } from '../shared/store/index.ts';
import type { FunctionConfig } from './config.ts';
import { dynamoClient, type Observability, type Parts, secretSource } from './runtime.ts';

export interface BuildOptions {
  parts: Parts;
  /** Send approval mail through SES (API function and sweeper; the query side only records requests). */
  mail?: boolean;
  observe: Observability;
}

export async function buildAirlock(config: FunctionConfig, options: BuildOptions): Promise<Airlock> {
  const policy = await loadPolicyFile(config.policyPath);
  const mailer: Mailer | undefined = options.mail
    ? createSesMailer({ client: new SESv2Client({ region: config.region }), from: policy.mail.from })
    : undefined;
  const dynamo = dynamoClient(config);
  return assembleAirlock({
    policy,
    secrets: secretSource(config),
    dynamo,
    hotPath: await hotPathFor(dynamo),
    tables: config.tables,
    wire: config.wire,
    parts: options.parts,
    ...(config.rolePrefix ? { rolePrefix: config.rolePrefix } : {}),
    ...(mailer ? { mailer } : {}),
    observe: { logger: options.observe.logger, metrics: options.observe.metrics },
  });
}
