/** One `medllama <name>` sub-command. Each lives in lib/cli/commands/<name>.ts and exports `command`. */
export interface CliCommand {
  /** The word after `medllama`; multi-word commands use a space, e.g. `local run`. */
  readonly name: string;
  /** One line for `medllama --help`. */
  readonly summary: string;
  /** Full usage text for `medllama <name> --help`. */
  readonly usage: string;
  /** Runs the command with the arguments after its name; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** A usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
