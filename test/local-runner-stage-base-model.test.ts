// The local runner with a JumpStart base model: the definition gains StageBaseModel (a Training step whose only
// channel is the gated archive, EULA accepted). Here the "gated archive" is a .tar.gz of the seeded tiny Llama
// model in a folder mounted at the JumpStart private-cache URI. StageBaseModel stages it as an HF folder, and
// Tokenize (its tokenizer.json only), Train and Evaluate read that folder; a second run hits StageBaseModel's cache.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  DEMO_PARAMETERS,
  ensureTinyBaseModel,
  LOCAL,
  localBuilderOptions,
  repoRoot,
} from '../lib/cli/commands/local-run.ts';
import {
  buildMedLlamaPipeline,
  type MedLlamaPipelineOptions,
  PipelineDefinition,
  STEP_NAMES,
  stageBaseModelStep,
} from '../pipeline-steps/definition.ts';
import { runPipeline } from '../pipeline-steps/local/runner.ts';
import type { PipelineDefinition as LocalDefinition, RunState } from '../pipeline-steps/local/types.ts';

const python = join(repoRoot, '.venv', 'bin', 'python');
const GATED_BUCKET = 's3://jumpstart-private-cache-prod-us-east-1';
const GATED_KEY = 'meta-training/train-meta-textgeneration-llama-2-7b.tar.gz';
const TIMEOUT_MS = 10 * 60_000;

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** What this test checks is where each step reads the base model from, not what Train learns: the demo's values
 * with a few short steps (the demo test runs the full demo). */
const SMOKE_PARAMETERS = {
  SeqLen: '128',
  MaxSteps: '3',
  GradientAccumulationSteps: '1',
  MaxEvalBlocks: '4',
  EvalBootstrapSamples: '100',
  EvalMaxNewTokens: '4',
  // MergeBack still runs (and reads the staged folder); Evaluate scores base and tuned only
  MergeCandidates: '',
};

describe.skipIf(!existsSync(python))('local runner: JumpStart base model through StageBaseModel', () => {
  let work: string;
  let tiny: string;
  let mounts: Record<string, string>;
  let options: MedLlamaPipelineOptions;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'medllama-stage-'));
    tiny = ensureTinyBaseModel(join(work, 'runs'), python);
    // The gated archive: the HF folder under one top-level directory, as a model tarball usually is.
    const gated = join(work, 'gated');
    mkdirSync(join(gated, 'meta-training'), { recursive: true });
    const tar = spawnSync('tar', ['-czf', join(gated, GATED_KEY), '-C', join(tiny, '..'), 'tiny-llama'], {
      encoding: 'utf8',
    });
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
    mounts = {
      [LOCAL.codeUri]: join(repoRoot, 'containers'),
      [LOCAL.inputUri]: join(repoRoot, 'fixtures', 'demo-corpus'),
      [LOCAL.benchmarksUri]: join(repoRoot, 'fixtures', 'benchmarks-mini'),
      [LOCAL.generalTextUri]: join(repoRoot, 'fixtures', 'general-text'),
      [GATED_BUCKET]: gated,
    };
    options = {
      ...(localBuilderOptions() as unknown as MedLlamaPipelineOptions),
      baseModel: { kind: 'jumpstart', acceptEula: true, s3Uri: `${GATED_BUCKET}/${GATED_KEY}` },
    };
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test(
    'StageBaseModel alone: an HF folder with the archive’s files; the second run is a cache hit',
    async () => {
      const region = options.region;
      const definition = new PipelineDefinition(
        [],
        [
          stageBaseModelStep({
            roleArn: options.roleArn,
            region,
            gatedUri: `${GATED_BUCKET}/${GATED_KEY}`,
            trainingCodeUri: options.trainingCodeUri,
            artifactBucket: options.artifactBucket,
          }),
        ],
      ).toJSON() as unknown as LocalDefinition;
      const runsDir = join(work, 'stage-runs');
      const first = await runPipeline({ definition, runsDir, runId: 's1', python, mounts });
      expect(first.state.failureReason).toBeUndefined();
      const step = first.state.steps[STEP_NAMES.stageBaseModel]!;
      expect(step.state).toBe('Succeeded');
      const model = join(first.runDir, step.outputs!.model!);
      expect(readdirSync(model).sort()).toEqual(readdirSync(tiny).sort());
      for (const name of readdirSync(tiny)) expect(sha256(join(model, name)), name).toBe(sha256(join(tiny, name)));
      const report = JSON.parse(
        readFileSync(join(first.runDir, step.outputs!.output!, 'stage-base-model.json'), 'utf8'),
      );
      expect(report.source).toEqual({ archive: 'train-meta-textgeneration-llama-2-7b.tar.gz' });

      const second = await runPipeline({ definition, runsDir, runId: 's2', python, mounts });
      expect(second.state.steps[STEP_NAMES.stageBaseModel]!.reused).toBe('cache');
      expect(second.state.steps[STEP_NAMES.stageBaseModel]!.cacheKey).toBe(step.cacheKey);
    },
    TIMEOUT_MS,
  );

  test(
    'the whole JumpStart definition runs: Tokenize, Train and Evaluate read the staged folder',
    async () => {
      const definition = buildMedLlamaPipeline(options).toJSON() as unknown as LocalDefinition;
      const declared = new Set((definition.Parameters ?? []).map((p) => p.Name));
      const parameters = Object.fromEntries(
        Object.entries({ ...DEMO_PARAMETERS, ...SMOKE_PARAMETERS }).filter(([k]) => declared.has(k)),
      );
      const { state, runDir } = await runPipeline({
        definition,
        runsDir: join(work, 'full-runs'),
        runId: 'js',
        python,
        mounts,
        parameters,
      });
      // The gate's verdict on a random tiny model is noise (either branch is a complete run); every other step
      // must succeed.
      const failed = Object.entries(state.steps).filter(([n, s]) => s.state === 'Failed' && n !== STEP_NAMES.fail);
      expect(failed.map(([n, s]) => `${n}: ${s.failureReason}`)).toEqual([]);
      const ran = (state as RunState).order;
      expect(ran.slice(0, 7).sort()).toEqual(
        ['StageBaseModel', 'Ingest', 'Dedup', 'Tokenize', 'Train', 'MergeBack', 'Evaluate'].sort(),
      );
      for (const name of ['StageBaseModel', 'Tokenize', 'Train', 'MergeBack', 'Evaluate']) {
        expect(state.steps[name]?.state, name).toBe('Succeeded');
      }
      // Tokenize used the tokenizer that came with the (staged) weights.
      const tokens = join(runDir, state.steps.Tokenize!.outputs!.tokenize!);
      const split = JSON.parse(readFileSync(join(tokens, 'train', 'medllama-split.json'), 'utf8'));
      expect(split.tokenizer_sha256).toBe(sha256(join(tiny, 'tokenizer.json')));
      // Train and Evaluate got the staged folder as their base model.
      const staged = String(
        (state.steps.StageBaseModel!.properties!.ModelArtifacts as { S3ModelArtifacts: string }).S3ModelArtifacts,
      );
      expect(readFileSync(join(runDir, 'logs', 'Train.log'), 'utf8')).toContain(`channel base_model: `);
      expect(readFileSync(join(runDir, 'logs', 'Train.log'), 'utf8')).toContain(staged);
      expect(readFileSync(join(runDir, 'logs', 'Evaluate.log'), 'utf8')).toContain(staged);
    },
    TIMEOUT_MS,
  );
});
