/**
 * The evaluation.json contract (DESIGN §4.6) end to end: synthesize the definition, take the Evaluate
 * step's ContainerArguments from it (expressions resolved like an execution would, paths mapped to temp
 * folders), run `medllama.evaluate` on a tiny Llama with the real tokenizer, and check that every
 * `Std:JsonGet` path the QualityGate reads resolves to a finite number in the evaluation.json it wrote.
 * Then the rule "nothing uncomputed passes": the same step with an empty general-text channel writes
 * checks_computed 0 and a null bound, and the definition's QualityGate, evaluated as the local runner does,
 * fails with a message that names the check that was not computed.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { buildMedLlamaPipeline } from '../pipeline-steps/definition.ts';
import { evaluateConditions, type ResolveContext, resolveValue } from '../pipeline-steps/local/expressions.ts';
import type { Json } from '../pipeline-steps/local/types.ts';
import { formatIssues, validateDefinition } from '../pipeline-steps/validate.ts';
import { PLACEHOLDER_OPTIONS } from './pipeline-options.ts';
import { jsonGetPaths } from './support/definition.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = join(root, '.venv', 'bin', 'python');
const hasPython = existsSync(python);

type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };
interface Step {
  Name: string;
  Type: string;
  Arguments: Record<string, JsonValue>;
}

const definition = buildMedLlamaPipeline(PLACEHOLDER_OPTIONS).toJSON() as unknown as {
  Parameters: { Name: string; DefaultValue: string | number | boolean }[];
  Steps: Step[];
};

/** The step properties Evaluate's arguments name, as an execution would see them (S3 URIs of earlier outputs). */
const STEP_PROPERTIES: Record<string, string> = {
  'Steps.Train.ModelArtifacts.S3ModelArtifacts': 's3://artifacts/training/pipelines-x-Train/output/model',
  "Steps.MergeBack.ProcessingOutputConfig.Outputs['candidates'].S3Output.S3Uri":
    's3://artifacts/candidates/x/MergeBack',
};

