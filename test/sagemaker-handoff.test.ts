/**
 * Every Training and Tuning step of every synthesized variant hands its hyperparameters to the program through
 * the SageMaker training toolkit itself (PyPI sagemaker-training: json.loads per value, mapping.to_cmd_args), and
 * the program's own parser accepts what arrives: zero errors. Tuned values arrive as the strings the tuner
 * chooses, range ends included. (The toolkit once turned the LoRA target list into `['q_proj', …]`, which Train
 * rejected: every Train job would have exited 2 before any work.)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { resolveParameters, resolveValue } from '../pipeline-steps/local/expressions.ts';
import type { Json, JsonObject, ParameterDefinition } from '../pipeline-steps/local/types.ts';
import { deployedDefinition, synthApp } from './support/pipeline-app.ts';

const ROOT = join(import.meta.dirname, '..');
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const work = mkdtempSync(join(tmpdir(), 'medllama-handoff-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const VARIANTS: Record<string, unknown> = {
  default: {},
  tuning: { tuning: true },
  'jumpstart + spot + PMC open data': {
    spot: true,
    baseModel: { source: 'jumpstart', acceptLlama2Eula: true },
    data: { usePmcOpenData: true },
  },
};

interface Case {
  readonly name: string;
  readonly hyperParameters: Record<string, string>;
}

/** Parameter defaults, and a stand-in for every step property a hyperparameter could reference. */
function resolver(defs: ParameterDefinition[]) {
  return {
    parameters: resolveParameters(defs),
    execution: { PipelineExecutionId: 'exec-1', PipelineName: 'medllama', PipelineExecutionArn: 'arn' },
    stepProperties: () => undefined,
    readPropertyFile: () => null,
    readS3Json: () => null,
  };
}

/** Each Training step's HyperParameters; for a Tuning step, its static ones with each range at both ends. */
function cases(definition: ReturnType<typeof deployedDefinition>): Case[] {
  const ctx = resolver(definition.Parameters as ParameterDefinition[]);
  const out: Case[] = [];
  for (const step of definition.Steps as JsonObject[]) {
    const args = step.Arguments as JsonObject;
    const strings = (hps: Json) => resolveValue(hps, ctx) as Record<string, string>;
    if (step.Type === 'Training')
      out.push({ name: String(step.Name), hyperParameters: strings(args.HyperParameters!) });
    if (step.Type !== 'Tuning') continue;
    const config = args.HyperParameterTuningJobConfig as JsonObject;
    const job = args.TrainingJobDefinition as JsonObject;
    const statics = strings(job.StaticHyperParameters!);
    const ranges = resolveValue(config.ParameterRanges!, ctx) as Record<string, JsonObject[]>;
    const ends: Record<string, string[]> = {};
    for (const r of [...(ranges.ContinuousParameterRanges ?? []), ...(ranges.IntegerParameterRanges ?? [])]) {
      ends[String(r.Name)] = [String(r.MinValue), String(r.MaxValue)];
    }
    for (const r of ranges.CategoricalParameterRanges ?? []) ends[String(r.Name)] = (r.Values as string[]).map(String);
    // The tuner's own spellings of a small continuous value, too.
    if (ends.learning_rate) ends.learning_rate.push('1.0E-5', '0.00012345678901234567');
    const names = Object.keys(ends);
    expect(names.length).toBeGreaterThan(0);
    const widest = Math.max(...names.map((n) => ends[n]!.length));
    for (let i = 0; i < widest; i++) {
      const tuned = Object.fromEntries(names.map((n) => [n, ends[n]![i % ends[n]!.length]!]));
      out.push({ name: `${String(step.Name)} [${JSON.stringify(tuned)}]`, hyperParameters: { ...statics, ...tuned } });
    }
  }
  return out;
}

/** The toolkit's hop for one job (a fresh interpreter with SAGEMAKER_BASE_DIR), then the program's parser. */
function throughTheToolkit(c: Case, dir: string): { argv: string[]; errors: string[] } {
  const config = join(dir, 'input', 'config');
  mkdirSync(join(dir, 'input', 'data', 'train'), { recursive: true });
  mkdirSync(config, { recursive: true });
  writeFileSync(join(config, 'hyperparameters.json'), JSON.stringify(c.hyperParameters));
  writeFileSync(join(config, 'inputdataconfig.json'), JSON.stringify({ train: { TrainingInputMode: 'File' } }));
  writeFileSync(
    join(config, 'resourceconfig.json'),
    JSON.stringify({ current_host: 'algo-1', hosts: ['algo-1'], network_interface_name: 'eth0' }),
  );
  const res = spawnSync(PYTHON, ['-m', 'medllama.sagemaker_toolkit', 'check', dir], { cwd: ROOT, encoding: 'utf8' });
  const last = res.stdout.trim().split('\n').at(-1) ?? '';
  if (!last.startsWith('{')) throw new Error(`${c.name}: no result (exit ${res.status}): ${res.stderr.slice(-1500)}`);
  return JSON.parse(last) as { argv: string[]; errors: string[] };
}

describe('hyperparameters reach the program through the SageMaker training toolkit', () => {
  for (const [variant, config] of Object.entries(VARIANTS)) {
    test(`${variant}: every Training/Tuning job's arguments parse`, { timeout: 240_000 }, () => {
      const definition = deployedDefinition(synthApp(config).templates.pipeline);
      const all = cases(definition);
      expect(all.length).toBeGreaterThan(0);
      const failures: string[] = [];
      for (const [i, c] of all.entries()) {
        const { argv, errors } = throughTheToolkit(c, join(work, variant.replace(/\W+/g, '-'), String(i)));
        failures.push(...errors.map((e) => `${c.name}: ${e}`));
        // What the toolkit renders is what the program parsed: no Python list or dict syntax left in it.
        for (const value of argv.filter((_, k) => k % 2 === 1)) expect(value, c.name).not.toMatch(/^[[{]/);
      }
      expect(failures).toEqual([]);
    });
  }

  test('the old encoding fails the same check (a list as a JSON array)', () => {
    const definition = deployedDefinition(synthApp({}).templates.pipeline);
    const train = cases(definition).find((c) => c.name === 'Train')!;
    const broken = { ...train.hyperParameters, lora_target: JSON.stringify(['q_proj', 'k_proj']) };
    const { argv, errors } = throughTheToolkit({ name: 'Train', hyperParameters: broken }, join(work, 'broken'));
    expect(argv[argv.indexOf('--lora_target') + 1]).toBe("['q_proj', 'k_proj']");
    expect(errors.join('\n')).toMatch(/--lora_target/);
  });
});
