// One local stack per data dir: a pid file taken before anything starts, so a second `npm start` on the
// same data says which process holds it instead of failing inside Postgres. Never removes another's lock.

import { readFileSync } from 'node:fs';
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AirlockError } from '../shared/errors.ts';

export const LOCK_FILE = 'airlock.pid';

export interface DataDirLock {
  release(): Promise<void>;
}

/** Takes the data dir for this process; `name` is how the user named it (for the message). */
export async function lockDataDir(dataDir: string, name: string): Promise<DataDirLock> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      return { release: () => releaseLock(path) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number.parseInt((await readFile(path, 'utf8').catch(() => '')).trim(), 10);
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAirlockProcess(holder)) {
      throw new AirlockError(
        'invalid_config',
        `another Airlock is using ${name} (pid ${holder}): stop it or set AIRLOCK_DATA_DIR`,
      );
    }
    // Left by a process that is gone (a crash, a kill -9): take it over.
    await unlink(path).catch(() => {});
  }
  throw new AirlockError('invalid_config', `another Airlock is starting on ${name}: stop it or set AIRLOCK_DATA_DIR`);
}

async function releaseLock(path: string): Promise<void> {
  const holder = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (holder === String(process.pid)) await unlink(path).catch(() => {});
}

/** Whether `pid` runs, and (where /proc tells) runs Node: a recycled pid of another program is not a holder. */
function isAirlockProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return /node/i.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true; // no /proc (macOS): a live pid is taken as the holder
  }
}
