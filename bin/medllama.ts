#!/usr/bin/env -S npx tsx
// The MedLlama CLI. Sub-commands are discovered from lib/cli/commands/*.ts (each exports `command`).
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CliCommand, UsageError } from '../lib/cli/command.ts';

const commandsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'cli', 'commands');

async function loadCommands(): Promise<CliCommand[]> {
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

function help(commands: CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4);
  return [
    'usage: medllama <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `medllama <command> --help` for a command’s options.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const commands = await loadCommands();
  // Longest name first, so `local run` wins over a hypothetical `local`.
  const sorted = [...commands].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length);
  const match = sorted.find((c) => c.name.split(' ').every((word, i) => argv[i] === word));
  if (!match) {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h') {
      console.log(help(commands));
      return argv.length === 0 ? 2 : 0;
    }
    console.error(`medllama: unknown command "${argv.join(' ')}"\n\n${help(commands)}`);
    return 2;
  }
  const rest = argv.slice(match.name.split(' ').length);
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(match.usage);
    return 0;
  }
  try {
    return await match.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`medllama ${match.name}: ${err.message}\n\n${match.usage}`);
      return 2;
    }
    console.error(`medllama ${match.name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
