import { config as dedupConfig } from './configs/dedup.ts';
import {
  type ConfigValues,
  renderContainerArguments,
  renderHyperParameters,
  type StepConfig,
} from './configs/define.ts';
import { config as evaluateConfig } from './configs/evaluate.ts';
import { config as ingestConfig } from './configs/ingest.ts';
import { config as mergeBackConfig } from './configs/merge_back.ts';
import { config as stageBaseModelConfig } from './configs/stage_base_model.ts';
import { config as tokenizationConfig } from './configs/tokenization.ts';
import { config as trainConfig } from './configs/train.ts';
import { type AnyParameter, ExecutionVariables, Join, type Json, type StringValue, toJson } from './expressions.ts';
import { imageUri, type ServingContainer } from './images.ts';
import { maxMicroBatch } from './instances.ts';
import { loadMetricDefinitions } from './metrics.ts';
import { createMedLlamaParameters, type MedLlamaParameters, parameterList } from './parameters.ts';
import { dataVolumes } from './sizing.ts';
import { ConditionStep, Equals, GreaterThanOrEqualTo, LessThanOrEqualTo } from './steps/condition.ts';
import { FailStep } from './steps/fail.ts';
import { PROCESSING_INPUT_ROOT, type ProcessingInputProps, ProcessingStep } from './steps/processing.ts';
import { RegisterModelStep } from './steps/register.ts';
import { CacheConfig, RetryPolicy, type Step } from './steps/step.ts';
import { STOP_PIDS_DIR, stopRelayEntrypoint } from './steps/stop-relay.ts';
import { type ChannelProps, type TrainingJobProps, TrainingStep, TuningStep } from './steps/training.ts';
import { MLFLOW_RESOURCE_ARN, mlflowConfig, trackingEnvironment } from './tracking.ts';

/** Step names: one name for one thing across the definition, the console, the local runner and the docs. */
export const STEP_NAMES = {
  /** Only with a JumpStart base model: the gated archive → an HF model folder (see {@link stageBaseModelStep}). */
  stageBaseModel: 'StageBaseModel',
  ingest: 'Ingest',
  dedup: 'Dedup',
  tokenize: 'Tokenize',
  train: 'Train',
  /** Merge-back candidates from the base and the tuned weights (docs/training.md "Merging back"). */
  mergeBack: 'MergeBack',
  evaluate: 'Evaluate',
  qualityGate: 'QualityGate',
  register: 'Register',
  fail: 'QualityGateFailed',
} as const;

/**
 * The evaluation.json paths the QualityGate compares (DESIGN §4.6; medllama/evaluate/gate.py writes them, in this
 * order): `checks_computed` is 1 only when every check below was computed, and each bound is the conservative side
 * of its paired comparison's 95% CI, or null when not computed (a null never satisfies a comparison).
 */
export const GATE_PATHS = {
  checksComputed: 'gate.checks_computed',
  perplexityImprovementLower: 'gate.perplexity_improvement_lower',
  pubmedqaDeltaLower: 'gate.pubmedqa_delta_lower',
  generalRegressionUpper: 'gate.general_regression_upper',
} as const;

/** One line naming every check, its bound, threshold and verdict, and the checks not computed (always a string). */
export const GATE_SUMMARY_PATH = 'gate.summary';

/**
 * What Register reads from evaluation.json (medllama/evaluate/gate.py `chosen_gate`): the S3 folder of the candidate
 * the gate chose (always a string), and the model package metadata naming it and its bounds (strings in
 * CustomerMetadataValue's characters). Keys are the metadata names; values the JSON paths.
 */
export const CHOSEN_MODEL_DATA_PATH = 'gate.chosen_model_data';
export const CHOSEN_METADATA_PATHS = {
  Candidate: 'gate.metadata.candidate',
  CandidateMethod: 'gate.metadata.method',
  PerplexityImprovementLower: 'gate.metadata.perplexity_improvement_lower',
  PubMedQADeltaLower: 'gate.metadata.pubmedqa_delta_lower',
  GeneralRegressionUpper: 'gate.metadata.general_regression_upper',
  CandidatesEvaluated: 'gate.metadata.candidates_evaluated',
} as const;

export type BaseModelSource =
  /**
   * The gated JumpStart Llama 2 weights (one .tar.gz); the EULA must be accepted explicitly. Only a Training
   * channel with `ModelAccessConfig.AcceptEula` can read them, so the definition gains a `StageBaseModel` step
   * that turns the archive into an HF model folder for Tokenize, Train and Evaluate.
   */
  | { readonly kind: 'jumpstart'; readonly acceptEula: true; readonly s3Uri: string }
  /** A user-staged Hugging Face model folder (config.json, tokenizer, safetensors). */
  | { readonly kind: 's3'; readonly s3Uri: string };

export interface TuningOptions {
  /** @default [1e-5, 5e-4] on a log scale */
  readonly learningRate?: readonly [number, number];
  /** @default [1, 4] */
  readonly perDeviceTrainBatchSize?: readonly [number, number];
  /** @default ['8', '16', '32', '64'] */
  readonly loraRanks?: readonly number[];
}

