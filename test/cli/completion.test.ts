import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type Command, GLOBAL_OPTIONS } from '../../cli/args.ts';
import { completionScript, SHELLS } from '../../cli/completion.ts';
import { COMMANDS } from '../../cli/main.ts';
import { runInProcess } from './support.ts';

// Completion scripts are generated from the command table; bash runs here, so its script is exercised
// for real (the function the shell calls, with COMP_WORDS as bash sets them). zsh and fish are not
// installed on this machine: their scripts are checked for what they must contain.

const run = promisify(execFile);

/** What bash's completion offers for the words typed so far (the last one is being completed). */
async function bashCompletes(words: string[], cwd?: string): Promise<string[]> {
  const dir = cwd ?? (await mkdtemp(join(tmpdir(), 'airlock-completion-')));
  const script = join(dir, 'airlock.bash');
  await writeFile(script, completionScript('bash', COMMANDS));
  const quoted = words.map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(' ');
  const { stdout } = await run(
    'bash',
    [
      '--norc',
      '-c',
      `source "$1"; COMP_WORDS=(airlock ${quoted}); COMP_CWORD=${words.length}; _airlock; printf '%s\\n' "\${COMPREPLY[@]}"`,
      'bash',
      script,
    ],
    { cwd: dir },
  );
  return stdout.split('\n').filter(Boolean).sort();
}

describe('bash completion', () => {
  it('completes commands, and the subcommands of a group', async () => {
    expect(await bashCompletes([''])).toEqual([
      'admin',
      'approvals',
      'approve',
      'audit',
      'completion',
      'connections',
      'deny',
      'dev',
      'grants',
      'help',
      'policy',
      'query',
      'replay',
      'request',
      'revoke',
      'status',
    ]);
    expect(await bashCompletes(['admin', ''])).toEqual(['audit', 'grants', 'lock', 'locks', 'revoke', 'unlock']);
    expect(await bashCompletes(['re'])).toEqual(['replay', 'request', 'revoke']);
    expect(await bashCompletes(['policy', ''])).toEqual(['check', 'explain']);
    expect(await bashCompletes(['--url', 'http://x', 'po'])).toEqual(['policy']);
  });

  it("completes a command's own options and the global ones", async () => {
    expect(await bashCompletes(['request', '--t'])).toEqual(['--timeout', '--token', '--ttl']);
    expect(await bashCompletes(['policy', 'explain', '--f'])).toEqual(['--file']);
    expect(await bashCompletes(['query', 'SELECT 1', '--'])).toEqual([
      '--csv',
      '--grant',
      '--help',
      '--json',
      '--param',
      '--params',
      '--table',
      '--token',
      '--url',
    ]);
  });

  it('offers nothing for a free-text value, file names for a file, the shells for completion', async () => {
    expect(await bashCompletes(['request', 'shop', '--reason', ''])).toEqual([]);
    expect(await bashCompletes(['request', '--ttl', ''])).toEqual([]);
    expect(await bashCompletes(['completion', ''])).toEqual(['bash', 'fish', 'zsh']);
    const dir = await mkdtemp(join(tmpdir(), 'airlock-completion-files-'));
    await writeFile(join(dir, 'prod.policy.yaml'), '');
    expect(await bashCompletes(['policy', 'check', 'prod'], dir)).toEqual(['prod.policy.yaml']);
    expect(await bashCompletes(['policy', 'explain', '--file', 'prod'], dir)).toEqual(['prod.policy.yaml']);
    expect(await bashCompletes(['policy', 'explain', '-f', 'prod'], dir)).toEqual(['prod.policy.yaml']);
  });
});

describe('every completion script', () => {
  it.each(SHELLS)('%s names every command, subcommand and option of the table', (shell) => {
    const script = completionScript(shell, COMMANDS);
    for (const command of COMMANDS) {
      for (const word of command.name.split(' ')) expect(script, command.name).toContain(word);
      for (const name of Object.keys(command.options))
        expect(script, `${command.name} --${name}`).toMatch(
          shell === 'fish' ? new RegExp(`-l ${name}\\b`) : new RegExp(`--${name}\\b`),
        );
    }
    for (const name of Object.keys(GLOBAL_OPTIONS)) expect(script).toContain(name);
  });

  it.each(SHELLS)('%s follows the table: a new command and option are completed without other changes', (shell) => {
    const extra: Command = {
      name: 'frobnicate',
      summary: "frobs it, the user's way",
      usage: '<thing>',
      options: { level: { type: 'string', value: '<n>', description: 'how much [0-9]', complete: ['low', 'high'] } },
      positionals: { min: 1, max: 1, name: 'thing' },
      run: async () => 0,
    };
    const script = completionScript(shell, [...COMMANDS, extra]);
    expect(script).toContain('frobnicate');
    expect(script).toMatch(shell === 'fish' ? /-l level -x -a 'low high'/ : /low high/);
  });

  it('refuses a name that would need quoting in a script, rather than emit a broken one', () => {
    const bad: Command = { ...COMMANDS[0]!, name: 'rm -rf', options: {} };
    for (const shell of SHELLS) expect(() => completionScript(shell, [bad])).toThrow(/cannot be completed safely/);
  });

  it('quotes descriptions for zsh and fish (apostrophes, brackets, backslashes)', () => {
    const zsh = completionScript('zsh', COMMANDS);
    expect(zsh).toContain(`'query:run one SQL statement as your grant'\\''s temporary role'`);
    expect(zsh).toContain(`e.g. '\\''[42, null, "x"\\]'\\''`);
    const fish = completionScript('fish', COMMANDS);
    expect(fish).toContain(`-d 'run one SQL statement as your grant\\'s temporary role'`);
  });
});

describe('airlock completion', () => {
  it('prints the script for each shell, and refuses another shell', async () => {
    for (const shell of SHELLS) {
      const run = await runInProcess(['completion', shell]);
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(completionScript(shell, COMMANDS));
    }
    const tcsh = await runInProcess(['completion', 'tcsh']);
    expect(tcsh.code).toBe(2);
    expect(tcsh.stderr).toContain('no completion for "tcsh"\nhint: choose one of: bash, zsh, fish');
    expect((await runInProcess(['completion'])).code).toBe(2);
  });
});
