// Progress while the CLI waits on a human: a spinner on a terminal, plain lines when piped
// (one when the message changes, and a heartbeat now and then), always on stderr.

import type { Output } from './render.ts';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const HEARTBEAT_MS = 30_000;

export interface Progress {
  update(message: string): void;
  /** Clears the spinner line; the caller prints the outcome. */
  stop(): void;
}

export function startProgress(output: Output): Progress {
  let message = '';
  if (!output.isTTY) {
    let printedAt = 0;
    return {
      update(next) {
        if (next === message && Date.now() - printedAt < HEARTBEAT_MS) return;
        message = next;
        printedAt = Date.now();
        output.write(`${next}\n`);
      },
      stop() {},
    };
  }
  let frame = 0;
  const started = Date.now();
  const draw = () => {
    const elapsed = Math.floor((Date.now() - started) / 1000);
    output.write(`\r\u001b[2K${FRAMES[frame++ % FRAMES.length]} ${message} ${elapsed}s`);
  };
  const timer = setInterval(draw, 100);
  return {
    update(next) {
      message = next;
      draw();
    },
    stop() {
      clearInterval(timer);
      output.write('\r\u001b[2K');
    },
  };
}