export interface MedLlamaPipelineOptions {
  /** Execution role of the jobs (and the pipeline). A literal ARN or a placeholder the stack substitutes. */
  readonly roleArn: string;
  /** Bucket name for corpus data: the default input and the Ingest/Dedup/Tokenize outputs. */
  readonly dataBucket: string;
  /** Bucket name for models, checkpoints and evaluation reports. */
  readonly artifactBucket: string;
  /**
   * KMS key for job outputs, and for the storage volumes of the CPU steps (GPU instances with local NVMe
   * storage reject VolumeKmsKeyId; their instance storage is hardware-encrypted).
   * @default - bucket default encryption; AWS-managed volume keys
   */
  readonly kmsKeyArn?: string;
  /**
   * S3 URI of the processing code: a prefix holding the entry scripts (`ingest.py` …) and the `medllama`
   * package, or a `.tar.gz` of the same (unpacked into /tmp/code before the entry script runs).
   */
  readonly codeUri: string;
  /** S3 URI of `sourcedir.tar.gz` (train.py, medllama/, requirements.txt) for `sagemaker_submit_directory`. */
  readonly trainingCodeUri: string;
  /** Region: picks the ECR account of the Deep Learning Containers. */
  readonly region: string;
  readonly modelPackageGroupName: string;
  /**
   * Managed spot training with checkpoints. Synth-time, because MaxWaitTimeInSeconds is invalid without spot.
   * @default false
   */
  readonly spot?: boolean;
  readonly baseModel: BaseModelSource;
  /**
   * S3 URI of the Llama 2 tokenizer (a tokenizer.json or a folder holding one) for Tokenize.
   * @default - the base model folder (`s3`), or the `tokenizer.json` of the StageBaseModel output (JumpStart)
   */
  readonly tokenizerUri?: string;
  /** S3 prefix with PubMedQA (ori_pqal.json + test_ground_truth.json) for Evaluate. */
  readonly benchmarksUri: string;
  /**
   * S3 prefix of the general-text set for the regression check (several .txt/.jsonl files: its CI resamples files;
   * `medllama stage-benchmarks` stages the project's own set). Required: the gate never passes without it.
   */
  readonly generalTextUri: string;
  /** S3 URI of a text file of PMIDs to exclude from training (benchmark decontamination). @default - none */
  readonly decontamPmidsUri?: string;
  /**
   * Replace Train with a Bayesian hyperparameter tuning step; its best job feeds Evaluate and Register.
   * @default - no tuning
   */
  readonly tuning?: TuningOptions | boolean;
  /** @default 'vllm' (containers/dlc.json serving.default) */
  readonly serving?: ServingContainer;
  /** Max context of the serving container. @default 4096 */
  readonly servingMaxModelLen?: number;
  /** Name under which vLLM serves the model (requests' `model`). @default 'medllama' */
  readonly servedModelName?: string;
  /** Train MaxRuntimeInSeconds. @default 432000 (5 days) */
  readonly trainMaxRuntimeSeconds?: number;
  /**
   * The Train instance type the definition is sized for (the TrainInstanceType parameter's default): tuning's
   * batch-size range is capped to what fits its GPUs. @default 'ml.g5.12xlarge'
   */
  readonly trainInstanceType?: string;
  /** S3 prefix for the definition's default input. @default `s3://<dataBucket>/pmc-oa/` */
  readonly inputDataUri?: string;
  /**
   * How Ingest gets the articles. `staged`: XML in your bucket, a File-mode ProcessingInput split over the Ingest
   * instances (`ShardedByS3Key`). `pmc-open-data`: the public PMC Cloud bucket, read by the step's own S3 reader
   * (parallel GETs from its inventory); declaring that bucket as a File input would copy all of it onto every volume.
   * @default 'staged'
   */
  readonly ingestSource?: 'staged' | 'pmc-open-data';
  /**
   * Articles the pipeline is sized for: the data steps' volumes hold that many (`pipeline-steps/sizing.ts`).
   * @default 5,600,000 (the full PMC OA subset)
   */
  readonly corpusArticles?: number;
  /**
   * ARN of the SageMaker MLflow App (or tracking server) the steps log to (docs/tracking.md): Train's `MlflowConfig`
   * and the steps' MLflow environment. With `tuning`, each trial logs through its environment to a run of its own
   * under the execution's (a tuning job's training definition has no `MlflowConfig`).
   * @default - no MLflow tracking
   */
  readonly mlflowResourceArn?: string;
}

/** The pipeline definition: `toJSON()` is the document CreatePipeline takes. */
export class PipelineDefinition {
  readonly parameters: readonly AnyParameter[];
  readonly steps: readonly Step[];

