// Which command `medllama <words…>` names: a command, a group of commands (`medllama local`), or nothing, with
// the closest command name to suggest.

import { closest } from '../suggest.ts';
import type { CliCommand } from './command.ts';

export type Route =
  | { readonly kind: 'command'; readonly command: CliCommand; readonly rest: string[] }
  | { readonly kind: 'group'; readonly group: string; readonly commands: CliCommand[]; readonly rest: string[] }
  | { readonly kind: 'unknown'; readonly typed: string; readonly suggestion?: string };

const words = (c: CliCommand) => c.name.split(' ');

export function route(argv: string[], commands: CliCommand[]): Route {
  // Longest name first, so `local run` wins over a hypothetical `local`.
  const byLength = [...commands].sort((a, b) => words(b).length - words(a).length);
  const match = byLength.find((c) => words(c).every((word, i) => argv[i] === word));
  if (match) return { kind: 'command', command: match, rest: argv.slice(words(match).length) };

  const first = argv[0] ?? '';
  const members = commands.filter((c) => words(c).length > 1 && words(c)[0] === first);
  const sub = argv[1];
  if (members.length && (sub === undefined || sub.startsWith('-'))) {
    return { kind: 'group', group: first, commands: members, rest: argv.slice(1) };
  }
  if (members.length) {
    // `medllama local rnu`: suggest among the group's commands.
    const typed = `${first} ${sub}`;
    const suggestion = closest(
      typed,
      members.map((c) => c.name),
    );
    return { kind: 'unknown', typed, ...(suggestion ? { suggestion } : {}) };
  }
  const suggestion = closest(first, new Set(commands.map((c) => words(c)[0]!)));
  return { kind: 'unknown', typed: first, ...(suggestion ? { suggestion } : {}) };
}
