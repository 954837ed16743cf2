// A candidate query function for the cold-start lever: only the query half (no grants service, approval
// decisions, MCP, SES or role minting) with the store's hot path, bundled like the real ones. Bench only.

import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { handle } from 'hono/aws-lambda';
import { parseFunctionConfig, renamedSecrets } from '../functions/config.ts';
import { createApprovalRequests } from '../shared/approvals/requests.ts';
import { createApprovalStore } from '../shared/approvals/store.ts';
import { createDynamoAuditLog } from '../shared/audit/index.ts';
import { createGrantStore } from '../shared/grants/store.ts';
import { createApp } from '../shared/http/app.ts';
import { queryRoutes } from '../shared/http/query.ts';
import { loadVerificationKeys } from '../shared/identity/grant-token.ts';
import { loadPolicyFile } from '../shared/policy/load.ts';
import { createSessionPool } from '../shared/postgres/sessions.ts';
import { createQueryService } from '../shared/query/service.ts';
import {
  createAwsSecretSource,
  createFileSecretSource,
  GrantJwksSecret,
  QueryKeysSecret,
  readSecret,
  SECRET_NAMES,
} from '../shared/secrets/index.ts';
import { parseOne } from '../shared/sql/index.ts';
import { createDynamoClient } from '../shared/store/dynamo.ts';
import { hotPathFor } from '../shared/store/hot-path.ts';
import { withHotPath } from '../shared/store/hot-path-routing.ts';

const config = parseFunctionConfig(process.env);
const policy = await loadPolicyFile(config.policyPath);
const secrets = config.test?.secretsFile
  ? createFileSecretSource(config.test.secretsFile)
  : renamedSecrets(
      createAwsSecretSource({ client: new SecretsManagerClient({ region: config.region }) }),
      config.secretNames,
    );
const sdk = createDynamoClient({
  region: config.region,
  ...(config.test?.dynamoEndpoint ? { endpoint: config.test.dynamoEndpoint } : {}),
});
const dynamo = withHotPath(sdk, await hotPathFor(sdk));
const queryKeys = await readSecret(secrets, SECRET_NAMES.queryKeys, QueryKeysSecret);
const approvals = createApprovalRequests({
  policy,
  store: createApprovalStore({ client: dynamo, table: config.tables.approvals }),
});
const query = createQueryService({
  policy,
  store: createGrantStore({ client: dynamo, table: config.tables.grants }),
  audit: createDynamoAuditLog({ client: dynamo, table: config.tables.audit }),
  verifierKeys: await loadVerificationKeys(await readSecret(secrets, SECRET_NAMES.grantJwks, GrantJwksSecret)),
  issuer: policy.publicUrl,
  roleKey: queryKeys.roleKey,
  maskingKey: queryKeys.maskingKey,
  sessions: createSessionPool({ wire: config.wire }),
  gate: approvals.gate,
});
await parseOne('SELECT 1');

export const handler = handle(createApp({ maxBodyBytes: policy.limits.maxBodyBytes }, queryRoutes({ query })));
