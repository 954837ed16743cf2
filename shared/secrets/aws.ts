// Secrets from AWS Secrets Manager, cached in the warm process for a short time.
// A failed fetch is never cached, and a value is never written to a log.

import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AirlockError, unavailable } from '../errors.ts';
import type { SecretSource } from './source.ts';

export interface AwsSecretSourceOptions {
  client: Pick<SecretsManagerClient, 'send'>;
  /** How long a fetched value is reused; default 5 minutes. */
  ttlMs?: number;
  now?: () => Date;
}

export function createAwsSecretSource(options: AwsSecretSourceOptions): SecretSource {
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const now = options.now ?? (() => new Date());
  const cache = new Map<string, { at: number; value: Promise<unknown> }>();

  const fetchSecret = async (name: string): Promise<unknown> => {
    let secretString: string | undefined;
    try {
      const output = await options.client.send(new GetSecretValueCommand({ SecretId: name }));
      secretString = output.SecretString;
    } catch (error) {
      if ((error as { name?: string }).name === 'ResourceNotFoundException') {
        throw new AirlockError('invalid_config', `secret "${name}" does not exist in Secrets Manager`);
      }
      throw unavailable('Secrets Manager', error);
    }
    if (secretString === undefined) throw new AirlockError('invalid_config', `secret "${name}" has no string value`);
    try {
      return JSON.parse(secretString) as unknown;
    } catch {
      throw new AirlockError('invalid_config', `secret "${name}" is not JSON`);
    }
  };

  return {
    getJson(name) {
      const at = now().getTime();
      const hit = cache.get(name);
      if (hit && at - hit.at < ttlMs) return hit.value;
      const value = fetchSecret(name);
      cache.set(name, { at, value });
      value.catch(() => cache.delete(name));
      return value;
    },
  };
}
