import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

const root = join(import.meta.dirname, '..');

function cdkSynth(extraArgs: string[]) {
  const out = mkdtempSync(join(tmpdir(), 'medllama-synth-'));
  const env: NodeJS.ProcessEnv = { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' };
  // No credentials and no profile: synth must not need AWS.
  for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete env[key];
  const res = spawnSync(
    join(root, 'node_modules/.bin/cdk'),
    ['synth', '--quiet', '--no-notices', '-o', out, ...extraArgs],
    {
      cwd: root,
      env,
      encoding: 'utf8',
    },
  );
  return { ...res, out };
}

describe('cdk synth (the CLI, as a user runs it)', () => {
  test('works with no AWS credentials and no context lookups', () => {
    const res = cdkSynth([]);
    expect(res.status, res.stderr).toBe(0);
    const templates = readdirSync(res.out).filter((f) => f.endsWith('.template.json'));
    expect(templates).toContain('MedLlama-dev-Data.template.json');
    const manifest = JSON.parse(readFileSync(join(res.out, 'manifest.json'), 'utf8'));
    expect(JSON.stringify(manifest.missing ?? [])).toBe('[]');
  });

  test('prints no warnings: no unresolved rule environment, every recommended feature flag configured', () => {
    const res = cdkSynth([]);
    expect(res.status, res.stderr).toBe(0);
    const printed = `${res.stdout}\n${res.stderr}`;
    // The EndpointStateChange rule's SNS target (the imported notification topic) is in the stack's environment.
    expect(printed).not.toMatch(/unresolved environment/);
    // cdk.json sets each flag aws-cdk-lib recommends (docs/cdk-feature-flags.md).
    expect(printed).not.toMatch(/feature flags are not configured/);
    expect(printed).not.toMatch(/^\s*WARNING/m);
  });

  test('fails on invalid context, naming the field, the value and what was expected', () => {
    const res = cdkSynth(['-c', 'medllama={"stage":"PROD","region":"us-east-1"}']);
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('medllama.stage: got "PROD", expected lowercase letters');
  });
});

describe('cdk synth context parsing', () => {
  test('accepts a JSON object given on the command line', () => {
    const res = cdkSynth(['-c', 'medllama={"stage":"qa","region":"eu-west-1"}']);
    expect(res.status, res.stderr).toBe(0);
    expect(readdirSync(res.out)).toContain('MedLlama-qa-Data.template.json');
  });

  test('rejects context that is not JSON', () => {
    const res = cdkSynth(['-c', 'medllama=stage:prod']);
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('expected a JSON object');
  });
});