/** Resolves parameters (defaults, or overrides as an execution would pass them), step properties and Std:Join. */
function resolve(value: JsonValue, overrides: Record<string, string | number>): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    if (typeof value.Get === 'string' && value.Get.startsWith('Parameters.')) {
      const name = value.Get.slice('Parameters.'.length);
      if (name in overrides) return String(overrides[name]);
      const p = definition.Parameters.find((x) => x.Name === name);
      if (!p) throw new Error(`no parameter ${name}`);
      return String(p.DefaultValue);
    }
    if (typeof value.Get === 'string' && value.Get in STEP_PROPERTIES) return STEP_PROPERTIES[value.Get]!;
    const join = value['Std:Join'] as { On: string; Values: JsonValue[] } | undefined;
    if (join) return join.Values.map((v) => resolve(v, overrides)).join(join.On);
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)} outside an execution`);
}

const gate = definition.Steps.find((s) => s.Name === 'QualityGate')!;
const gatePaths = jsonGetPaths(gate.Arguments.Conditions);

test('the QualityGate reads checks_computed and the three bounds of evaluation.json', () => {
  expect(gatePaths).toEqual([
    'gate.checks_computed',
    'gate.perplexity_improvement_lower',
    'gate.pubmedqa_delta_lower',
    'gate.general_regression_upper',
  ]);
});

/** The QualityGate's conditions and its Fail step's message, resolved against `report` as an execution would. */
function judge(report: Json): { passed: boolean; message: Json } {
  const parameters = Object.fromEntries(definition.Parameters.map((p) => [p.Name, p.DefaultValue]));
  const ctx: ResolveContext = {
    parameters,
    execution: {},
    stepProperties: () => undefined,
    readPropertyFile: () => report,
    readS3Json: () => null,
  };
  const fail = (gate.Arguments.ElseSteps as unknown as Step[])[0]!;
  return {
    passed: evaluateConditions(gate.Arguments.Conditions as Json, ctx),
    message: resolveValue(fail.Arguments.ErrorMessage as Json, ctx),
  };
}

describe.skipIf(!hasPython)('medllama.evaluate writes every gate path the definition reads (needs .venv)', () => {
  const work = mkdtempSync(join(tmpdir(), 'medllama-eval-contract-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const base = join(work, 'base');
  const tuned = join(work, 'tuned');
  const testDir = join(work, 'test');

  /** The tiny base and tuned models and a three-document test split, made once. */
  function prepare(): void {
    if (existsSync(testDir)) return;
    for (const [dir, seed] of [
      [base, '0'],
      [tuned, '1'],
    ] as const) {
      const made = spawnSync(python, ['-m', 'medllama.tiny_model', '--output_dir', dir, '--seed', seed], {
        cwd: root,
        encoding: 'utf8',
      });
      expect(made.status, made.stderr).toBe(0);
    }
    mkdirSync(testDir);
    const docs = [
      'Sodium-glucose cotransporter 2 inhibitors reduced hospitalisation for heart failure in patients with preserved ejection fraction.',
      'Direct oral anticoagulant dosing in chronic kidney disease depends on creatinine clearance and drug-specific thresholds.',
      'Tenecteplase given as a single bolus was non-inferior to alteplase for acute ischaemic stroke within four and a half hours.',
    ];
    writeFileSync(
      join(testDir, 'part-00000.jsonl'),
      `${docs.map((text, i) => JSON.stringify({ id: `PMC${1000 + i}`, split: 'test', text })).join('\n')}\n`,
    );
  }

  const candidates = join(work, 'candidates');

  /** Runs MergeBack as the definition calls it (MergeCandidates' default) on the tiny models, once. */
  function runMergeBack(): void {
    if (existsSync(join(candidates, 'candidates.json'))) return;
    prepare();
    const local: Record<string, string> = {
      '/opt/ml/processing/input/base_model': base,
      '/opt/ml/processing/input/tuned_model': tuned,
      '/opt/ml/processing/output/candidates': candidates,
    };
    const merge = definition.Steps.find((s) => s.Name === 'MergeBack')!;
    const app = merge.Arguments.AppSpecification as { ContainerArguments: JsonValue[] };
    const argv = app.ContainerArguments.map((a) => resolve(a, {})).map((a) => local[a] ?? a);
    for (const path of Object.keys(local)) expect(app.ContainerArguments).toContain(path);
    const run = spawnSync(python, ['-m', 'medllama.merge_back', ...argv], { cwd: root, encoding: 'utf8' });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  }

  /** Runs the Evaluate step as the definition calls it, with `general` as the general-text channel and
   * `benchmarks` as the benchmarks channel (default: the whole fixture suite). */
  const reports = new Map<string, Record<string, unknown>>();
  function runEvaluate(
    general: string,
    out: string,
    benchmarks = join(root, 'fixtures', 'benchmarks-mini'),
  ): Record<string, unknown> {
    const done = reports.get(out);
    if (done) return done;
    prepare();
    runMergeBack();
    const local: Record<string, string> = {
      '/opt/ml/processing/input/base_model': base,
      '/opt/ml/processing/input/tuned_model': tuned,
      '/opt/ml/processing/input/candidates': candidates,
      '/opt/ml/processing/input/test': testDir,
      '/opt/ml/processing/input/benchmarks': benchmarks,
      '/opt/ml/processing/input/general': general,
      '/opt/ml/processing/output/evaluation': join(work, out),
    };
    const evaluate = definition.Steps.find((s) => s.Name === 'Evaluate')!;
    const app = evaluate.Arguments.AppSpecification as { ContainerArguments: JsonValue[] };
    // As an execution would: a small SeqLen for the tiny model, the CPU (no GPU here); paths remapped to local folders.
    const argv = app.ContainerArguments.map((a) => resolve(a, { SeqLen: 64, EvaluateDevice: 'cpu' })).map(
      (a) => local[a] ?? a,
    );
    for (const path of Object.keys(local)) expect(app.ContainerArguments).toContain(path);
    const run = spawnSync(
      python,
      [
        '-m',
        'medllama.evaluate',
        ...argv,
        '--max_general_documents',
        '4',
        '--max_new_tokens',
        '4',
        '--bootstrap_samples',
        '100',
        '--pubmedqa_limit',
        '8',
      ],
      {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, CUDA_VISIBLE_DEVICES: '' },
        timeout: 240_000, // three tiny models on the whole fixture suite; minutes when the other test lane is busy
      },
    );
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    const report = JSON.parse(readFileSync(join(work, out, 'evaluation.json'), 'utf8')) as Record<string, unknown>;
    reports.set(out, report);
    return report;
  }

  test('gate paths resolve to finite numbers', () => {
    const report = runEvaluate(join(root, 'fixtures', 'general-text'), 'evaluation');
    for (const path of gatePaths) {
      const value = path
        .split('.')
        .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], report);
      expect(typeof value, `${path} in evaluation.json`).toBe('number');
      expect(Number.isFinite(value as number), `${path} is finite`).toBe(true);
    }
    expect(judge(report as Json).message).toMatch(/^Quality gate failed: no candidate passed \(showing /);
    expect(judge(report as Json).message).toContain('| slerp-t0.5: ');
  }, 300_000);

  test("Register's model data and metadata resolve to what CreateModelPackage accepts", () => {
    const report = runEvaluate(join(root, 'fixtures', 'general-text'), 'evaluation') as { gate: { chosen: string } };
    const ctx: ResolveContext = {
      parameters: Object.fromEntries(definition.Parameters.map((p) => [p.Name, p.DefaultValue])),
      execution: {},
      stepProperties: () => undefined,
      readPropertyFile: () => report as unknown as Json,
      readS3Json: () => null,
    };
    const resolved = JSON.parse(JSON.stringify(definition)) as { Steps: Step[] };
    const gateStep = resolved.Steps.find((s) => s.Name === 'QualityGate')!;
    const register = (gateStep.Arguments.IfSteps as unknown as Step[])[0]!;
    // the one Get left (Evaluate's own output) as an execution would see it; the JsonGets are resolved from `report`
    const metrics = register.Arguments.ModelMetrics as { ModelQuality: { Statistics: { S3Uri: JsonValue } } };
    metrics.ModelQuality.Statistics.S3Uri = 's3://artifacts/evaluation/x/Evaluate/evaluation/evaluation.json';
    register.Arguments = resolveValue(register.Arguments as unknown as Json, ctx) as Record<string, JsonValue>;
    // the API model's lengths, types and members, on the values an execution would send
    expect(formatIssues(validateDefinition(resolved as unknown as Json))).toBe('');
    const args = register.Arguments as {
      InferenceSpecification: { Containers: { ModelDataSource: { S3DataSource: { S3Uri: string } } }[] };
      CustomerMetadataProperties: Record<string, string>;
    };
    const uri = args.InferenceSpecification.Containers[0]!.ModelDataSource.S3DataSource.S3Uri;
    const chosen = report.gate.chosen;
    expect(uri).toBe(
      chosen === 'tuned'
        ? `${STEP_PROPERTIES['Steps.Train.ModelArtifacts.S3ModelArtifacts']}/`
        : `s3://artifacts/candidates/x/MergeBack/${chosen}/`,
    );
    expect(args.CustomerMetadataProperties.Candidate).toBe(chosen);
    for (const value of Object.values(args.CustomerMetadataProperties)) {
      // CustomerMetadataValue: 1-256 letters, spaces, digits and _.:/=+-@
      expect(value).toMatch(/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,256}$/u);
    }
  }, 300_000);

  test('without general text the gate fails and says which check was not computed', () => {
    const empty = join(work, 'no-general-text');
    mkdirSync(empty);
    // PubMedQA alone: the gate's checks need no other task, and the whole suite was run by the tests above
    const pubmedqa = join(work, 'pubmedqa-only');
    mkdirSync(pubmedqa);
    for (const name of ['ori_pqal.json', 'test_ground_truth.json']) {
      copyFileSync(join(root, 'fixtures', 'benchmarks-mini', name), join(pubmedqa, name));
    }
    const report = runEvaluate(empty, 'evaluation-no-general', pubmedqa) as { gate: Record<string, unknown> };
    expect(report.gate.checks_computed).toBe(0);
    expect(report.gate.general_regression_upper).toBeNull();
    const { passed, message } = judge(report as unknown as Json);
    expect(passed).toBe(false);
    expect(message).toMatch(/^Quality gate failed: no candidate passed /);
    // each candidate named with its failing checks
    for (const name of ['tuned', 'slerp-t0.5']) expect(message).toMatch(new RegExp(`[:|] ${name}: `));
    expect(message).toContain(`general_regression NOT COMPUTED (no usable documents in --general_dir ${empty})`);
  }, 300_000);
});
