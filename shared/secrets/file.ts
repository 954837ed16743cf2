// Secrets from a local JSON file (`{ "<name>": <value>, ... }`), for the local stack and tests.
// The file must not be readable by others: a looser mode is refused rather than silently used.

import { readFile, stat } from 'node:fs/promises';
import { AirlockError } from '../errors.ts';
import type { SecretSource } from './source.ts';

export function createFileSecretSource(path: string): SecretSource {
  let loaded: Promise<Record<string, unknown>> | undefined;
  const load = async (): Promise<Record<string, unknown>> => {
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new AirlockError('invalid_config', `secrets file ${path} does not exist`);
    if ((info.mode & 0o077) !== 0) throw new AirlockError('invalid_config', `secrets file ${path} must have mode 0600`);
    try {
      const value = JSON.parse(await readFile(path, 'utf8')) as unknown;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
      return value as Record<string, unknown>;
    } catch {
      throw new AirlockError('invalid_config', `secrets file ${path} is not a JSON object`);
    }
  };
  return {
    async getJson(name) {
      loaded ??= load().catch((error: unknown) => {
        loaded = undefined;
        throw error;
      });
      const secrets = await loaded;
      if (!(name in secrets)) throw new AirlockError('invalid_config', `secret "${name}" is missing from ${path}`);
      return secrets[name];
    },
  };
}
