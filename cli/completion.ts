// Shell completion scripts for bash, zsh and fish, written from the same command table as --help:
// a command or option added to the table is completed without touching this file. Never runs a command.

import { type Command, type Completion, GLOBAL_OPTIONS, type OptionSpec } from './args.ts';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface Word {
  name: string;
  summary: string;
}

/** The completion script for `shell`. */
export function completionScript(shell: Shell, commands: readonly Command[]): string {
  for (const command of commands) checkWords(command);
  return { bash, zsh, fish }[shell](commands);
}

const SAFE = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

/** Names go into scripts unquoted: a name that needs quoting is refused here, not broken in a shell. */
function checkWords(command: Command): void {
  const options = Object.entries({ ...GLOBAL_OPTIONS, ...command.options });
  const words = [
    ...command.name.split(' '),
    ...options.flatMap(([name, spec]) => [name, ...(spec.short ? [spec.short] : []), ...listOf(spec.complete)]),
    ...listOf(command.positionals.complete),
  ];
  const bad = words.find((word) => !SAFE.test(word));
  if (bad !== undefined) throw new Error(`"${bad}" in command "${command.name}" cannot be completed safely`);
}

const listOf = (completion: Completion | undefined): readonly string[] => (Array.isArray(completion) ? completion : []);

/** First words: plain commands and command groups, plus `help`. */
function topWords(commands: readonly Command[]): Word[] {
  const words = new Map<string, string>();
  for (const command of commands) {
    const [first, second] = command.name.split(' ') as [string, string?];
    const known = words.get(first);
    words.set(first, second === undefined ? command.summary : known ? `${known}, ${command.name}` : command.name);
  }
  words.set('help', 'show help for a command');
  return [...words].map(([name, summary]) => ({ name, summary }));
}

const groupsOf = (commands: readonly Command[]) => [
  ...new Set(commands.filter((command) => command.name.includes(' ')).map((command) => command.name.split(' ')[0]!)),
];
const subcommandsOf = (commands: readonly Command[], group: string) =>
  commands.filter((command) => command.name.startsWith(`${group} `));

const optionsOf = (command: Command) => Object.entries({ ...command.options, ...GLOBAL_OPTIONS });
const flagsOf = ([name, spec]: [string, OptionSpec]) => [`--${name}`, ...(spec.short ? [`-${spec.short}`] : [])];
const globalValueFlags = () =>
  Object.entries(GLOBAL_OPTIONS)
    .filter(([, spec]) => spec.type === 'string')
    .flatMap(flagsOf);

function bash(commands: readonly Command[]): string {
  const groups = groupsOf(commands);
  const top = topWords(commands).map((word) => word.name);
  const fileOrList = (completion: Completion) =>
    completion === 'file'
      ? 'compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur")'
      : `mapfile -t COMPREPLY < <(compgen -W "${completion.join(' ')}" -- "$cur")`;
  const valueCases = commands.flatMap((command) => {
    const values = optionsOf(command).filter(([, spec]) => spec.type === 'string');
    const patterns = (option: [string, OptionSpec]) => flagsOf(option).map((flag) => `"${command.name} ${flag}"`);
    const completed = values
      .filter(([, spec]) => spec.complete)
      .map((option) => `    ${patterns(option).join('|')}) ${fileOrList(option[1].complete!)}; return ;;`);
    // Free text (a reason, a URL, a token): nothing to offer.
    const free = values.filter(([, spec]) => !spec.complete).flatMap(patterns);
    return [...completed, ...(free.length ? [`    ${free.join('|')}) return ;;`] : [])];
  });
  const optionCases = commands.map(
    (command) =>
      `      "${command.name}") mapfile -t COMPREPLY < <(compgen -W "${optionsOf(command)
        .map(([name]) => `--${name}`)
        .join(' ')}" -- "$cur") ;;`,
  );
  const positionalCases = commands
    .filter((command) => command.positionals.complete)
    .map((command) => `    "${command.name}") ${fileOrList(command.positionals.complete!)} ;;`);
  return `# airlock completion for bash, generated from the CLI's command table by \`airlock completion bash\`.
# Now: source <(airlock completion bash)
# Always: airlock completion bash > ~/.local/share/bash-completion/completions/airlock
_airlock() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" command="" word i
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in
      ${globalValueFlags().join('|')}) ((i++)) ;;
      -*) ;;
      *)
        if [[ -z "$command" ]]; then command="$word"
        elif [[ ${groups.map((group) => `"$command" == ${group}`).join(' || ')} ]]; then command="$command $word"
        else break
        fi ;;
    esac
  done
  case "$command" in
    "" | help)
      if [[ "$cur" == -* ]]; then mapfile -t COMPREPLY < <(compgen -W "--help --version ${globalValueFlags().join(' ')}" -- "$cur")
      else mapfile -t COMPREPLY < <(compgen -W "${top.join(' ')}" -- "$cur")
      fi
      return ;;
${groups
  .map(
    (group) =>
      `    ${group}) mapfile -t COMPREPLY < <(compgen -W "${subcommandsOf(commands, group)
        .map((command) => command.name.split(' ')[1])
        .join(' ')}" -- "$cur"); return ;;`,
  )
  .join('\n')}
  esac
  case "$command $prev" in
${valueCases.join('\n')}
  esac
  if [[ "$cur" == -* ]]; then
    case "$command" in
${optionCases.join('\n')}
    esac
    return
  fi
  case "$command" in
${positionalCases.join('\n')}
  esac
}
complete -F _airlock airlock
`;
}

/** Text inside single quotes. */
const single = (text: string) => text.replace(/'/g, `'\\''`);
/** A description inside an _arguments spec's brackets. */
const bracketed = (text: string) => text.replace(/\\/g, '\\\\').replace(/\]/g, '\\]');

