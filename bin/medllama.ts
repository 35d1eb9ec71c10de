#!/usr/bin/env -S npx tsx
// The MedLlama CLI. Sub-commands are discovered from lib/cli/commands/*.ts (each exports `command`).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { quietSdkNodeVersionWarning } from '../lib/aws/clients.ts';
import { explainAwsError } from '../lib/aws/errors.ts';
import { RegionError } from '../lib/aws/region.ts';
import { type CliCommand, renderHelp, UnknownOptionError, UsageError } from '../lib/cli/command.ts';
import { route } from '../lib/cli/router.ts';

const here = dirname(fileURLToPath(import.meta.url));
const commandsDir = join(here, '..', 'lib', 'cli', 'commands');

export async function loadCommands(): Promise<CliCommand[]> {
  const files = readdirSync(commandsDir)
    .filter((f) => f.endsWith('.ts'))
    .sort();
  const commands: CliCommand[] = [];
  for (const file of files) {
    const mod = (await import(join(commandsDir, file))) as { command?: CliCommand };
    if (mod.command) commands.push(mod.command);
  }
  return commands;
}

/** The list of commands; `prefix` narrows it to a group (`medllama local`). */
function help(commands: CliCommand[], prefix = ''): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4);
  const placeholder = prefix ? `${prefix} <command>` : '<command>';
  return [
    `usage: medllama ${placeholder} [options]`,
    ...(prefix ? [] : ['       medllama --version']),
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `Run \`medllama ${placeholder} --help\` for a command’s options.`,
  ].join('\n');
}

export function version(): string {
  return (JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** A command's own "unknown option X" (parsers that predate lib/cli/options.ts), with a suggestion added. */
function usageMessage(err: UsageError, command: CliCommand): string {
  const unknown = err instanceof UnknownOptionError ? undefined : /^unknown option (\S+)$/.exec(err.message);
  return unknown ? new UnknownOptionError(unknown[1]!, command.options).message : err.message;
}

async function runCommand(command: CliCommand, rest: string[]): Promise<number> {
  const prefix = `medllama ${command.name}`;
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(renderHelp(command));
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${prefix}: ${usageMessage(err, command)}\n\n${renderHelp(command)}`);
      return 2;
    }
    if (err instanceof RegionError) {
      console.error(`${prefix}: ${err.message}`);
      return 2;
    }
    const aws = explainAwsError(err, { withoutAws: command.withoutAws });
    console.error(`${prefix}: ${aws ?? (err instanceof Error ? err.message : String(err))}`);
    return 1;
  }
}

export async function main(argv: string[]): Promise<number> {
  quietSdkNodeVersionWarning();
  if (argv[0] === '--version' || argv[0] === '-v') {
    console.log(`medllama ${version()}`);
    return 0;
  }
  const commands = await loadCommands();
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
    console.log(help(commands));
    return argv.length === 0 ? 2 : 0;
  }
  const found = route(argv, commands);
  switch (found.kind) {
    case 'command':
      return runCommand(found.command, found.rest);
    case 'group': {
      // `medllama local`: the group's commands; exit 2 unless help was asked for.
      const asked = found.rest.includes('--help') || found.rest.includes('-h');
      console.log(help(found.commands, found.group));
      return asked ? 0 : 2;
    }
    case 'unknown': {
      const hint = found.suggestion ? ` (did you mean "${found.suggestion}"?)` : '';
      console.error(`medllama: unknown command "${found.typed}"${hint}\n\n${help(commands)}`);
      return 2;
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
