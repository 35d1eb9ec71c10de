import { z } from 'zod';
import { INSTANCE_TYPES, instanceTypeProblem, instanceTypesFor, type JobKind } from '../pipeline-steps/instances.ts';
import { DEFAULT_MERGE_INSTANCE_TYPE } from '../pipeline-steps/parameters.ts';
import { MLFLOW_RESOURCE_ARN } from '../pipeline-steps/tracking.ts';
import { didYouMean } from './suggest.ts';

/**
 * The deploy-time configuration of MedLlama, read once in `bin/app.ts` from the `medllama` key of the
 * CDK context (`cdk.json`, or `-c medllama='{"stage":"prod"}'`). Everything a user changes per pipeline
 * execution is a pipeline Parameter instead (see pipeline-steps/parameters.ts); this holds what must be
 * fixed when the stacks are synthesized.
 */
const S3_URI = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[^\s]*)?$/;
/** An AWS region name: us-east-1, us-gov-west-1, … (the CLI checks --region and AWS_REGION with it too). */
export const AWS_REGION_PATTERN = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
const s3Uri = (what: string) => z.string().regex(S3_URI, `an s3://bucket/key URI (${what})`);
/**
 * An instance type for a kind of job, from the catalog (pipeline-steps/instances.ts: every accepted type has a
 * price for `plan` and the specs the checks need); `gpu` also asks for a GPU type.
 */
const instanceType = (kind: JobKind, gpu = false) =>
  z.string().superRefine((type, ctx) => {
    const accepted = instanceTypesFor(kind).filter((t) => !gpu || INSTANCE_TYPES[t]!.gpus > 0);
    if (instanceTypeProblem(type, kind) || !accepted.includes(type))
      ctx.addIssue({
        code: 'custom',
        message: `${gpu ? 'a GPU' : `a ${kind}`} instance type: one of ${accepted.join(', ')}`,
      });
  });

/** Default instance type and count of one pipeline step (the pipeline Parameters' defaults). */
const stepInstances = (type: string, count: number, maxCount: number, kind: JobKind = 'processing') =>
  z
    .object({
      type: instanceType(kind).default(type),
      count: z.number().int().min(1).max(maxCount).default(count),
    })
    .strict()
    .prefault({});
/** A step that always runs on one instance. */
const singleInstance = (type: string, gpu = false) =>
  z
    .object({ type: instanceType('processing', gpu).default(type) })
    .strict()
    .prefault({});

/**
 * The base model Tokenize (its tokenizer), Train and Evaluate start from.
 * - `jumpstart`: Meta's gated Llama 2 weights from the region's JumpStart private cache
 *   (`s3://jumpstart-private-cache-prod-<region>/<gatedKey>`, research/sagemaker.md §9.4). Using them means accepting
 *   the Llama 2 community license, so `acceptLlama2Eula: true` must be written explicitly. The weights are one
 *   `.tar.gz` that only a Training channel with `ModelAccessConfig: {AcceptEula: true}` may read, so the pipeline
 *   gains a `StageBaseModel` step (cached 30 days) that unpacks it into an HF model folder in the artifact bucket;
 *   Tokenize, Train and Evaluate read that folder. Nothing needs staging by hand (docs/training.md).
 * - `s3`: Hugging Face format weights you staged yourself; without `s3Uri`, the data bucket's `base-model/` prefix.
 *   The definition then has no StageBaseModel step.
 */
