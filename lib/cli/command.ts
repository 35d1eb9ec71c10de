import { didYouMean } from '../suggest.ts';

/** One option of a command: what `--help` lists and what the command's parser accepts (lib/cli/options.ts). */
export interface CliOption {
  /** The long name without dashes: `region` for `--region`. */
  readonly name: string;
  /** The value's name in help (`REGION`); absent for a flag that takes no value. */
  readonly value?: string;
  /** What it does; may span lines (\n), which help indents under the first. */
  readonly description: string;
  /** The value when the option is absent; help appends "(default …)". */
  readonly default?: string;
  /** May be given more than once; the values are collected in order. */
  readonly repeatable?: boolean;
}

/** One `medllama <name>` sub-command. Each lives in lib/cli/commands/<name>.ts and exports `command`. */
export interface CliCommand {
  /** The word after `medllama`; multi-word commands use a space, e.g. `local run`. */
  readonly name: string;
  /** One line for `medllama --help`. */
  readonly summary: string;
  /** The synopsis and what the command does: the top of `medllama <name> --help`, above the options. */
  readonly usage: string;
  /** Every option the command accepts, in the order help lists them (`--help` itself is added). */
  readonly options: readonly CliOption[];
  /**
   * How to check this command's input without AWS (e.g. its --dry-run), offered when AWS credentials or the region
   * are missing. Absent when every form of the command needs AWS.
   */
  readonly withoutAws?: string;
  /** Runs the command with the arguments after its name; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** A usage error: printed with the command's help, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An option the command does not have; the message suggests the closest one it does have. */
export class UnknownOptionError extends UsageError {
  constructor(
    readonly option: string,
    known: readonly CliOption[],
  ) {
    super(
      `unknown option ${option}${didYouMean(
        option,
        [...known, HELP].map((o) => `--${o.name}`),
      )}`,
    );
  }
}

const HELP: CliOption = { name: 'help', description: 'show this help' };

/** `--name VALUE`, or `--name` for a flag. */
export function optionLabel(option: CliOption): string {
  return `--${option.name}${option.value ? ` ${option.value}` : ''}`;
}

/** Labels longer than this put their description on the next line. */
const MAX_LABEL = 30;
/** Help lines are wrapped at this width (the project's line width, less a margin). */
const HELP_WIDTH = 116;

/** Splits `text` into lines of at most `width` characters at spaces (a longer word stays whole). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

/** The options section of a command's help: every option with its value name and description, aligned. */
export function formatOptions(options: readonly CliOption[]): string[] {
  const all = [...options, HELP];
  const labels = all.map((o) => (o === HELP ? '-h, --help' : optionLabel(o)));
  const width = Math.min(MAX_LABEL, Math.max(...labels.map((l) => l.length)));
  const lines: string[] = [];
  all.forEach((option, i) => {
    const label = labels[i]!;
    const notes = [
      ...(option.default !== undefined ? [`default ${option.default}`] : []),
      ...(option.repeatable ? ['repeatable'] : []),
    ];
    const text = `${option.description}${notes.length ? ` (${notes.join('; ')})` : ''}`;
    const indent = ' '.repeat(2 + width + 2);
    const [first = '', ...rest] = text.split('\n').flatMap((l) => wrap(l, HELP_WIDTH - indent.length));
    if (label.length > width) lines.push(`  ${label}`, `${indent}${first}`);
    else lines.push(`  ${label.padEnd(width)}  ${first}`);
    for (const line of rest) lines.push(`${indent}${line}`);
  });
  return lines;
}

/** `medllama <name> --help`: the usage text, then every option. */
export function renderHelp(command: Pick<CliCommand, 'usage' | 'options'>): string {
  return [command.usage.trimEnd(), '', 'options:', ...formatOptions(command.options)].join('\n');
}

/** A synopsis of the options, `[--a N] [--b]`, wrapped at `width` with continuation lines indented by `indent`. */
export function optionSynopsis(options: readonly CliOption[], indent: number, width = 116): string {
  const lines: string[] = [];
  let line = '';
  for (const option of options) {
    const item = `[${optionLabel(option)}]${option.repeatable ? '...' : ''}`;
    if (line && indent + line.length + 1 + item.length > width) {
      lines.push(line);
      line = item;
    } else line = line ? `${line} ${item}` : item;
  }
  if (line) lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}
