import { type AnyParameter, ParameterFloat, ParameterInteger, ParameterString } from './expressions.ts';

/**
 * The MedLlama pipeline Parameters: everything a user may change per execution (console, `medllama start
 * --param Name=Value`). What cannot be a parameter (spot training, the base model source, buckets) is
 * synth-time configuration of {@link ../definition.ts}.
 */
export interface MedLlamaParameters {
  readonly inputDataUri: ParameterString;
  readonly maxArticles: ParameterInteger;
  readonly licenses: ParameterString;
  readonly ingestInstanceType: ParameterString;
  readonly ingestInstanceCount: ParameterInteger;
  readonly dedupInstanceType: ParameterString;
  readonly validationFraction: ParameterFloat;
  readonly testFraction: ParameterFloat;
  readonly tokenizeInstanceType: ParameterString;
  readonly tokenizeInstanceCount: ParameterInteger;
  readonly seqLen: ParameterInteger;
  readonly replayDataUri: ParameterString;
  readonly replayFraction: ParameterFloat;
  readonly trainInstanceType: ParameterString;
  readonly trainInstanceCount: ParameterInteger;
  readonly method: ParameterString;
  readonly learningRate: ParameterFloat;
  readonly epochs: ParameterInteger;
  readonly maxSteps: ParameterInteger;
  readonly trainTokens: ParameterInteger;
  readonly loraRank: ParameterInteger;
  readonly gradientAccumulationSteps: ParameterInteger;
  readonly maxEvalBlocks: ParameterInteger;
  readonly mergeCandidates: ParameterString;
  readonly mergeInstanceType: ParameterString;
  readonly evaluateInstanceType: ParameterString;
  readonly evalMaxTestDocuments: ParameterInteger;
  readonly evalMaxDocumentTokens: ParameterInteger;
  readonly evalBootstrapSamples: ParameterInteger;
  readonly pubMedQALimit: ParameterInteger;
  readonly evalMaxNewTokens: ParameterInteger;
  readonly evaluateDevice: ParameterString;
  readonly minPerplexityImprovement: ParameterFloat;
  readonly minPubMedQADelta: ParameterFloat;
  readonly maxGeneralRegression: ParameterFloat;
  readonly modelApprovalStatus: ParameterString;
  /** Only with hyperparameter tuning. */
  readonly maxTuningJobs?: ParameterInteger;
  readonly maxParallelTuningJobs?: ParameterInteger;
}

/** MergeCandidates' default: one SLERP halfway between the base and the tuned weights (BioMistral's best merge). */
export const DEFAULT_MERGE_CANDIDATES = 'slerp:t=0.5';
/** MergeInstanceType's default: 64 GiB for two 7B models in bf16 (2 × 13.5 GB) plus fp32 working tensors. */
export const DEFAULT_MERGE_INSTANCE_TYPE = 'ml.r5.2xlarge';

export interface MedLlamaParameterDefaults {
  /** S3 URI of the JATS input (a folder of .xml/.nxml or the PMC Cloud layout). */
  readonly inputDataUri: string;
  /** @default false */
  readonly tuning?: boolean;
}

/**
 * The default token budget: 1B tokens. On the default ml.g5.12xlarge (4 × A10G) at the assumed 1,200 tokens/s per
 * GPU that is 58 h of training, half of Train's 120 h MaxRuntime, so the run ends in time even at half that pace
 * (docs/training.md "Run budget"; Train itself caps the steps if its measured pace says otherwise).
 */
export const DEFAULT_TRAIN_TOKENS = 1_000_000_000;

/**
 * The default share of general replay: 1 %, MEDITRON's mix and what a 2025 scaling-law study found enough to curb
 * forgetting (Me-LLaMA used 20 %; docs/training.md "General replay"). It applies only when ReplayDataUri is set.
 */
export const DEFAULT_REPLAY_FRACTION = 0.01;