export const BaseModelSchema = z.discriminatedUnion('source', [
  z
    .object({
      source: z.literal('jumpstart'),
      acceptLlama2Eula: z.literal(
        true,
        'true (you must accept the Llama 2 license explicitly to use JumpStart weights)',
      ),
      modelId: z.string().default('meta-textgeneration-llama-2-7b'),
      /**
       * Override of the tokenizer Tokenize reads (tokenizer.json, or a folder with one). Default: the
       * `tokenizer.json` of the StageBaseModel output, i.e. the one shipped with the weights.
       */
      tokenizerS3Uri: s3Uri('tokenizer.json or a folder holding one').optional(),
      gatedKey: z
        .string()
        .regex(/^[A-Za-z0-9!_.*'()/-]+$/, 'an S3 key inside the JumpStart private cache bucket')
        .default('meta-training/train-meta-textgeneration-llama-2-7b.tar.gz'),
    })
    .strict(),
  z.object({ source: z.literal('s3'), s3Uri: s3Uri('Hugging Face model folder').optional() }).strict(),
]);
export type BaseModelConfig = z.infer<typeof BaseModelSchema>;

/** Which articles Ingest reads. */
export const DataSelectionSchema = z
  .object({
    /**
     * Read the PMC Open Access public bucket (`s3://pmc-oa-opendata/`, us-east-1) directly. Otherwise read
     * `inputS3Uri` (default: the data bucket's `raw/pmc-oa/` prefix).
     */
    usePmcOpenData: z.boolean().default(false),
    inputS3Uri: s3Uri('folder of JATS articles').optional(),
    /** Default of the MaxArticles parameter; 0 reads every article. */
    maxArticles: z.number().int().min(0).default(0),
    /** Where the PubMedQA benchmark files live (default: the data bucket's `benchmarks/pubmedqa/` prefix). */
    benchmarksS3Uri: s3Uri('folder with ori_pqal.json and test_ground_truth.json').optional(),
    /**
     * General (non-medical) text for the perplexity-regression check, several files (its CI resamples files).
     * Default: the data bucket's `benchmarks/general-text/` prefix, where `medllama stage-benchmarks` stages the
     * project's own set (fixtures/general-text, Apache-2.0).
     */
    generalTextS3Uri: s3Uri('folder of .txt/.jsonl general text').optional(),
    /**
     * Drop articles whose PMID is in the benchmark list (PubMedQA's 1000 PMIDs by default), so evaluation
     * never scores text the model trained on.
     */
    decontaminate: z.boolean().default(true),
    /**
     * The PMID list Ingest drops (default: `benchmarks/pubmedqa/pqal_all_pmids.txt` in the data bucket, staged
     * with the benchmarks by `medllama stage-benchmarks`).
     */
    decontamPmidsS3Uri: s3Uri('one text file of PMIDs')
      .refine((u) => !u.endsWith('/'), 'the URI of one file, not a folder')
      .optional(),
  })
  .strict()
  .prefault({})
  .refine((d) => !(d.usePmcOpenData && d.inputS3Uri), {
    message: 'either usePmcOpenData: true or inputS3Uri, not both',
    path: ['inputS3Uri'],
  });

/** Defaults of the QualityGate parameters (fractions). */
export const ThresholdsSchema = z
  .object({
    // Unset: the pipeline Parameter's own default (pipeline-steps/parameters.ts, from docs/evaluation.md).
    /** (base_ppl - tuned_ppl) / base_ppl on the held-out PMC test split must be at least this. */
    minPerplexityImprovement: z.number().min(-1).max(1).optional(),
    /**
     * Non-inferiority margin: the lower 95% bound of PubMedQA accuracy (tuned - base) must be at least -tolerance.
     * Give this or `pubmedqaMinGain`, not both.
     */
    pubmedqaTolerance: z.number().min(0).max(1).optional(),
    /** Superiority margin: the lower 95% bound of PubMedQA accuracy (tuned - base) must be at least +gain. */
    pubmedqaMinGain: z.number().min(0).max(1).optional(),
    /** (tuned_gppl - base_gppl) / base_gppl on general text must be at most this. */
    maxGeneralRegression: z.number().min(0).max(10).optional(),
  })
  .strict()
  .prefault({})
  .refine((t) => t.pubmedqaTolerance === undefined || t.pubmedqaMinGain === undefined, {
    message: 'either pubmedqaTolerance (non-inferiority) or pubmedqaMinGain (superiority), not both',
    path: ['pubmedqaMinGain'],
  });

export const MedLlamaConfigSchema = z
  .object({
    /** Short name of the deployment; prefixes stack names so several stages can share an account. */
    stage: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{0,15}$/,
        'lowercase letters, digits and "-", starting with a letter, at most 16 characters',
      )
      .default('dev'),
    /** Target account. Unset: environment-agnostic stacks (synth needs no credentials). */
    account: z
      .string()
      .regex(/^\d{12}$/, 'a 12-digit AWS account id')
      .optional(),
    /** Target region; also picks the ECR account of the Hugging Face images. */
    region: z.string().regex(AWS_REGION_PATTERN, 'an AWS region such as us-east-1').default('us-east-1'),
    /** Keep buckets and the KMS key when the stack is deleted (recommended for anything but throw-away dev). */
    retainData: z.boolean().default(true),
    /** Days after which non-current object versions in the data and artifact buckets expire. */
    noncurrentVersionDays: z.number().int().min(1).max(3650).default(30),
    /** Days S3 server access logs are kept. */
    accessLogDays: z.number().int().min(1).max(3650).default(365),
    /**
     * Managed spot training for the Train step. Synth-time, not a Parameter: `MaxWaitTimeInSeconds` is rejected
     * unless spot is on (research/sagemaker.md §7.3).
     */
    spot: z.boolean().default(false),
    /** Replace Train with a Bayesian hyperparameter tuning step (learning rate, batch size, LoRA rank). */
    tuning: z.boolean().default(false),
    /** Default instance types and counts per step (each is also a pipeline Parameter). */
    instances: z
      .object({
        ingest: stepInstances('ml.c5.4xlarge', 1, 100),
        dedup: singleInstance('ml.r5.4xlarge'),
        tokenize: stepInstances('ml.c5.4xlarge', 1, 100),
        train: stepInstances('ml.g5.12xlarge', 1, 16, 'training'),
        /** MergeBack: a CPU type with memory for two 7B models (docs/training.md "Merging back"). */
        mergeBack: singleInstance(DEFAULT_MERGE_INSTANCE_TYPE),
        evaluate: singleInstance('ml.g5.2xlarge', true),
      })
      .strict()
      .prefault({}),
    baseModel: BaseModelSchema.default({ source: 's3' }),
    data: DataSelectionSchema,
    thresholds: ThresholdsSchema,
    /**
     * Experiment tracking in SageMaker's managed MLflow (docs/tracking.md): each execution is one MLflow run that
     * Train and Evaluate log to. By default the PipelineStack creates a serverless MLflow App (artifacts in the
     * artifact bucket under `mlflow/`); `resourceArn` uses your own App or tracking server instead; `enabled: false`
     * turns tracking off (CloudWatch metrics and the dashboard stay either way).
     */
    mlflow: z
      .object({
        enabled: z.boolean().default(true),
        resourceArn: z
          .string()
          .regex(
            MLFLOW_RESOURCE_ARN,
            'the ARN of an MLflow App or tracking server (arn:aws:sagemaker:<region>:<account>:mlflow-app/<id>)',
          )
          .optional(),
      })
      .strict()
      .refine((m) => m.enabled || m.resourceArn === undefined, {
        message: 'resourceArn is given but enabled is false: remove one of them',
      })
      .prefault({}),
    /** E-mail address subscribed to pipeline success/failure and alarm notifications. */
    notificationEmail: z.email('an e-mail address').optional(),
    /** Serving container of the registered model: the HF vLLM DLC (default) or TGI (maintenance mode). */
    servingContainer: z.enum(['vllm', 'tgi']).default('vllm'),
    /** The real-time endpoint an approved model deploys to (ServingStack). */
    serving: z
      .object({
        /** One A10G (24 GB) holds Llama 2 7B in BF16 with room for the KV cache. */
        instanceType: instanceType('endpoint').default('ml.g5.2xlarge'),
        initialInstanceCount: z.number().int().min(1).max(10).default(1),
        minCapacity: z.number().int().min(1).max(10).default(1),
        maxCapacity: z.number().int().min(1).max(20).default(2),
      })
      .strict()
      .refine((s) => s.minCapacity <= s.initialInstanceCount && s.minCapacity <= s.maxCapacity, {
        message: 'minCapacity <= initialInstanceCount and minCapacity <= maxCapacity',
      })
      .prefault({}),
  })
  .strict();

export type MedLlamaConfig = z.infer<typeof MedLlamaConfigSchema>;

/** A configuration error that names the field, the value given and what was expected. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid MedLlama configuration (cdk.json context "medllama"):\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = raw;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** What a zod issue expected, in words (zod's own message when it is already a custom one). */
function expectedText(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'too_small':
      return `a ${issue.origin === 'number' ? 'number' : `${issue.origin} of size`} ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`;
    case 'too_big':
      return `a ${issue.origin === 'number' ? 'number' : `${issue.origin} of size`} ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`;
    case 'invalid_type':
      return issue.expected === 'int' ? 'a whole number' : `a ${issue.expected}`;
    case 'invalid_value':
      return issue.message.startsWith('Invalid ')
        ? `one of ${issue.values.map((v) => JSON.stringify(v)).join(' | ')}`
        : issue.message;
    case 'invalid_union':
      return 'options' in issue && Array.isArray(issue.options)
        ? `one of ${(issue.options as unknown[]).map((v) => JSON.stringify(v)).join(' | ')}`
        : issue.message;
    default:
      return issue.message;
  }
}

