// The real process around the CLI: its environment, streams, stdin, kept grant tokens, clock and Ctrl-C.
// Tests build their own CliEnvironment; only the `airlock` binary uses this one.

import type { CliEnvironment } from './args.ts';
import { configDir, createGrantTokenStore, type GrantTokenStore } from './grant-tokens.ts';
import { type Output, styleFor } from './render.ts';

export function nodeEnvironment(): CliEnvironment {
  const env = process.env;
  const output = (stream: NodeJS.WriteStream): Output => ({
    write: (text) => void stream.write(text),
    isTTY: stream.isTTY === true,
  });
  const stdout = output(process.stdout);
  const stderr = output(process.stderr);
  let tokens: GrantTokenStore | undefined;
  return {
    env,
    stdout,
    stderr,
    out: styleFor(stdout, env),
    err: styleFor(stderr, env),
    stdinIsTTY: process.stdin.isTTY === true,
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    tokens: () => (tokens ??= createGrantTokenStore({ dir: configDir(env) })),
    now: () => new Date(),
    onInterrupt(handler) {
      // While a listener is installed, SIGINT no longer ends the process: the handler decides.
      process.on('SIGINT', handler);
      return () => void process.off('SIGINT', handler);
    },
  };
}