  constructor(parameters: readonly AnyParameter[], steps: readonly Step[]) {
    this.parameters = parameters;
    this.steps = steps;
    const seen = new Set<string>();
    for (const step of this.allSteps()) {
      if (seen.has(step.name)) throw new Error(`Duplicate step name "${step.name}" (nested steps count too)`);
      seen.add(step.name);
    }
    const names = new Set<string>();
    for (const p of parameters) {
      if (names.has(p.name)) throw new Error(`Duplicate parameter "${p.name}"`);
      names.add(p.name);
    }
  }

  /** Every step, nested condition branches included, in definition order. */
  allSteps(): Step[] {
    const out: Step[] = [];
    const visit = (s: Step) => {
      out.push(s);
      for (const n of s.nestedSteps()) visit(n);
    };
    for (const s of this.steps) visit(s);
    return out;
  }

  step(name: string): Step {
    const found = this.allSteps().find((s) => s.name === name);
    if (!found) throw new Error(`No step "${name}"`);
    return found;
  }

  toJSON(): Json {
    return toJson({
      Version: '2020-12-01',
      Metadata: {},
      Parameters: this.parameters.map((p) => p.toDefinition()),
      PipelineExperimentConfig: {
        ExperimentName: ExecutionVariables.PIPELINE_NAME,
        TrialName: ExecutionVariables.PIPELINE_EXECUTION_ID,
      },
      Steps: this.steps.map((s) => s.toDefinition()),
    });
  }

  /** The definition as CreatePipeline's `PipelineDefinition` string (compact). */
  toString(): string {
    return JSON.stringify(this.toJSON());
  }
}

/** Retries for steps that call SageMaker: throttling/service faults quickly, capacity with long backoff. */
function jobRetries(capacityIntervalSeconds: number, capacityAttempts: number): RetryPolicy[] {
  return [
    new RetryPolicy({
      exceptionTypes: ['Step.SERVICE_FAULT', 'Step.THROTTLING'],
      intervalSeconds: 10,
      backoffRate: 2,
      maxAttempts: 5,
    }),
    new RetryPolicy({
      exceptionTypes: ['SageMaker.CAPACITY_ERROR', 'SageMaker.RESOURCE_LIMIT'],
      intervalSeconds: capacityIntervalSeconds,
      backoffRate: 1.5,
      maxAttempts: capacityAttempts,
    }),
  ];
}

const CACHE_30_DAYS = new CacheConfig('P30D');
const S3_URI = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function checkOptions(o: MedLlamaPipelineOptions): void {
  const problems: string[] = [];
  const uri = (field: string, value: string | undefined) => {
    if (value !== undefined && !S3_URI.test(value)) problems.push(`${field}: got "${value}", expected an s3:// URI`);
  };
  for (const [field, value] of [
    ['dataBucket', o.dataBucket],
    ['artifactBucket', o.artifactBucket],
  ] as const) {
    if (!BUCKET.test(value)) problems.push(`${field}: got "${value}", expected an S3 bucket name (not a URI)`);
  }
  uri('codeUri', o.codeUri);
  uri('trainingCodeUri', o.trainingCodeUri);
  uri('baseModel.s3Uri', o.baseModel.s3Uri);
  uri('tokenizerUri', o.tokenizerUri);
  uri('benchmarksUri', o.benchmarksUri);
  uri('generalTextUri', o.generalTextUri);
  if (!o.generalTextUri) {
    problems.push(
      'generalTextUri: missing; the quality gate measures the general-text regression and fails without it ' +
        '(stage fixtures/general-text with `medllama stage-benchmarks`)',
    );
  }
  uri('decontamPmidsUri', o.decontamPmidsUri);
  uri('inputDataUri', o.inputDataUri);
  if (o.decontamPmidsUri?.endsWith('/')) {
    problems.push(`decontamPmidsUri: got "${o.decontamPmidsUri}", expected the URI of one file, not a prefix`);
  }
  if (o.baseModel.kind === 'jumpstart' && o.baseModel.acceptEula !== true) {
    problems.push('baseModel.acceptEula: the JumpStart Llama 2 weights need the EULA accepted explicitly (true)');
  }
  if (!/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/.test(o.modelPackageGroupName)) {
    problems.push(`modelPackageGroupName: got "${o.modelPackageGroupName}", expected 1-63 letters, digits and '-'`);
  }
  if (o.mlflowResourceArn !== undefined && !MLFLOW_RESOURCE_ARN.test(o.mlflowResourceArn)) {
    problems.push(
      `mlflowResourceArn: got "${o.mlflowResourceArn}", expected the ARN of an MLflow App or tracking server ` +
        '(arn:aws:sagemaker:<region>:<account>:mlflow-app/<id> or …:mlflow-tracking-server/<name>)',
    );
  }
  if (problems.length) throw new Error(`Invalid MedLlama pipeline options:\n  - ${problems.join('\n  - ')}`);
}

/** `s3://<bucket>/<prefix>/<execution id>/<step>/<output>`: per-execution outputs (caching propagates old ones). */
function executionPrefix(bucket: string, prefix: string, ...rest: string[]): Join {
  return new Join('/', [`s3://${bucket}/${prefix}`, ExecutionVariables.PIPELINE_EXECUTION_ID, ...rest]);
}