/** The parts of a zod schema's definition that lead to an object's fields. */
interface SchemaDef {
  readonly type: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly options?: z.ZodType[];
  readonly discriminator?: string;
  readonly values?: unknown[];
}
const defOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;

/**
 * The field names the object at `path` may have: wrappers (default, optional, …) are looked through, and of a
 * discriminated union the option whose tag `raw` has (all options' fields when none matches).
 */
export function knownFields(schema: z.ZodType, path: readonly PropertyKey[], raw: unknown): string[] {
  const def = defOf(schema);
  if (def.innerType) return knownFields(def.innerType, path, raw);
  if (def.type === 'pipe' && def.in) return knownFields(def.in, path, raw);
  if (def.type === 'union' && def.options) {
    const tag = def.discriminator;
    const given = tag && raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>)[tag] : undefined;
    const chosen = def.options.filter((o) => {
      const tagSchema = tag ? defOf(o).shape?.[tag] : undefined;
      return tagSchema !== undefined && (defOf(tagSchema).values ?? []).includes(given);
    });
    return [...new Set((chosen.length ? chosen : def.options).flatMap((o) => knownFields(o, path, raw)))];
  }
  if (def.type !== 'object' || !def.shape) return [];
  if (path.length === 0) return Object.keys(def.shape);
  const [head, ...rest] = path;
  const child = def.shape[String(head)];
  const value = raw !== null && typeof raw === 'object' ? (raw as Record<PropertyKey, unknown>)[head!] : undefined;
  return child ? knownFields(child, rest, value) : [];
}

