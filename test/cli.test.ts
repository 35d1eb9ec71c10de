// The CLI as a new user meets it: help, --version, command groups, "did you mean", `report --out NEWDIR`.
// Runs bin/medllama.ts's main() in-process with console output captured; nothing here calls AWS.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { loadCommands, main } from '../bin/medllama.ts';
import { type CliCommand, optionLabel, renderHelp, UsageError } from '../lib/cli/command.ts';
import { parseOptions } from '../lib/cli/options.ts';
import { closest, editDistance } from '../lib/suggest.ts';

const repo = join(import.meta.dirname, '..');

/** Runs main(argv); returns its exit code and what it printed to stdout and stderr. */
async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const code = await main(argv);
  vi.restoreAllMocks();
  return { code, out: out.join('\n'), err: err.join('\n') };
}

afterEach(() => vi.restoreAllMocks());

describe('--help of every command', () => {
  let commands: CliCommand[];
  beforeAll(async () => {
    commands = await loadCommands();
  });

  test('lists each option with its value name and a description', () => {
    expect(commands.length).toBeGreaterThanOrEqual(12);
    for (const command of commands) {
      const help = renderHelp(command);
      expect(command.options.length, command.name).toBeGreaterThan(0);
      for (const option of command.options) {
        const label = optionLabel(option);
        if (option.value) expect(option.value, `${command.name} --${option.name}`).toMatch(/^[A-Za-z<[s]/);
        expect(option.description.trim().length, `${command.name} --${option.name}`).toBeGreaterThan(5);
        // The label, then (on its line or the next) the first words of the description.
        const first = option.description.trim().split(/\s+/).slice(0, 3).join(' ');
        const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        expect(help, `${command.name} --${option.name}`).toMatch(
          new RegExp(`^ {2}${escaped(label)}(\\s+|\\n\\s+)${escaped(first)}`, 'm'),
        );
      }
      expect(help).toMatch(/^ {2}-h, --help +show this help$/m);
    }
  });

  test('plan: value names and descriptions instead of "V"; every listed option is one plan accepts', async () => {
    const { code, out } = await cli(['plan', '--help']);
    expect(code).toBe(0);
    expect(out).not.toMatch(/ V\]/);
    expect(out).toMatch(
      /^ {2}--articles N +articles in the corpus \(MaxArticles, when set, caps it\) \(default \d+\)$/m,
    );
    expect(out).toMatch(/^ {2}--param Name=Value +a pipeline parameter, as `medllama start` takes it/m);
  });

  test('a command whose options are parsed from its list cannot accept an unlisted one', () => {
    const options = [
      { name: 'region', value: 'REGION', description: 'where' },
      { name: 'param', value: 'N=V', description: 'a parameter', repeatable: true },
      { name: 'dry-run', description: 'no calls' },
      { name: 'out', value: 'DIR', description: 'folder', default: 'runs' },
    ] as const;
    expect(parseOptions(['--param', 'a=1', '--param', 'b=2', '--dry-run'], options).values).toEqual({
      region: undefined,
      param: ['a=1', 'b=2'],
      'dry-run': true,
      out: 'runs',
    });
    expect(() => parseOptions(['--regoin', 'x'], options)).toThrow(
      'unknown option --regoin (did you mean "--region"?)',
    );
    expect(() => parseOptions(['--out'], options)).toThrow(/^--out needs a value$/);
    expect(() => parseOptions(['--out', '--dry-run'], options)).toThrow(/--out needs a value/);
    expect(() => parseOptions(['--dry-run=yes'], options)).toThrow('--dry-run takes no value');
    expect(() => parseOptions(['x'], options)).toThrow(UsageError);
  });
});

describe('commands and versions', () => {
  test('--version prints the package version', async () => {
    const version = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;
    expect(await cli(['--version'])).toEqual({ code: 0, out: `medllama ${version}`, err: '' });
  });

  test('`medllama local` lists the local subcommands', async () => {
    const bare = await cli(['local']);
    expect(bare.code).toBe(2);
    expect(bare.out).toMatch(/^usage: medllama local <command>/);
    expect(bare.out).toMatch(/^ {2}local run +Run the pipeline definition/m);
    expect(bare.out).toMatch(/^ {2}local serve +serve a locally trained model/m);
    expect(bare.out).not.toMatch(/^ {2}status/m);
    expect((await cli(['local', '--help'])).code).toBe(0);
  });

  test.each([
    [['statsu'], 'unknown command "statsu" (did you mean "status"?)'],
    [['aprove', 'arn'], 'unknown command "aprove" (did you mean "approve"?)'],
    [['lcoal', 'run'], 'unknown command "lcoal" (did you mean "local"?)'],
    [['local', 'rnu'], 'unknown command "local rnu" (did you mean "local run"?)'],
  ])('an unknown command suggests the closest: %j', async (argv, message) => {
    const { code, err } = await cli(argv);
    expect(code).toBe(2);
    expect(err).toContain(`medllama: ${message}`);
  });

  test('an unknown command with nothing close says so without a guess', async () => {
    const { code, err } = await cli(['frobnicate']);
    expect(code).toBe(2);
    expect(err).toMatch(/^medllama: unknown command "frobnicate"\n/);
  });

  test.each([
    [['start', '--regoin', 'eu-west-1'], 'medllama start: unknown option --regoin (did you mean "--region"?)'],
    [['status', '--jsn'], 'medllama status: unknown option --jsn (did you mean "--json"?)'],
    // plan has its own parser; the CLI adds the suggestion to its "unknown option" message.
    [['plan', '--artciles', '5'], 'medllama plan: unknown option --artciles (did you mean "--articles"?)'],
  ])('an unknown option suggests the closest, then shows the help: %j', async (argv, message) => {
    const { code, err } = await cli(argv);
    expect(code).toBe(2);
    expect(err.split('\n')[0]).toBe(message);
    expect(err).toContain('options:');
  });

  test('edit distance counts a swap of neighbours as one edit; far words get no suggestion', () => {
    expect(editDistance('regoin', 'region')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(closest('stauts', ['start', 'status', 'stage-benchmarks'])).toBe('status');
    expect(closest('xyz', ['start', 'status'])).toBeUndefined();
  });
});

describe('report --out', () => {
  test('creates a folder that does not exist yet', async () => {
    const run = mkdtempSync(join(tmpdir(), 'medllama-cli-run-'));
    mkdirSync(join(run, 'logs'));
    const state = {
      schemaVersion: 1,
      runId: 'cli-out',
      pipelineName: 'MedLlama',
      status: 'Succeeded',
      startedAt: '2026-01-01T00:00:00.000Z',
      parameters: {},
      steps: {},
      order: [],
    };
    writeFileSync(join(run, 'state.json'), JSON.stringify(state));
    const out = join(mkdtempSync(join(tmpdir(), 'medllama-cli-out-')), 'new', 'nested');
    const { code, out: printed, err } = await cli(['report', '--run', run, '--out', out]);
    expect({ code, err }).toEqual({ code: 0, err: '' });
    for (const file of ['report.md', 'report.html', 'slides.html'])
      expect(existsSync(join(out, file)), file).toBe(true);
    expect(printed).toContain(join(out, 'report.md'));
  });
});