/** Creates the parameters; defaults match the step configs' own defaults where both exist. */
export function createMedLlamaParameters(defaults: MedLlamaParameterDefaults): MedLlamaParameters {
  if (!/^s3:\/\/[^/]+/.test(defaults.inputDataUri)) {
    throw new Error(`inputDataUri must be an s3:// URI, got "${defaults.inputDataUri}"`);
  }
  return {
    inputDataUri: new ParameterString('InputDataUri', {
      defaultValue: defaults.inputDataUri,
      description: 'S3 URI of the JATS articles (a folder of .xml/.nxml files or the PMC Cloud layout)',
    }),
    maxArticles: new ParameterInteger('MaxArticles', {
      defaultValue: 0,
      description: 'Ingest only the first N articles by sorted key (0 = all)',
    }),
    licenses: new ParameterString('Licenses', {
      defaultValue: 'CC0,CC BY,CC BY-SA',
      description: 'Comma-separated license allow-list (normalized codes such as "CC BY")',
    }),
    ingestInstanceType: new ParameterString('IngestInstanceType', { defaultValue: 'ml.c5.4xlarge' }),
    ingestInstanceCount: new ParameterInteger('IngestInstanceCount', {
      defaultValue: 1,
      description: 'Ingest instances; each takes its shard of the articles',
    }),
    dedupInstanceType: new ParameterString('DedupInstanceType', {
      defaultValue: 'ml.r5.4xlarge',
      description: 'Dedup runs on one instance (the MinHash index of the whole corpus is in memory)',
    }),
    validationFraction: new ParameterFloat('ValidationFraction', {
      defaultValue: 0.01,
      description:
        'Share of dedup clusters (stable hash of the kept id) in validation, 0 to 0.5; capped at 2000 documents',
    }),
    testFraction: new ParameterFloat('TestFraction', {
      defaultValue: 0.01,
      description:
        'Share of dedup clusters in the held-out test split that Evaluate scores, 0 to 0.5; capped at 2000 documents',
    }),
    tokenizeInstanceType: new ParameterString('TokenizeInstanceType', { defaultValue: 'ml.c5.4xlarge' }),
    tokenizeInstanceCount: new ParameterInteger('TokenizeInstanceCount', { defaultValue: 1 }),
    seqLen: new ParameterInteger('SeqLen', {
      defaultValue: 4096,
      description: 'Tokens per packed block (Tokenize, Train and Evaluate use the same value)',
    }),
    replayDataUri: new ParameterString('ReplayDataUri', {
      defaultValue: '',
      description:
        'S3 prefix of a general-domain replay corpus (.txt files, or .jsonl with a text field) that Tokenize encodes into its replay split; empty = no replay (docs/training.md "General replay")',
    }),
    replayFraction: new ParameterFloat('ReplayFraction', {
      defaultValue: DEFAULT_REPLAY_FRACTION,
      description:
        'Share of the training blocks Train draws from the replay split, 0 to 0.5 (0 = none; no effect without ReplayDataUri)',
    }),
    trainInstanceType: new ParameterString('TrainInstanceType', { defaultValue: 'ml.g5.12xlarge' }),
    trainInstanceCount: new ParameterInteger('TrainInstanceCount', { defaultValue: 1 }),
    method: new ParameterString('Method', {
      defaultValue: 'lora',
      enumValues: ['lora', 'full'],
      description: 'lora: low-rank adapters merged into the base; full: all weights with FSDP',
    }),
    learningRate: new ParameterFloat('LearningRate', {
      defaultValue: 0,
      description: "Peak learning rate; 0 = the method's default (lora 2e-4, full 2e-5; docs/training.md)",
    }),
    epochs: new ParameterInteger('Epochs', { defaultValue: 1, description: 'Ignored when MaxSteps > 0' }),
    maxSteps: new ParameterInteger('MaxSteps', {
      defaultValue: -1,
      description: 'Optimizer steps; -1 lets TrainTokens (or, when that is 0, Epochs) decide',
    }),
    trainTokens: new ParameterInteger('TrainTokens', {
      defaultValue: DEFAULT_TRAIN_TOKENS,
      description:
        'Tokens to train on (steps = tokens / tokens per step); the default fits the default instance within Train MaxRuntime with margin (docs/training.md "Run budget"); 0 lets Epochs decide',
    }),
    loraRank: new ParameterInteger('LoraRank', { defaultValue: 16 }),
    gradientAccumulationSteps: new ParameterInteger('GradientAccumulationSteps', {
      defaultValue: 8,
      description: 'Micro-steps per optimizer step (tokens per step = blocks x SeqLen x this x devices)',
    }),
    maxEvalBlocks: new ParameterInteger('MaxEvalBlocks', {
      defaultValue: 0,
      description: 'Train evaluates validation loss on at most N blocks of the validation split (0 = all)',
    }),
    mergeCandidates: new ParameterString('MergeCandidates', {
      defaultValue: DEFAULT_MERGE_CANDIDATES,
      description:
        'Merge-back candidates MergeBack builds from the base and tuned weights and Evaluate gates besides the tuned model, e.g. \'slerp:t=0.5 ties:weight=0.5,density=0.5\' (linear, slerp, ties, dare_ties); empty = the tuned model only (docs/training.md "Merging back")',
    }),
    mergeInstanceType: new ParameterString('MergeInstanceType', {
      defaultValue: DEFAULT_MERGE_INSTANCE_TYPE,
      description: 'CPU instance of MergeBack: memory for the base and tuned 7B weights plus fp32 working tensors',
    }),
    evaluateInstanceType: new ParameterString('EvaluateInstanceType', { defaultValue: 'ml.g5.2xlarge' }),
    evalMaxTestDocuments: new ParameterInteger('EvalMaxTestDocuments', {
      defaultValue: 0,
      description: 'Evaluate perplexity on at most N test documents (stable hash order of their ids; 0 = all)',
    }),
    evalMaxDocumentTokens: new ParameterInteger('EvalMaxDocumentTokens', {
      defaultValue: 0,
      description: 'Evaluate perplexity on at most the first N tokens of each test document (0 = whole documents)',
    }),
    evalBootstrapSamples: new ParameterInteger('EvalBootstrapSamples', {
      defaultValue: 10000,
      description:
        'Bootstrap replicates for the 95% CIs (the gate bounds) and paired p-values of Evaluate (100 to 100000; a p-value cannot go below 2/(B+1))',
    }),
    pubMedQALimit: new ParameterInteger('PubMedQALimit', {
      defaultValue: 0,
      description: 'Score only the first N PubMedQA test items, sorted by PMID (0 = all 500)',
    }),
    evalMaxNewTokens: new ParameterInteger('EvalMaxNewTokens', {
      defaultValue: 128,
      description: 'Greedy tokens generated per qualitative prompt and model',
    }),
    evaluateDevice: new ParameterString('EvaluateDevice', {
      defaultValue: 'cuda',
      enumValues: ['cuda', 'cpu', 'auto'],
      description:
        'Where Evaluate runs the models: cuda (it stops at once when the GPU instance has no usable CUDA), cpu (local runs), auto',
    }),
    // Gate thresholds: the recommended values of docs/evaluation.md ("The gate"; medical-llm.md recommendation 5).
    // Each is compared with the conservative side of its check's 95% CI, never with the point estimate.
    minPerplexityImprovement: new ParameterFloat('MinPerplexityImprovement', {
      defaultValue: 0.05,
      description:
        'Register only if the lower 95% bound of (base_ppl - tuned_ppl) / base_ppl on the test split is at least this',
    }),
    minPubMedQADelta: new ParameterFloat('MinPubMedQADelta', {
      defaultValue: -0.04,
      description:
        'Register only if the lower 95% bound of PubMedQA accuracy (tuned - base) is at least this: -margin tests non-inferiority (default, margin 0.04), +margin superiority',
    }),
    maxGeneralRegression: new ParameterFloat('MaxGeneralRegression', {
      defaultValue: 0.03,
      description:
        'Register only if the upper 95% bound of the relative rise in general-text perplexity is at most this',
    }),
    modelApprovalStatus: new ParameterString('ModelApprovalStatus', {
      defaultValue: 'PendingManualApproval',
      enumValues: ['PendingManualApproval', 'Approved', 'Rejected'],
    }),
    ...(defaults.tuning
      ? {
          maxTuningJobs: new ParameterInteger('MaxTuningJobs', {
            defaultValue: 8,
            description: 'Training jobs the Bayesian search may launch',
          }),
          maxParallelTuningJobs: new ParameterInteger('MaxParallelTuningJobs', { defaultValue: 2 }),
        }
      : {}),
  };
}

/** The parameters in definition order. */
export function parameterList(parameters: MedLlamaParameters): AnyParameter[] {
  return Object.values(parameters).filter((p): p is AnyParameter => p !== undefined);
}