/** Entry point and code input of a container processing step. */
function codeSpec(codeUri: string, step: string): { entrypoint: string[]; input: ProcessingInputProps } {
  const codeDir = `${PROCESSING_INPUT_ROOT}/code`;
  const input: ProcessingInputProps = { name: 'code', source: codeUri, localPath: codeDir };
  if (!codeUri.endsWith('.tar.gz')) return { entrypoint: ['python3', `${codeDir}/${step}.py`], input };
  const archive = codeUri.slice(codeUri.lastIndexOf('/') + 1);
  return {
    entrypoint: [
      '/bin/sh',
      '-c',
      `mkdir -p /tmp/code && tar -xzf ${codeDir}/${archive} -C /tmp/code && cd /tmp/code && exec python3 ${step}.py "$@"`,
      step,
    ],
    input,
  };
}

/** MergeBack's volume: the base and tuned inputs (2 × 13.5 GB for 7B in bf16) and a few candidates of 13.5 GB. */
export const MERGE_BACK_VOLUME_GB = 150;

/** Instance of StageBaseModel: CPU only; 32 GiB of memory, 8 vCPUs for the gzip stream. */
export const STAGE_BASE_MODEL_INSTANCE_TYPE = 'ml.m5.2xlarge';
/** Archive (~13 GB) + extracted folder (~13 GB, moved into the model dir on the same volume) + headroom. */
export const STAGE_BASE_MODEL_VOLUME_GB = 100;

export interface StageBaseModelProps {
  readonly roleArn: string;
  readonly region: string;
  /** The gated archive (or prefix) in the JumpStart private cache. */
  readonly gatedUri: string;
  /** `sourcedir.tar.gz` (or code prefix) holding `stage_base_model.py` and the `medllama` package. */
  readonly trainingCodeUri: string;
  readonly artifactBucket: string;
  /** @default - AWS-managed volume key and the bucket's default encryption */
  readonly kmsKeyArn?: string;
}

/**
 * The StageBaseModel Training step: its only channel carries `ModelAccessConfig: {AcceptEula: true}` (the one way
 * to read the gated JumpStart weights), `medllama.stage_base_model` extracts and checks the archive and writes an
 * HF model folder uncompressed (`ModelArtifacts.S3ModelArtifacts`). Its arguments do not depend on the execution,
 * so the 30-day cache makes it run once.
 */
export function stageBaseModelStep(p: StageBaseModelProps): TrainingStep {
  return new TrainingStep({
    name: STEP_NAMES.stageBaseModel,
    roleArn: p.roleArn,
    imageUri: imageUri('training', p.region),
    instanceType: STAGE_BASE_MODEL_INSTANCE_TYPE,
    instanceCount: 1,
    volumeSizeInGB: STAGE_BASE_MODEL_VOLUME_GB,
    ...(p.kmsKeyArn ? { volumeKmsKeyId: p.kmsKeyArn, outputKmsKeyId: p.kmsKeyArn } : {}),
    // Under training/ (a write prefix of the role); the job name generated per run keeps it apart from Train.
    outputPath: `s3://${p.artifactBucket}/training`,
    channels: [
      {
        name: 'base_model',
        s3Uri: p.gatedUri,
        contentType: 'application/x-sagemaker-model',
        acceptEula: true,
        s3DataType: 'S3Prefix',
      },
    ],
    hyperParameters: {
      ...renderHyperParameters(stageBaseModelConfig, {}),
      sagemaker_program: JSON.stringify('stage_base_model.py'),
      sagemaker_submit_directory: JSON.stringify(p.trainingCodeUri),
      sagemaker_container_log_level: '20',
      sagemaker_region: JSON.stringify(p.region),
    },
    maxRuntimeInSeconds: 4 * 3600,
    retryPolicies: jobRetries(60, 5),
    cache: CACHE_30_DAYS,
  });
}

function containerArgs<S extends StepConfig['schema']>(config: StepConfig<S>, values: ConfigValues<S>): StringValue[] {
  return renderContainerArguments(config, values);
}

/**
 * Builds the MedLlama pipeline: Ingest → Dedup → Tokenize → Train (or a Tuning step) → MergeBack → Evaluate →
 * QualityGate → Register | QualityGateFailed, plus StageBaseModel (in parallel with Ingest/Dedup, feeding
 * Tokenize, Train and Evaluate) when the base model comes from JumpStart. Pure: same options ⇒ the same JSON.
 */
