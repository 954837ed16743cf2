// The CLI run in-process, as the binary runs it (the same command table and runCli), with captured
// streams, a fixed clock and a Ctrl-C the test presses: for what needs no server and no process.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliEnvironment } from '../../cli/args.ts';
import { createGrantTokenStore } from '../../cli/grant-tokens.ts';
import { COMMANDS } from '../../cli/main.ts';
import { type Output, styleFor } from '../../cli/render.ts';
import { runCli } from '../../cli/run.ts';

export interface InProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface InProcessOptions {
  env?: Record<string, string>;
  stdin?: string;
  now?: Date;
}

export async function runInProcess(args: string[], options: InProcessOptions = {}): Promise<InProcessRun> {
  let stdout = '';
  let stderr = '';
  const capture = (write: (text: string) => void): Output => ({ write, isTTY: false });
  const out = capture((text) => (stdout += text));
  const err = capture((text) => (stderr += text));
  const env = { NO_COLOR: '1', AIRLOCK_URL: 'http://127.0.0.1:1', ...options.env };
  const dir = await mkdtemp(join(tmpdir(), 'airlock-cli-unit-'));
  const ctx: CliEnvironment = {
    env,
    stdout: out,
    stderr: err,
    out: styleFor(out, env),
    err: styleFor(err, env),
    stdinIsTTY: options.stdin === undefined,
    readStdin: async () => options.stdin ?? '',
    tokens: () => createGrantTokenStore({ dir }),
    now: () => options.now ?? new Date(),
    onInterrupt: () => () => {},
  };
  const code = await runCli(args, ctx, COMMANDS);
  return { code, stdout, stderr };
}