/** `medllama.data: unknown field "inputS3uri" (did you mean "inputS3Uri"?); known fields: …` */
function unknownFieldsText(where: string, keys: string[], known: string[]): string {
  const named = keys.map((k) => `${JSON.stringify(k)}${didYouMean(k, known)}`).join(', ');
  return `${where}: unknown field${keys.length > 1 ? 's' : ''} ${named}; known fields: ${known.join(', ')}`;
}

/** Formats a zod error as `medllama.<field>: got <value>, expected <what>` lines. */
export function describeIssues(
  error: z.ZodError,
  raw: unknown,
  prefix = 'medllama',
  schema: z.ZodType = MedLlamaConfigSchema,
): string[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const where = [prefix, ...issue.path.map(String)].join('.');
      return unknownFieldsText(where, issue.keys, knownFields(schema, issue.path, raw));
    }
    const field = [prefix, ...issue.path.map(String)].join('.');
    const got = valueAt(raw, issue.path);
    return `${field}: got ${got === undefined ? 'nothing' : JSON.stringify(got)}, expected ${expectedText(issue)}`;
  });
}

/** Parses and validates the raw context value, filling defaults. Throws {@link ConfigError} on any problem. */
export function parseConfig(raw: unknown): MedLlamaConfig {
  const input = raw ?? {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError([`medllama: got ${JSON.stringify(raw)}, expected an object`]);
  }
  const result = MedLlamaConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigError(describeIssues(result.error, input));
  return result.data;
}