export function buildMedLlamaPipeline(options: MedLlamaPipelineOptions): PipelineDefinition {
  checkOptions(options);
  const o = options;
  const tuning = o.tuning === true ? {} : o.tuning || undefined;
  const params: MedLlamaParameters = createMedLlamaParameters({
    inputDataUri: o.inputDataUri ?? `s3://${o.dataBucket}/pmc-oa/`,
    tuning: tuning !== undefined,
  });
  const processingImage = imageUri('processing', o.region);
  const trainingImage = imageUri('training', o.region);
  const serving = o.serving ?? 'vllm';
  const outputKms = o.kmsKeyArn ? { outputKmsKeyId: o.kmsKeyArn } : {};
  const cpuVolumeKms = o.kmsKeyArn ? { volumeKmsKeyId: o.kmsKeyArn } : {};

  const processing = (step: string) => codeSpec(o.codeUri, step);
  // MLflow (pipeline-steps/tracking.ts): the cached data steps log to runs of their own, Train and Evaluate to the
  // execution's run; a tuning step's trials each to a run of their own under it.
  const mlflowArn = o.mlflowResourceArn;
  const dataTracking = mlflowArn ? { environment: trackingEnvironment(mlflowArn, 'job') } : {};
  const runTracking = trackingEnvironment(mlflowArn, 'execution');
  const trainTracking = trackingEnvironment(mlflowArn, tuning ? 'trial' : 'execution');

  // JumpStart: the gated archive is readable only through a Training channel with AcceptEula, so one cached
  // step stages it as an HF folder, and every later step reads that folder like a user-staged base model.
  const stage =
    o.baseModel.kind === 'jumpstart'
      ? stageBaseModelStep({
          roleArn: o.roleArn,
          region: o.region,
          gatedUri: o.baseModel.s3Uri,
          trainingCodeUri: o.trainingCodeUri,
          artifactBucket: o.artifactBucket,
          kmsKeyArn: o.kmsKeyArn,
        })
      : undefined;
  const baseModelFolder: StringValue = stage ? stage.modelArtifacts : o.baseModel.s3Uri;

  const fromOpenData = (o.ingestSource ?? 'staged') === 'pmc-open-data';
  const volumes = dataVolumes({ articles: o.corpusArticles, ingestReadsS3: fromOpenData });

  // Ingest. Staged XML: SageMaker gives each instance its share of the files (ShardedByS3Key) and the step keeps
  // all it received (--input_sharded); its outputs are named by its position in resourceconfig.json. The public
  // bucket: the step lists it from its inventory and takes its share of the articles itself.
  const ingestCode = processing('ingest');
  const ingestInputs: ProcessingInputProps[] = [
    ingestCode.input,
    ...(fromOpenData
      ? []
      : [
          { name: 'articles', source: params.inputDataUri, flag: 'input_dir', distribution: 'ShardedByS3Key' as const },
        ]),
  ];
  const ingestSource: ConfigValues<typeof ingestConfig.schema> = fromOpenData
    ? { input_mode: 's3', s3_uri: params.inputDataUri }
    : { input_sharded: true };
  const decontamFlag: string[] = [];
  if (o.decontamPmidsUri) {
    // A file input lands in the input folder under its own name.
    ingestInputs.push({ name: 'decontam', source: o.decontamPmidsUri });
    const file = o.decontamPmidsUri.slice(o.decontamPmidsUri.lastIndexOf('/') + 1);
    decontamFlag.push('--decontam_pmids', `${PROCESSING_INPUT_ROOT}/decontam/${file}`);
  }
  const ingest = new ProcessingStep({
    name: STEP_NAMES.ingest,
    roleArn: o.roleArn,
    imageUri: processingImage,
    entrypoint: ingestCode.entrypoint,
    instanceType: params.ingestInstanceType,
    instanceCount: params.ingestInstanceCount,
    volumeSizeInGB: volumes.ingest,
    ...cpuVolumeKms,
    ...outputKms,
    inputs: ingestInputs,
    outputs: [{ name: 'ingest', destination: executionPrefix(o.dataBucket, 'pipeline', 'Ingest'), flag: 'output_dir' }],
    arguments: [
      ...decontamFlag,
      ...containerArgs(ingestConfig, { ...ingestSource, licenses: params.licenses, max_articles: params.maxArticles }),
    ],
    retryPolicies: jobRetries(60, 5),
    cache: CACHE_30_DAYS,
    ...dataTracking,
  });

  const dedupCode = processing('dedup');
  const dedup = new ProcessingStep({
    name: STEP_NAMES.dedup,
    roleArn: o.roleArn,
    imageUri: processingImage,
    entrypoint: dedupCode.entrypoint,
    instanceType: params.dedupInstanceType,
    instanceCount: 1,
    volumeSizeInGB: volumes.dedup,
    ...cpuVolumeKms,
    ...outputKms,
    inputs: [dedupCode.input, { name: 'ingest', source: ingest.output('ingest'), flag: 'input_dir' }],
    outputs: [{ name: 'dedup', destination: executionPrefix(o.dataBucket, 'pipeline', 'Dedup'), flag: 'output_dir' }],
    arguments: containerArgs(dedupConfig, {
      validation_fraction: params.validationFraction,
      test_fraction: params.testFraction,
    }),
    retryPolicies: jobRetries(60, 5),
    cache: CACHE_30_DAYS,
    ...dataTracking,
  });

  const tokenizeCode = processing('tokenization');
  // Only the tokenizer files of the base model folder, never the 13 GB of weights: tokenizer.json, and its
  // tokenizer_config.json, which names BOS/EOS (medllama/tokenizer.py). A tokenizerUri staged elsewhere is read
  // as Llama 2's (<s> / </s>) and gets no config input.
  const modelFile = (name: string): StringValue =>
    stage ? new Join('/', [stage.modelArtifacts, name]) : `${o.baseModel.s3Uri.replace(/\/+$/, '')}/${name}`;
  const baseTokenizer = modelFile('tokenizer.json');
  const tokenizerUri: StringValue = o.tokenizerUri ?? baseTokenizer;
  const tokenizerConfigInput: ProcessingInputProps[] =
    o.tokenizerUri === undefined || o.tokenizerUri === baseTokenizer
      ? [{ name: 'tokenizer_config', source: modelFile('tokenizer_config.json'), flag: 'tokenizer_config' }]
      : [];
  const tokenize = new ProcessingStep({
    name: STEP_NAMES.tokenize,
    roleArn: o.roleArn,
    imageUri: processingImage,
    entrypoint: tokenizeCode.entrypoint,
    instanceType: params.tokenizeInstanceType,
    instanceCount: params.tokenizeInstanceCount,
    volumeSizeInGB: volumes.tokenize,
    ...cpuVolumeKms,
    ...outputKms,
    inputs: [
      tokenizeCode.input,
      { name: 'dedup', source: dedup.output('dedup'), flag: 'input_dir' },
      { name: 'tokenizer', source: tokenizerUri, flag: 'tokenizer' },
      ...tokenizerConfigInput,
    ],
    outputs: [
      { name: 'tokenize', destination: executionPrefix(o.dataBucket, 'pipeline', 'Tokenize'), flag: 'output_dir' },
    ],
    // The replay corpus is an argument, not an input: ReplayDataUri may be empty, and an input must have objects.
    arguments: containerArgs(tokenizationConfig, { seq_len: params.seqLen, replay_uri: params.replayDataUri }),
    retryPolicies: jobRetries(60, 5),
    cache: CACHE_30_DAYS,
    ...dataTracking,
  });

  const tokens = tokenize.output('tokenize');
  const channels: ChannelProps[] = [
    { name: 'train', s3Uri: new Join('/', [tokens, 'train']) },
    { name: 'validation', s3Uri: new Join('/', [tokens, 'validation']) },
    // Always has objects: without ReplayDataUri, Tokenize writes an empty replay split, and Train mixes nothing.
    { name: 'replay', s3Uri: new Join('/', [tokens, 'replay']) },
    { name: 'base_model', s3Uri: baseModelFolder },
  ];
  const trainValues: ConfigValues<typeof trainConfig.schema> = {
    method: params.method,
    learning_rate: params.learningRate,
    num_train_epochs: params.epochs,
    max_steps: params.maxSteps,
    seq_len: params.seqLen,
    lora_r: params.loraRank,
    gradient_accumulation_steps: params.gradientAccumulationSteps,
    max_eval_blocks: params.maxEvalBlocks,
    max_tokens: params.trainTokens,
    replay_fraction: params.replayFraction,
  };
  const maxRuntime = o.trainMaxRuntimeSeconds ?? 432_000;
  // Train checks its projected finish against its own MaxRuntime (a literal: StoppingCondition takes no parameter).
  trainValues.max_runtime_seconds = maxRuntime;
  const metricDefinitions = loadMetricDefinitions();
  const trainingJob = (tuned: readonly string[] = []): TrainingJobProps => ({
    roleArn: o.roleArn,
    imageUri: trainingImage,
    instanceType: params.trainInstanceType,
    instanceCount: params.trainInstanceCount,
    volumeSizeInGB: 300,
    outputPath: `s3://${o.artifactBucket}/training`,
    ...outputKms,
    channels,
    hyperParameters: {
      ...Object.fromEntries(
        Object.entries(renderHyperParameters(trainConfig, trainValues)).filter(([k]) => !tuned.includes(k)),
      ),
      sagemaker_program: JSON.stringify('train.py'),
      sagemaker_submit_directory: JSON.stringify(o.trainingCodeUri),
      sagemaker_container_log_level: '20',
      sagemaker_region: JSON.stringify(o.region),
      sagemaker_torch_distributed_enabled: 'true',
    },
    metricDefinitions,
    maxRuntimeInSeconds: maxRuntime,
    // SIGTERM reaches the training processes only through this relay (steps/stop-relay.ts).
    container: stopRelayEntrypoint(),
    environment: { MEDLLAMA_STOP_PIDS: STOP_PIDS_DIR, ...trainTracking },
    ...(mlflowArn && !tuning ? { mlflow: mlflowConfig(mlflowArn) } : {}),
    ...(o.spot
      ? {
          spot: {
            maxWaitTimeInSeconds: maxRuntime * 2,
            checkpointS3Uri: executionPrefix(o.artifactBucket, 'checkpoints', 'Train'),
          },
        }
      : {}),
  });

  let train: TrainingStep | TuningStep;
  if (tuning) {
    const objective =
      metricDefinitions.find((m) => m.Name === 'validation:loss') ??
      metricDefinitions.find((m) => /(validation|eval).*loss/.test(m.Name));
    if (!objective) {
      throw new Error(
        `tuning: no validation-loss metric in metric_definitions.json (${metricDefinitions.map((m) => m.Name).join(', ')})`,
      );
    }
    const lr = tuning.learningRate ?? [1e-5, 5e-4];
    // The batch-size range stops where a micro-batch still fits the GPUs of the Train instance type at SeqLen
    // (both the parameters' defaults; instances.ts), so no trial is spent on an out-of-memory crash.
    const wanted = tuning.perDeviceTrainBatchSize ?? [1, 4];
    const fits = maxMicroBatch(o.trainInstanceType ?? 'ml.g5.12xlarge', 4096);
    if (fits < 1) throw new Error(`tuning: no micro-batch fits ${o.trainInstanceType} at seq 4096 (instances.ts)`);
    const bs = [wanted[0], Math.max(wanted[0] + 1, Math.min(wanted[1], fits))] as const;
    train = new TuningStep({
      name: STEP_NAMES.train,
      trainingJob: trainingJob(['learning_rate', 'per_device_train_batch_size', 'lora_r']),
      ranges: [
        { kind: 'continuous', name: 'learning_rate', min: lr[0], max: lr[1], scaling: 'Logarithmic' },
        { kind: 'integer', name: 'per_device_train_batch_size', min: bs[0], max: bs[1], scaling: 'Linear' },
        { kind: 'categorical', name: 'lora_r', values: (tuning.loraRanks ?? [8, 16, 32, 64]).map(String) },
      ],
      objectiveMetric: objective.Name,
      objectiveType: 'Minimize',
      maxNumberOfTrainingJobs: params.maxTuningJobs!,
      maxParallelTrainingJobs: params.maxParallelTuningJobs!,
      retryPolicies: jobRetries(600, 10),
    });
  } else {
    train = new TrainingStep({
      name: STEP_NAMES.train,
      ...trainingJob(),
      retryPolicies: jobRetries(600, 10),
    });
  }

  // MergeBack: every merge-back candidate of MergeCandidates as a full HF folder under its output, and
  // candidates.json (always written, so the output is never empty); the tuned model itself is never copied.
  const mergeBackCode = processing('merge_back');
  const mergeBack = new ProcessingStep({
    name: STEP_NAMES.mergeBack,
    roleArn: o.roleArn,
    imageUri: processingImage,
    entrypoint: mergeBackCode.entrypoint,
    instanceType: params.mergeInstanceType,
    instanceCount: 1,
    // base + tuned inputs (2 × 13.5 GB) + up to a few candidates of 13.5 GB each
    volumeSizeInGB: MERGE_BACK_VOLUME_GB,
    ...cpuVolumeKms,
    ...outputKms,
    inputs: [
      mergeBackCode.input,
      { name: 'base_model', source: baseModelFolder, flag: 'base_model_dir' },
      { name: 'tuned_model', source: train.modelArtifacts, flag: 'tuned_model_dir' },
    ],
    outputs: [
      {
        name: 'candidates',
        destination: executionPrefix(o.artifactBucket, 'candidates', STEP_NAMES.mergeBack),
        flag: 'output_dir',
      },
    ],
    arguments: containerArgs(mergeBackConfig, { candidates: params.mergeCandidates }),
    ...(mlflowArn ? { environment: runTracking } : {}),
    retryPolicies: jobRetries(60, 5),
  });
  const candidatesFolder = mergeBack.output('candidates');

  const evaluateCode = processing('evaluate');
  const evaluateInputs: ProcessingInputProps[] = [
    evaluateCode.input,
    { name: 'base_model', source: baseModelFolder, flag: 'base_model_dir' },
    { name: 'tuned_model', source: train.modelArtifacts, flag: 'tuned_model_dir' },
    { name: 'candidates', source: candidatesFolder, flag: 'candidates_dir' },
    { name: 'test', source: new Join('/', [dedup.output('dedup'), 'test']), flag: 'test_dir' },
    { name: 'benchmarks', source: o.benchmarksUri, flag: 'benchmarks_dir' },
    { name: 'general', source: o.generalTextUri, flag: 'general_dir' },
  ];
  const evaluate = new ProcessingStep({
    name: STEP_NAMES.evaluate,
    roleArn: o.roleArn,
    imageUri: processingImage,
    entrypoint: evaluateCode.entrypoint,
    instanceType: params.evaluateInstanceType,
    instanceCount: 1,
    volumeSizeInGB: 200,
    ...outputKms,
    inputs: evaluateInputs,
    outputs: [
      {
        name: 'evaluation',
        destination: executionPrefix(o.artifactBucket, 'evaluation', 'Evaluate'),
        flag: 'output_dir',
      },
    ],
    arguments: [
      // where each candidate lives in S3, so that evaluation.json names the chosen one's folder for Register
      '--tuned_model_uri',
      train.modelArtifacts,
      '--candidates_uri',
      candidatesFolder,
      ...containerArgs(evaluateConfig, {
        seq_len: params.seqLen,
        max_test_documents: params.evalMaxTestDocuments,
        max_document_tokens: params.evalMaxDocumentTokens,
        bootstrap_samples: params.evalBootstrapSamples,
        pubmedqa_limit: params.pubMedQALimit,
        max_new_tokens: params.evalMaxNewTokens,
        device: params.evaluateDevice,
        // The QualityGate's own thresholds, so that evaluation.json records each check's threshold and verdict.
        min_perplexity_improvement: params.minPerplexityImprovement,
        min_pubmedqa_delta: params.minPubMedQADelta,
        max_general_regression: params.maxGeneralRegression,
      }),
    ],
    propertyFiles: [{ name: 'EvaluationReport', outputName: 'evaluation', filePath: 'evaluation.json' }],
    ...(mlflowArn ? { environment: runTracking } : {}),
    retryPolicies: jobRetries(300, 10),
  });

  const report = evaluate.propertyFile('EvaluationReport');

  const servingEnvironment: Record<string, string> =
    serving === 'vllm'
      ? {
          SM_VLLM_MAX_MODEL_LEN: String(o.servingMaxModelLen ?? 4096),
          SM_VLLM_DTYPE: 'bfloat16',
          SM_VLLM_SERVED_MODEL_NAME: o.servedModelName ?? 'medllama',
        }
      : {
          HF_MODEL_ID: '/opt/ml/model',
          SM_NUM_GPUS: '1',
          MAX_INPUT_LENGTH: String((o.servingMaxModelLen ?? 4096) - 1024),
          MAX_TOTAL_TOKENS: String(o.servingMaxModelLen ?? 4096),
        };
  const register = new RegisterModelStep({
    name: STEP_NAMES.register,
    modelPackageGroupName: o.modelPackageGroupName,
    approvalStatus: params.modelApprovalStatus,
    image: imageUri(serving, o.region),
    // The candidate the gate chose (the tuned model or a merged folder), and metadata naming it and its bounds.
    modelData: report.get(CHOSEN_MODEL_DATA_PATH, 'String'),
    customerMetadataProperties: Object.fromEntries(
      Object.entries(CHOSEN_METADATA_PATHS).map(([key, path]) => [key, report.get(path, 'String')]),
    ),
    environment: servingEnvironment,
    supportedContentTypes: ['application/json'],
    supportedResponseMIMETypes: ['application/json', 'text/event-stream'],
    supportedRealtimeInferenceInstanceTypes: ['ml.g5.2xlarge', 'ml.g5.12xlarge', 'ml.g6e.2xlarge', 'ml.p4d.24xlarge'],
    modelQualityStatistics: {
      s3Uri: new Join('/', [evaluate.output('evaluation'), 'evaluation.json']),
      contentType: 'application/json',
    },
    retryPolicies: [
      new RetryPolicy({
        exceptionTypes: ['Step.SERVICE_FAULT', 'Step.THROTTLING'],
        intervalSeconds: 10,
        backoffRate: 2,
        maxAttempts: 5,
      }),
    ],
  });

  // The message joins only the summary string, never a bound: a bound may be null, and a null in Std:Join is
  // not something to rely on. The summary names each check, its bound, the threshold and what was not computed.
  const fail = new FailStep({
    name: STEP_NAMES.fail,
    errorMessage: new Join('', ['Quality gate failed: ', report.get(GATE_SUMMARY_PATH)]),
  });

  // Every bound must clear its threshold, and every check must have been computed: an uncomputed bound is null,
  // which no comparison accepts, and checks_computed == 1 says so explicitly (docs/evaluation.md "The gate").
  const gate = new ConditionStep({
    name: STEP_NAMES.qualityGate,
    conditions: [
      Equals(report.get(GATE_PATHS.checksComputed), 1),
      GreaterThanOrEqualTo(report.get(GATE_PATHS.perplexityImprovementLower), params.minPerplexityImprovement),
      GreaterThanOrEqualTo(report.get(GATE_PATHS.pubmedqaDeltaLower), params.minPubMedQADelta),
      LessThanOrEqualTo(report.get(GATE_PATHS.generalRegressionUpper), params.maxGeneralRegression),
    ],
    ifSteps: [register],
    elseSteps: [fail],
  });

  // With tuning, the learning rate and LoRA rank are searched, so their parameters would do nothing.
  const tunedAway = tuning ? new Set<AnyParameter>([params.learningRate, params.loraRank]) : new Set<AnyParameter>();
  const parameters = parameterList(params).filter((p) => !tunedAway.has(p));
  const steps: Step[] = [ingest, dedup, tokenize, train, mergeBack, evaluate, gate];
  return new PipelineDefinition(parameters, stage ? [stage, ...steps] : steps);
}
