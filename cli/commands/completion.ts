// `airlock completion bash|zsh|fish`: prints the shell's completion script, made from the command table.

import type { Command } from '../args.ts';
import { completionScript, SHELLS, type Shell } from '../completion.ts';
import { EXIT, usageError } from '../exit.ts';

/** The command, reading the table it completes (itself included) when it runs. */
export function completionCommand(table: () => readonly Command[]): Command {
  return {
    name: 'completion',
    summary: 'print a shell completion script (bash, zsh or fish)',
    usage: '<bash|zsh|fish>',
    details: [
      'Completes commands, subcommands and options, file names where a file is expected.',
      'bash:  source <(airlock completion bash)        (always: save it in ~/.local/share/bash-completion/completions/airlock)',
      'zsh:   source <(airlock completion zsh)         (always: save it as _airlock in a directory on $fpath)',
      'fish:  airlock completion fish | source         (always: save it in ~/.config/fish/completions/airlock.fish)',
    ].join('\n'),
    options: {},
    positionals: { min: 1, max: 1, name: 'shell', complete: SHELLS },
    examples: ['airlock completion bash > ~/.local/share/bash-completion/completions/airlock'],
    async run({ positionals, ctx }) {
      const shell = positionals[0]!;
      if (!(SHELLS as readonly string[]).includes(shell))
        throw usageError(`no completion for "${shell}"`, `choose one of: ${SHELLS.join(', ')}`);
      ctx.stdout.write(completionScript(shell as Shell, table()));
      return EXIT.ok;
    },
  };
}
