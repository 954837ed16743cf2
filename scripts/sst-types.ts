// Makes SST's types (.sst/platform) for typechecking sst.config.ts and stacks/, when missing or made by
// another SST version. `sst install` needs only the npm registry: no AWS account, no credentials.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const platform = join(root, '.sst', 'platform');
const wanted = (
  JSON.parse(readFileSync(join(root, 'node_modules', 'sst', 'package.json'), 'utf8')) as { version: string }
).version;
const have = existsSync(join(platform, 'version')) ? readFileSync(join(platform, 'version'), 'utf8').trim() : undefined;

if (have !== wanted || !existsSync(join(platform, 'config.d.ts'))) {
  console.log(`sst install: SST ${wanted} types into .sst/platform (was ${have ?? 'missing'})`);
  execFileSync(join(root, 'node_modules', '.bin', 'sst'), ['install', '--stage', 'ci'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, SST_SKIP_DEPENDENCY_CHECK: '1', SST_NO_BUN: '1', SST_TELEMETRY_DISABLED: '1' },
  });
}
