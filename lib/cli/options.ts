// Parses a command's arguments against its option list (the same list its --help shows), with node:util's
// parseArgs underneath; every parse error becomes a UsageError that says what to type instead.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { REGION_FALLBACKS } from '../aws/region.ts';
import { type CliOption, UnknownOptionError, UsageError } from './command.ts';

type ValueOf<O extends CliOption> = O extends { readonly value: string }
  ? O extends { readonly repeatable: true }
    ? string[]
    : O extends { readonly default: string }
      ? string
      : string | undefined
  : boolean;

/** The parsed values, keyed by option name: a string (or undefined) per valued option, string[] when repeatable. */
export type OptionValues<T extends readonly CliOption[]> = { -readonly [O in T[number] as O['name']]: ValueOf<O> };

export interface Parsed<T extends readonly CliOption[]> {
  readonly values: OptionValues<T>;
  readonly positionals: string[];
}

function usageErrorFor(err: unknown, options: readonly CliOption[]): Error {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? '';
  const flag = quoted.split(' ')[0]!;
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UnknownOptionError(flag, options);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(message)) return new UsageError(`${flag} takes no value`);
      if (/ambiguous/.test(message))
        return new UsageError(`${flag} needs a value (for a value that starts with "-", write ${flag}=VALUE)`);
      return new UsageError(`${flag} needs a value`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(`unexpected argument "${quoted}"`);
    default:
      return new UsageError(message);
  }
}

/**
 * Parses `argv` against `options` (strict: an unknown option is an error that suggests the closest known one).
 * Flags are false when absent, repeatable options [], others their `default` or undefined.
 */
export function parseOptions<const T extends readonly CliOption[]>(
  argv: string[],
  options: T,
  { positionals = false }: { positionals?: boolean } = {},
): Parsed<T> {
  const config: NonNullable<ParseArgsConfig['options']> = {};
  for (const o of options) config[o.name] = { type: o.value ? 'string' : 'boolean', multiple: o.repeatable ?? false };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: config, strict: true, allowPositionals: positionals });
  } catch (err) {
    throw usageErrorFor(err, options);
  }
  const values: Record<string, unknown> = {};
  for (const o of options) {
    const given = parsed.values[o.name];
    values[o.name] = given ?? (o.value ? (o.repeatable ? [] : o.default) : false);
  }
  return { values: values as OptionValues<T>, positionals: parsed.positionals };
}

/**
 * The --region option of an AWS command; its help states the order lib/aws/region.ts resolves the default in.
 * `first`: a source the command tries before those (e.g. "the ARN's region").
 */
export function regionOption(first?: string): {
  readonly name: 'region';
  readonly value: 'REGION';
  readonly description: string;
} {
  const order = `${first ? `${first}, ` : ''}${REGION_FALLBACKS}`;
  return { name: 'region', value: 'REGION', description: `AWS region; default, in order:\n${order}` };
}
