// User-facing text must not send readers to ../shared, a team-internal folder beside the repository that users
// of a clone never have: cite the public source, state the fact, or point to a file in the repository.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadCommands } from '../bin/medllama.ts';
import { renderHelp } from '../lib/cli/command.ts';

const repo = join(import.meta.dirname, '..');
const INTERNAL = /\.\.\/shared\b|\bshared\/(data|research|reference|DESIGN)/;

function offending(text: string): string[] {
  return text.split('\n').filter((line) => INTERNAL.test(line));
}

describe('no user-facing reference into ../shared', () => {
  test('README.md and docs/*.md', () => {
    const files = ['README.md', ...readdirSync(join(repo, 'docs')).map((f) => join('docs', f))];
    const found = files.flatMap((f) => offending(readFileSync(join(repo, f), 'utf8')).map((line) => `${f}: ${line}`));
    expect(found).toEqual([]);
  });

  test('the --help of every command', async () => {
    const found = (await loadCommands()).flatMap((c) => offending(renderHelp(c)).map((line) => `${c.name}: ${line}`));
    expect(found).toEqual([]);
  });
});
