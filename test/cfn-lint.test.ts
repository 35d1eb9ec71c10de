import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, test } from 'vitest';
import { buildApp } from '../lib/app.ts';
import { parseConfig } from '../lib/config.ts';
import { cdkJsonContext } from './support/pipeline-app.ts';

const cfnLint = join(import.meta.dirname, '..', '.venv', 'bin', 'cfn-lint');

interface LintMatch {
  readonly Level: string;
  readonly Message: string;
  readonly Rule: { readonly Id: string };
  readonly Filename: string;
}

/** Synthesizes the app for `raw` into a fresh folder and runs cfn-lint on every template; returns its matches. */
function lint(raw: unknown): { templates: string[]; matches: LintMatch[] } {
  const outdir = mkdtempSync(join(tmpdir(), 'medllama-cfn-lint-'));
  const app = new App({ outdir, context: cdkJsonContext() });
  buildApp(app, parseConfig(raw));
  app.synth();
  const templates = readdirSync(outdir)
    .filter((f) => f.endsWith('.template.json'))
    .sort()
    .map((f) => join(outdir, f));
  const res = spawnSync(cfnLint, ['--format', 'json', ...templates], { encoding: 'utf8' });
  if (res.error) throw res.error;
  // Exit status is a bit mask: 2 errors, 4 warnings, 8 informational; anything else is a crash.
  if ((res.status ?? 1) & ~(2 | 4 | 8)) throw new Error(`cfn-lint failed (${res.status}): ${res.stderr}`);
  return { templates, matches: JSON.parse(res.stdout || '[]') as LintMatch[] };
}

describe.skipIf(!existsSync(cfnLint))('cfn-lint on the synthesized templates', () => {
  test.each([
    ['default config', {}],
    [
      'JumpStart, PMC Open Data, spot, tuning, e-mail, TGI',
      {
        baseModel: { source: 'jumpstart', acceptLlama2Eula: true },
        data: { usePmcOpenData: true },
        spot: true,
        tuning: true,
        notificationEmail: 'ml@example.org',
        servingContainer: 'tgi',
      },
    ],
    [
      'JumpStart with a tokenizer override (StageBaseModel step), no tuning',
      {
        baseModel: {
          source: 'jumpstart',
          acceptLlama2Eula: true,
          tokenizerS3Uri: 's3://shared-tokenizers/llama-2/tokenizer.json',
        },
      },
    ],
  ])('%s: zero errors', (_name, raw) => {
    const { templates, matches } = lint(raw);
    expect(templates.map((t) => t.split('/').pop())).toEqual([
      'MedLlama-dev-Data.template.json',
      'MedLlama-dev-Pipeline.template.json',
      'MedLlama-dev-Serving.template.json',
    ]);
    const errors = matches.filter((m) => m.Level === 'Error').map((m) => `${m.Rule.Id} ${m.Filename}: ${m.Message}`);
    expect(errors).toEqual([]);
  });
});

describe.skipIf(!existsSync(cfnLint))('cfn-lint itself', () => {
  test('reports an error in a broken template (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medllama-cfn-lint-bad-'));
    const file = join(dir, 'bad.template.json');
    writeFileSync(
      file,
      JSON.stringify({
        Resources: { Pipeline: { Type: 'AWS::SageMaker::Pipeline', Properties: { PipelineName: 'x', RoleArn: 'y' } } },
      }),
    );
    const res = spawnSync(cfnLint, ['--format', 'json', file], { encoding: 'utf8' });
    const matches = JSON.parse(res.stdout) as LintMatch[];
    expect(matches.some((m) => m.Level === 'Error' && /PipelineDefinition/.test(m.Message))).toBe(true);
  });
});

test('cfn-lint is installed in the project venv', () => {
  expect(existsSync(cfnLint), `${cfnLint} missing: run node scripts/setup.mjs`).toBe(true);
});
