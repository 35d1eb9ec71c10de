// `npm run demo` end to end: scripts/demo.mjs runs the whole pipeline definition locally (Ingest → Dedup →
// Tokenize → Train → Evaluate → QualityGate → Register | QualityGateFailed) on fixtures/demo-corpus with the
// tiny Llama model and the real Llama 2 tokenizer, then writes the report and slides. Runs in a temp runs
// folder (no cache from earlier runs). Takes about 2–4 minutes on 2 cores; no timing is asserted here
// (the ≤ 5 min bar is printed by the demo itself and recorded in docs/local-runner.md).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GATE_PATHS, STEP_NAMES } from '../pipeline-steps/definition.ts';
import type { RunState } from '../pipeline-steps/local/types.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUN_ID = 'demo-e2e';
const TIMEOUT_MS = 10 * 60_000;

/** Every run of the store: name → params, last metrics, metric histories ([step, value]), tags, artifact paths. */
const READ_MLFLOW = `
import json, sys
from mlflow import MlflowClient
client = MlflowClient(tracking_uri="file://" + sys.argv[1])
out = {}
for experiment in client.search_experiments():
    for run in client.search_runs([experiment.experiment_id]):
        rid = run.info.run_id
        def walk(path):
            for a in client.list_artifacts(rid, path):
                yield from walk(a.path) if a.is_dir else [a.path]
        out[run.info.run_name] = {
            "params": run.data.params, "metrics": run.data.metrics, "tags": run.data.tags,
            "history": {k: [[m.step, m.value] for m in client.get_metric_history(rid, k)] for k in run.data.metrics},
            "artifacts": sorted(walk(None)),
        }
print(json.dumps(out))
`;

interface MlflowRun {
  params: Record<string, string>;
  metrics: Record<string, number>;
  tags: Record<string, string>;
  history: Record<string, [number, number][]>;
  artifacts: string[];
}

interface Finished {
  code: number | null;
  output: string;
  runDir: string;
  seconds: number;
}

function runDemo(runsDir: string): Promise<Finished> {
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      [join(repo, 'scripts', 'demo.mjs'), '--runs-dir', runsDir, '--run-id', RUN_ID],
      { cwd: repo, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGINT'), TIMEOUT_MS - 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output, runDir: join(runsDir, RUN_ID), seconds: (Date.now() - started) / 1000 });
    });
  });
}

