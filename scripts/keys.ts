// `npm run keys`: makes the values of Airlock's own secrets for a stage (new, rotate, retire, audit-key) as
// files with mode 0600, and prints the `aws secretsmanager put-secret-value` commands. Never prints a key.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { JWK } from 'jose';
import { generateSigningKeyPair, publicJwkOf } from '../shared/identity/index.ts';
import { GrantJwksSecret, QueryKeysSecret, SigningKeysSecret } from '../shared/secrets/index.ts';

export interface SigningKeySet {
  signingKeys: SigningKeysSecret;
  grantJwks: GrantJwksSecret;
}

/** The public set always follows the private one: every key that may have signed is published. */
function withPublic(keys: JWK[]): SigningKeySet {
  const signingKeys = SigningKeysSecret.parse({ keys });
  return { signingKeys, grantJwks: GrantJwksSecret.parse({ keys: keys.map(publicJwkOf) }) };
}

const newKid = () => `k-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`;

const token = () => randomBytes(32).toString('base64url');

export async function newKeySet(): Promise<SigningKeySet & { queryKeys: QueryKeysSecret }> {
  const { privateJwk } = await generateSigningKeyPair(newKid());
  return {
    ...withPublic([privateJwk]),
    queryKeys: QueryKeysSecret.parse({ roleKey: token(), maskingKey: token(), auditKey: token() }),
  };
}

/**
 * The query keys of a stage set up before audit chains were keyed, with an audit key added. The other keys
 * stay as they are (role passwords and masked hashes depend on them); a stage that has one keeps it.
 */
export function withAuditKey(current: unknown): QueryKeysSecret {
  const keys = QueryKeysSecret.omit({ auditKey: true }).loose().parse(current);
  if ('auditKey' in keys) throw new Error('query-keys already has an auditKey: changing it would break every chain');
  return QueryKeysSecret.parse({ ...keys, auditKey: token() });
}

/** A new key first (it signs from now on); the current keys stay, so tokens they signed still verify. */
export async function rotateSigningKeys(current: SigningKeysSecret): Promise<SigningKeySet> {
  const { privateJwk } = await generateSigningKeyPair(newKid());
  return withPublic([privateJwk, ...SigningKeysSecret.parse(current).keys]);
}

/** Drops a retiring key once nothing it signed can still be valid; the signing key cannot be retired. */
export function retireSigningKey(current: SigningKeysSecret, kid: string): SigningKeySet {
  const keys = SigningKeysSecret.parse(current).keys;
  if (keys[0]?.kid === kid) throw new Error(`key ${kid} is the one signing now: rotate first`);
  if (!keys.some((key) => key.kid === kid)) throw new Error(`no key ${kid} in the signing key set`);
  return withPublic(keys.filter((key) => key.kid !== kid));
}

async function writeSecret(dir: string, name: string, value: unknown): Promise<string> {
  const file = join(dir, `${name}.json`);
  await writeFile(file, `${JSON.stringify(value)}\n`, { mode: 0o600 });
  return file;
}

const put = (stage: string, name: string, file: string) =>
  `aws secretsmanager put-secret-value --secret-id airlock/${stage}/${name} --secret-string file://${file}`;

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { stage: { type: 'string' }, out: { type: 'string' }, from: { type: 'string' }, kid: { type: 'string' } },
  });
  const command = positionals[0] ?? 'new';
  const stage = values.stage;
  if (!stage || !/^[a-z0-9-]+$/i.test(stage))
    throw new Error(
      'usage: npm run keys -- [new|rotate|retire|audit-key] --stage <stage> [--from DIR] [--kid KID] [--out DIR]',
    );
  const out = resolve(values.out ?? `.airlock-keys-${stage}`);
  await mkdir(out, { recursive: true, mode: 0o700 });
  const current = async () => {
    if (!values.from)
      throw new Error(
        `${command} needs --from DIR holding the current signing-keys.json (aws secretsmanager get-secret-value)`,
      );
    return SigningKeysSecret.parse(JSON.parse(await readFile(join(values.from, 'signing-keys.json'), 'utf8')));
  };
  const lines: string[] = [];
  if (command === 'new') {
    const keys = await newKeySet();
    for (const [name, value] of [
      ['signing-keys', keys.signingKeys],
      ['grant-jwks', keys.grantJwks],
      ['query-keys', keys.queryKeys],
    ] as const) {
      lines.push(put(stage, name, await writeSecret(out, name, value)));
    }
  } else if (command === 'rotate' || command === 'retire') {
    const keys =
      command === 'rotate'
        ? await rotateSigningKeys(await current())
        : retireSigningKey(await current(), values.kid ?? '');
    const jwks = put(stage, 'grant-jwks', await writeSecret(out, 'grant-jwks', keys.grantJwks));
    const signing = put(stage, 'signing-keys', await writeSecret(out, 'signing-keys', keys.signingKeys));
    // Rotating: the query side must know the new key before it signs. Retiring: stop using a key before unpublishing it.
    lines.push(
      ...(command === 'rotate'
        ? [jwks, '# recycle the query function, then:', signing]
        : [signing, '# recycle the API function and the sweeper, then:', jwks]),
    );
  } else if (command === 'audit-key') {
    if (!values.from)
      throw new Error(
        'audit-key needs --from DIR holding the current query-keys.json (aws secretsmanager get-secret-value)',
      );
    const keys = withAuditKey(JSON.parse(await readFile(join(values.from, 'query-keys.json'), 'utf8')));
    lines.push(put(stage, 'query-keys', await writeSecret(out, 'query-keys', keys)), '# then recycle every function');
  } else {
    throw new Error(`unknown command "${command}" (new, rotate, retire, audit-key)`);
  }
  console.log(`wrote ${out} (mode 0600 files; delete the directory once the values are stored):\n${lines.join('\n')}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error((error as Error).message);
    process.exit(1);
  });
}