/** The JumpStart bucket that holds gated (EULA) artifacts in `region` (SageMaker SDK `region_config.json`). */
export function jumpStartGatedBucket(region: string): string {
  return `jumpstart-private-cache-prod-${region}`;
}

/**
 * Where the base model's weights are read from, as an S3 URI. `dataBucketName` may be a CDK token; the default for
 * `source: 's3'` is `s3://<data bucket>/base-model/`. For `jumpstart` it is the gated archive, which only the
 * StageBaseModel step's training channel reads.
 */
export function baseModelUri(config: Pick<MedLlamaConfig, 'baseModel' | 'region'>, dataBucketName: string): string {
  const model = config.baseModel;
  if (model.source === 'jumpstart') return `s3://${jumpStartGatedBucket(config.region)}/${model.gatedKey}`;
  return model.s3Uri ?? `s3://${dataBucketName}/base-model/`;
}

/** The public PMC Open Access bucket (us-east-1, anonymous access; research/pmc-data.md §2.2). */
export const PMC_OPEN_DATA_URI = 's3://pmc-oa-opendata/';

/** Where Ingest reads articles from. */
export function articlesUri(config: Pick<MedLlamaConfig, 'data'>, dataBucketName: string): string {
  if (config.data.usePmcOpenData) return PMC_OPEN_DATA_URI;
  return config.data.inputS3Uri ?? `s3://${dataBucketName}/raw/pmc-oa/`;
}

/**
 * Where Tokenize reads the Llama 2 tokenizer: the base model folder (`s3`), or for JumpStart `tokenizerS3Uri` when
 * set and otherwise undefined (the definition then reads the StageBaseModel output's tokenizer.json).
 */
export function tokenizerUri(
  config: Pick<MedLlamaConfig, 'baseModel' | 'region'>,
  dataBucketName: string,
): string | undefined {
  const model = config.baseModel;
  if (model.source === 'jumpstart') return model.tokenizerS3Uri;
  // The base model folder's tokenizer.json alone (the definition's default), never the folder with its weights.
  return `${baseModelUri(config, dataBucketName).replace(/\/+$/, '')}/tokenizer.json`;
}

/** Where the PubMedQA benchmark files are read from (staged by `medllama stage-benchmarks`). */
export function benchmarksUri(config: Pick<MedLlamaConfig, 'data'>, dataBucketName: string): string {
  return config.data.benchmarksS3Uri ?? `s3://${dataBucketName}/benchmarks/pubmedqa/`;
}

/** Where the general-text set is read from (staged by `medllama stage-benchmarks`). */
export function generalTextUri(config: Pick<MedLlamaConfig, 'data'>, dataBucketName: string): string {
  return config.data.generalTextS3Uri ?? `s3://${dataBucketName}/benchmarks/general-text/`;
}

/** The PMID list Ingest drops, or undefined when decontamination is off. */
export function decontamPmidsUri(config: Pick<MedLlamaConfig, 'data'>, dataBucketName: string): string | undefined {
  if (!config.data.decontaminate) return undefined;
  return config.data.decontamPmidsS3Uri ?? `s3://${dataBucketName}/benchmarks/pubmedqa/pqal_all_pmids.txt`;
}

/** Splits `s3://bucket/key` into its bucket and key (key may be empty). */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new Error(`not an S3 URI: ${JSON.stringify(uri)} (expected s3://bucket/key)`);
  return { bucket: m[1]!, key: m[2]! };
}