/** `gate.perplexity_improvement` → evaluation.gate.perplexity_improvement */
function at(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

const tail = (text: string, lines = 60) => text.split('\n').slice(-lines).join('\n');

describe('npm run demo (whole pipeline, tiny model, real tokenizer)', () => {
  let result: Finished;
  let state: RunState;
  let workDir: string;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'medllama-demo-'));
    const runsDir = join(workDir, 'runs');
    result = await runDemo(runsDir);
    const statePath = join(result.runDir, 'state.json');
    if (!existsSync(statePath))
      throw new Error(`the demo wrote no state.json (exit ${result.code}):\n${tail(result.output)}`);
    state = JSON.parse(readFileSync(statePath, 'utf8')) as RunState;
    console.log(`demo e2e: exit ${result.code} in ${result.seconds.toFixed(0)} s, status ${state.status}`);
  }, TIMEOUT_MS);

  // The run folder (≈ 35 MB: models, sandboxes) is removed when the demo succeeded and kept for debugging otherwise.
  afterAll(() => {
    if (result?.code === 0) rmSync(workDir, { recursive: true, force: true });
    else if (workDir) console.log(`demo e2e: run folder kept at ${workDir}`);
  });

  test('the demo exits 0 and every step ran; the gate took one branch and recorded it', () => {
    expect(result.code, tail(result.output)).toBe(0);
    const ran = state.order;
    expect(ran.slice(0, 7)).toEqual([
      STEP_NAMES.ingest,
      STEP_NAMES.dedup,
      STEP_NAMES.tokenize,
      STEP_NAMES.train,
      STEP_NAMES.mergeBack,
      STEP_NAMES.evaluate,
      STEP_NAMES.qualityGate,
    ]);
    for (const name of ran.slice(0, 7))
      expect(state.steps[name]?.state, `${name}: ${tail(result.output)}`).toBe('Succeeded');
    const gate = state.steps[STEP_NAMES.qualityGate]!;
    expect(typeof gate.outcome).toBe('boolean');
    if (gate.outcome) {
      expect(ran).toEqual([...ran.slice(0, 7), STEP_NAMES.register]);
      expect(state.steps[STEP_NAMES.register]?.state).toBe('Succeeded');
      expect(state.status).toBe('Succeeded');
    } else {
      expect(ran).toEqual([...ran.slice(0, 7), STEP_NAMES.fail]);
      expect(state.status).toBe('Failed');
      // the demo's MergeCandidates default: the tuned model and one SLERP merge
      expect(state.failureReason).toMatch(/^QualityGateFailed: Quality gate failed: no candidate passed \(showing /);
    }
  });

  test('the registry entry exists (gate passed) or the failure message names every check and bound (gate failed)', () => {
    const registryRoot = join(result.runDir, 'registry');
    const gate = state.steps[STEP_NAMES.qualityGate]!;
    if (gate.outcome) {
      const entry = state.steps[STEP_NAMES.register]?.properties?.RegistryEntry;
      expect(typeof entry).toBe('string');
      const registered = JSON.parse(readFileSync(join(result.runDir, entry as string), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(registered.ModelPackageGroupName).toBe('medllama-local');
      expect(registered.ModelApprovalStatus).toBe('PendingManualApproval');
      const modelDir = Object.values(registered.ModelDataLocal as Record<string, string>)[0]!;
      expect(existsSync(join(result.runDir, modelDir, 'config.json'))).toBe(true);
      // the folder of the candidate the gate chose, named in the package metadata
      const chosen = (registered.Arguments as { CustomerMetadataProperties: Record<string, string> })
        .CustomerMetadataProperties.Candidate!;
      expect(modelDir.includes(`/MergeBack/${chosen}`) || chosen === 'tuned').toBe(true);
      expect(result.output).toContain(`[demo] registry:   ${join(result.runDir, entry as string)}`);
    } else {
      expect(existsSync(registryRoot) ? readdirSync(registryRoot) : []).toEqual([]);
      // every candidate named with each check it failed, its bound and threshold
      const folder = state.steps[STEP_NAMES.evaluate]!.outputs!.evaluation!;
      const evaluation = JSON.parse(readFileSync(join(result.runDir, folder, 'evaluation.json'), 'utf8')) as {
        gate: { candidate_order: string[] };
      };
      expect(evaluation.gate.candidate_order).toEqual(['tuned', 'slerp-t0.5']);
      for (const name of evaluation.gate.candidate_order) {
        expect(state.failureReason).toMatch(
          new RegExp(
            `[:|] ${name.replace('.', '\\.')}: (\\w+ (NOT COMPUTED|(lower|upper) bound \\S+ [<>]= \\S+ .*FAIL))`,
          ),
        );
      }
      expect(result.output).toContain('[demo] registry:   none: Quality gate failed:');
    }
  });

  test('evaluation.json: every check computed, the bounds finite, and they are what the QualityGate compared', () => {
    const evaluation = state.steps[STEP_NAMES.evaluate]!.outputs!.evaluation!;
    const report = JSON.parse(readFileSync(join(result.runDir, evaluation, 'evaluation.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const values = Object.values(GATE_PATHS).map((p) => at(report, p));
    for (const v of values) {
      expect(typeof v).toBe('number');
      expect(Number.isFinite(v)).toBe(true);
    }
    // The demo parameters give Evaluate a test split and PubMedQA/general inputs: every check is computed.
    expect(at(report, 'gate.checks_computed')).toBe(1);
    expect(at(report, 'gate.not_computed')).toEqual({});
    const conditions = state.steps[STEP_NAMES.qualityGate]!.properties!.Conditions as { left: number; right: number }[];
    expect(conditions.map((c) => c.left)).toEqual(values);
    expect(conditions.map((c) => c.right)).toEqual([
      1,
      state.parameters.MinPerplexityImprovement,
      state.parameters.MinPubMedQADelta,
      state.parameters.MaxGeneralRegression,
    ]);
  });

  test('the model is a loadable Hugging Face folder and the demo printed where it is', () => {
    const model = join(result.runDir, state.steps[STEP_NAMES.train]!.outputs!.model!);
    expect(existsSync(join(model, 'config.json'))).toBe(true);
    expect(readdirSync(model).some((f) => f.endsWith('.safetensors'))).toBe(true);
    expect(existsSync(join(model, 'tokenizer.json'))).toBe(true);
    expect(result.output).toContain(`[demo] model:      ${model}`);
  });

  test('MLflow: the run folder holds a store that MLflow reads back (params, metrics with steps, artifacts)', () => {
    // The runner stands runs/<id>/mlruns in for the MLflow App (pipeline-steps/local/mlflow.ts); read it with
    // MLflow's own client, as `mlflow ui --backend-store-uri runs/<id>/mlruns` would.
    const read = spawnSync(join(repo, '.venv', 'bin', 'python'), ['-c', READ_MLFLOW, join(result.runDir, 'mlruns')], {
      encoding: 'utf8',
      env: { ...process.env, MLFLOW_ALLOW_FILE_STORE: 'true' },
    });
    expect(read.status, read.stderr).toBe(0);
    const runs = JSON.parse(read.stdout) as Record<string, MlflowRun>;
    const execution = runs[RUN_ID]!;
    expect(execution.params['train.method']).toBe('lora');
    expect(execution.params['evaluate.seq_len']).toBeDefined();
    const loss = execution.history.train_loss!;
    expect(loss.length).toBeGreaterThanOrEqual(2);
    expect(loss.map(([step]) => step)).toEqual([...loss.map(([step]) => step)].sort((a, b) => a - b));
    expect(Object.keys(execution.metrics)).toEqual(
      expect.arrayContaining(['tokens_per_second', 'summary.final_train_loss', 'evaluate.gate.checks_computed']),
    );
    expect(execution.artifacts).toEqual(
      expect.arrayContaining([
        'train/training_summary.json',
        'evaluate/evaluation.json',
        'report/report.html',
        'report/slides.html',
      ]),
    );
    expect(result.output).toMatch(
      new RegExp(`mlflow: the report is in run ${RUN_ID} of experiment \\S+ in ${join(result.runDir, 'mlruns')}`),
    );
    // The data steps: a run each, named after its job, with the report's counts.
    const data = Object.values(runs).filter((r) => r.tags['medllama.step']);
    expect(data.map((r) => r.tags['medllama.step']).sort()).toEqual(['dedup', 'ingest', 'tokenize']);
    for (const r of data) expect(Object.keys(r.metrics).length, r.tags['medllama.step']).toBeGreaterThan(0);
  });

  test('report.md, report.html and slides.html exist, name the run, and the demo printed them', () => {
    for (const file of ['report.md', 'report.html', 'slides.html']) {
      const path = join(result.runDir, file);
      expect(existsSync(path), file).toBe(true);
      expect(statSync(path).size).toBeGreaterThan(1000);
      expect(readFileSync(path, 'utf8')).toContain(RUN_ID);
    }
    expect(result.output).toContain(`[demo] report:     ${join(result.runDir, 'report.html')}`);
    expect(result.output).toContain(`[demo] slides:     ${join(result.runDir, 'slides.html')}`);
    expect(result.output).toMatch(/\[demo\] pipeline (Succeeded|Failed); wall time after set-up \d+ min \d+ s/);
  });
});
