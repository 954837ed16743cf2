// A tiny process that outlives a crash of the local stack: when its parent dies (even by SIGKILL), it stops
// the embedded Postgres the parent started. It signals nothing but that cluster's own postmaster.

import { spawn } from 'node:child_process';

/**
 * Plain CommonJS for `node -e`. The parent holds the write end of the watchdog's stdin: the OS closes it when
 * the parent exits, however it exits. Then the postmaster named in postmaster.pid gets SIGINT (fast shutdown),
 * and SIGQUIT if it is still there after 15 s. A pid that is not a running postgres is left alone.
 */
const SCRIPT = `
const fs = require('node:fs');
const pidFile = process.argv[1];
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
const isPostgres = (pid) => { try { return /postgres/.test(fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8')); } catch { return alive(pid); } };
process.stdin.on('data', () => {});
process.stdin.on('close', () => {
  let pid = 0;
  try { pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8').split('\\n')[0], 10); } catch {}
  if (!(pid > 0) || !alive(pid) || !isPostgres(pid)) process.exit(0);
  try { process.kill(pid, 'SIGINT'); } catch {}
  const deadline = Date.now() + 15000;
  setInterval(() => {
    if (!alive(pid)) process.exit(0);
    if (Date.now() > deadline) { try { process.kill(pid, 'SIGQUIT'); } catch {} process.exit(0); }
  }, 200);
});
`;

export interface Watchdog {
  /** Ends the watchdog (the parent stops Postgres itself). */
  stop(): void;
}

/** Starts the watchdog of the cluster whose postmaster.pid is at `pidFile`; it never keeps this process alive. */
export function startPostgresWatchdog(pidFile: string): Watchdog {
  const child = spawn(process.execPath, ['-e', SCRIPT, pidFile], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  child.on('error', () => {});
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return {
    stop() {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