function zshAction(completion: Completion | undefined): string {
  if (completion === 'file') return '_files';
  if (completion) return `(${completion.join(' ')})`;
  return ' ';
}

function zshOptionSpecs(options: Array<[string, OptionSpec]>): string[] {
  return options.flatMap(([name, spec]) => {
    const value =
      spec.type === 'string' ? `:${(spec.value ?? 'value').replace(/[<>]/g, '')}:${zshAction(spec.complete)}` : '';
    const repeat = spec.multiple ? '*' : '';
    const description = bracketed(spec.description);
    return flagsOf([name, spec]).map(
      (flag) =>
        `'${single(`${repeat}${flag}${spec.type === 'string' && flag.startsWith('--') ? '=' : ''}[${description}]${value}`)}'`,
    );
  });
}

function zshSpecs(command: Command): string[] {
  const specs = zshOptionSpecs(optionsOf(command));
  const { max, name = 'argument', complete } = command.positionals;
  for (let index = 1; index <= max; index++) specs.push(`'${single(`${index}:${name}:${zshAction(complete)}`)}'`);
  return specs;
}

function zsh(commands: readonly Command[]): string {
  const groups = groupsOf(commands);
  const describe = (words: Word[]) => words.map((word) => `'${single(`${word.name}:${word.summary}`)}'`).join(' ');
  const commandCases = commands
    .map((command) => `      ("${command.name}") _arguments -s -S ${zshSpecs(command).join(' ')} ;;`)
    .join('\n');
  return `#compdef airlock
# airlock completion for zsh, generated from the CLI's command table by \`airlock completion zsh\`.
# Now (after compinit): source <(airlock completion zsh)
# Always: airlock completion zsh > ~/.zfunc/_airlock, with fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc

_airlock() {
  local command="" word
  local -i i end=1
  for ((i = 2; i < CURRENT; i++)); do
    word=\${words[i]}
    case $word in
      (${globalValueFlags().join('|')}) (( i++ )) ;;
      (-*) ;;
      (*)
        if [[ -z $command ]]; then command=$word; end=$i
        elif [[ ${groups.map((group) => `$command == ${group}`).join(' || ')} ]]; then command="$command $word"; end=$i
        else break
        fi ;;
    esac
  done
  case $command in
    ('' | help)
      if [[ $PREFIX == -* ]]; then
        _arguments '--version[print the version]' ${zshOptionSpecs(Object.entries(GLOBAL_OPTIONS)).join(' ')}
      else
        local -a top=(${describe(topWords(commands))})
        _describe -t commands 'airlock command' top
      fi ;;
${groups
  .map(
    (group) =>
      `    (${group})\n      local -a sub=(${describe(subcommandsOf(commands, group).map((command) => ({ name: command.name.split(' ')[1]!, summary: command.summary })))})\n      _describe -t commands 'airlock ${group} command' sub ;;`,
  )
  .join('\n')}
    (*)
      words=("airlock $command" "\${(@)words[end+1,-1]}")
      (( CURRENT -= end - 1 ))
      case $command in
${commandCases}
      esac ;;
  esac
}

if [[ "$funcstack[1]" == _airlock ]]; then
  _airlock "$@"
else
  compdef _airlock airlock
fi
`;
}

/** Text inside fish's single quotes. */
const fishQuoted = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function fish(commands: readonly Command[]): string {
  const groups = groupsOf(commands);
  const lines = [
    "# airlock completion for fish, generated from the CLI's command table by `airlock completion fish`.",
    '# Now: airlock completion fish | source',
    '# Always: airlock completion fish > ~/.config/fish/completions/airlock.fish',
    'complete -c airlock -f',
    `complete -c airlock -n __fish_use_subcommand -l version -d ${fishQuoted('print the version')}`,
  ];
  const option = (condition: string, [name, spec]: [string, OptionSpec]) => {
    const flags = `${spec.short ? `-s ${spec.short} ` : ''}-l ${name}`;
    const value =
      spec.type === 'boolean'
        ? ''
        : spec.complete === 'file'
          ? ' -r -F'
          : spec.complete
            ? ` -x -a ${fishQuoted(spec.complete.join(' '))}`
            : ' -x';
    return `complete -c airlock${condition} ${flags}${value} -d ${fishQuoted(spec.description)}`;
  };
  for (const entry of Object.entries(GLOBAL_OPTIONS)) lines.push(option('', entry));
  for (const word of topWords(commands))
    lines.push(`complete -c airlock -n __fish_use_subcommand -a ${word.name} -d ${fishQuoted(word.summary)}`);
  for (const group of groups) {
    const sub = subcommandsOf(commands, group).map((command) => command.name.split(' ')[1]!);
    const condition = ` -n ${fishQuoted(`__fish_seen_subcommand_from ${group}; and not __fish_seen_subcommand_from ${sub.join(' ')}`)}`;
    for (const command of subcommandsOf(commands, group))
      lines.push(`complete -c airlock${condition} -a ${command.name.split(' ')[1]} -d ${fishQuoted(command.summary)}`);
  }
  for (const command of commands) {
    const condition = ` -n ${fishQuoted(
      command.name
        .split(' ')
        .map((word) => `__fish_seen_subcommand_from ${word}`)
        .join('; and '),
    )}`;
    for (const entry of Object.entries(command.options)) lines.push(option(condition, entry));
    const complete = command.positionals.complete;
    if (complete === 'file') lines.push(`complete -c airlock${condition} -F`);
    else if (complete) lines.push(`complete -c airlock${condition} -a ${fishQuoted(complete.join(' '))}`);
  }
  return `${lines.join('\n')}\n`;
}
