import type {
  CreateHyperParameterTuningJobRequest,
  CreateTrainingJobRequest,
  TrainingInstanceType,
} from '@aws-sdk/client-sagemaker';
import { type Expressible, Get, Join, type NumberValue, type StringValue } from '../expressions.ts';
import type { MlflowConfigProps } from '../tracking.ts';
import { JobStep, type JobStepProps } from './step.ts';

/** The Arguments of a Training step: CreateTrainingJob without the name Pipelines generates. */
export type TrainingArguments = Expressible<Omit<CreateTrainingJobRequest, 'TrainingJobName'>>;
/** The Arguments of a Tuning step: CreateHyperParameterTuningJob without the generated name. */
export type TuningArguments = Expressible<Omit<CreateHyperParameterTuningJobRequest, 'HyperParameterTuningJobName'>>;

export interface ChannelProps {
  /** ChannelName; the job sees it as SM_CHANNEL_<NAME> at /opt/ml/input/data/<name>. */
  readonly name: string;
  readonly s3Uri: StringValue;
  /** @default - none */
  readonly contentType?: string;
  /** @default 'S3Prefix' */
  readonly s3DataType?: 'S3Prefix' | 'ManifestFile';
  /** @default 'FullyReplicated' */
  readonly distribution?: 'FullyReplicated' | 'ShardedByS3Key';
  /** `Gzip` for a single .tar.gz the job should receive unpacked is not supported by File mode; @default 'None' */
  readonly compressionType?: 'None' | 'Gzip';
  /** Accept the model's EULA (gated JumpStart weights): `S3DataSource.ModelAccessConfig.AcceptEula`. @default false */
  readonly acceptEula?: boolean;
}

export interface MetricDefinition {
  readonly Name: string;
  readonly Regex: string;
}

export interface TrainingJobProps {
  readonly roleArn: string;
  readonly imageUri: string;
  readonly instanceType: Expressible<TrainingInstanceType>;
  /** @default 1 */
  readonly instanceCount?: NumberValue;
  /** @default 30 */
  readonly volumeSizeInGB?: NumberValue;
  /** @default - AWS-managed */
  readonly volumeKmsKeyId?: string;
  /** S3OutputPath; the job writes `<path>/<job name>/output/model/` (uncompressed). */
  readonly outputPath: StringValue;
  /** @default - the bucket's default encryption */
  readonly outputKmsKeyId?: string;
  readonly channels: readonly ChannelProps[];
  /** Already-encoded hyperparameters (see configs/define.ts `renderHyperParameters`). */
  readonly hyperParameters: Readonly<Record<string, StringValue>>;
  /** @default - none */
  readonly metricDefinitions?: readonly MetricDefinition[];
  /** @default 86400 */
  readonly maxRuntimeInSeconds?: number;
  /**
   * Managed spot training. MaxWaitTimeInSeconds is only valid with spot on, so this is decided when the
   * definition is built, never through a parameter (sagemaker.md §7.3).
   * @default - on-demand, no checkpoint sync
   */
  readonly spot?: { readonly maxWaitTimeInSeconds: number; readonly checkpointS3Uri: StringValue };
  /** @default - none */
  readonly environment?: Readonly<Record<string, StringValue>>;
  /**
   * The container's entry point and its arguments instead of the image's (`AlgorithmSpecification.
   * ContainerEntrypoint` / `ContainerArguments`; Training jobs only: a Tuning step's jobs always run the image's).
   * @default - the image's ENTRYPOINT, called with `train`
   */
  readonly container?: { readonly entrypoint: readonly string[]; readonly arguments: readonly string[] };
  /**
   * Network isolation. Off by default: the training toolkit pip-installs the source dir's requirements.txt.
   * @default false
   */
  readonly enableNetworkIsolation?: boolean;
  /**
   * SageMaker's managed MLflow: `MlflowConfig` (the MLflow App or tracking server, experiment and run). Training jobs
   * only: a Tuning step's TrainingJobDefinition has no such field.
   * @default - none
   */
  readonly mlflow?: MlflowConfigProps;
}

/** The training job fields shared by a Training step and a Tuning step's TrainingJobDefinition. */
export function renderTrainingJob(name: string, p: TrainingJobProps): TrainingArguments {
  if (p.spot && p.maxRuntimeInSeconds !== undefined && p.spot.maxWaitTimeInSeconds < p.maxRuntimeInSeconds) {
    throw new Error(
      `${name}: spot maxWaitTimeInSeconds (${p.spot.maxWaitTimeInSeconds}) must be ≥ maxRuntimeInSeconds (${p.maxRuntimeInSeconds})`,
    );
  }
  const names = p.channels.map((c) => c.name);
  if (new Set(names).size !== names.length) throw new Error(`${name}: duplicate channel names ${names.join(', ')}`);
  return {
    AlgorithmSpecification: {
      TrainingImage: p.imageUri,
      TrainingInputMode: 'File',
      ...(p.metricDefinitions?.length ? { MetricDefinitions: p.metricDefinitions.map((m) => ({ ...m })) } : {}),
      ...(p.container
        ? { ContainerEntrypoint: [...p.container.entrypoint], ContainerArguments: [...p.container.arguments] }
        : {}),
    },
    HyperParameters: { ...p.hyperParameters },
    InputDataConfig: p.channels.map((c) => ({
      ChannelName: c.name,
      DataSource: {
        S3DataSource: {
          S3DataType: c.s3DataType ?? 'S3Prefix',
          S3Uri: c.s3Uri,
          S3DataDistributionType: c.distribution ?? 'FullyReplicated',
          ...(c.acceptEula ? { ModelAccessConfig: { AcceptEula: true } } : {}),
        },
      },
      ...(c.contentType ? { ContentType: c.contentType } : {}),
      CompressionType: c.compressionType ?? 'None',
      InputMode: 'File',
    })),
    OutputDataConfig: {
      S3OutputPath: p.outputPath,
      CompressionType: 'NONE',
      ...(p.outputKmsKeyId ? { KmsKeyId: p.outputKmsKeyId } : {}),
    },
    ResourceConfig: {
      InstanceType: p.instanceType,
      InstanceCount: p.instanceCount ?? 1,
      VolumeSizeInGB: p.volumeSizeInGB ?? 30,
      ...(p.volumeKmsKeyId ? { VolumeKmsKeyId: p.volumeKmsKeyId } : {}),
    },
    RoleArn: p.roleArn,
    StoppingCondition: {
      MaxRuntimeInSeconds: p.maxRuntimeInSeconds ?? 86_400,
      ...(p.spot ? { MaxWaitTimeInSeconds: p.spot.maxWaitTimeInSeconds } : {}),
    },
    EnableNetworkIsolation: p.enableNetworkIsolation ?? false,
    // Traffic between the instances of a multi-instance job (FSDP/DDP gradients, checkpoints) is encrypted; a
    // single-instance job has none, so this costs nothing there. InstanceCount is a parameter, hence always on.
    EnableInterContainerTrafficEncryption: true,
    ...(p.spot
      ? {
          EnableManagedSpotTraining: true,
          CheckpointConfig: { S3Uri: p.spot.checkpointS3Uri, LocalPath: '/opt/ml/checkpoints' },
        }
      : {}),
    ...(p.environment ? { Environment: { ...p.environment } } : {}),
    ...(p.mlflow
      ? {
          MlflowConfig: {
            MlflowResourceArn: p.mlflow.resourceArn,
            MlflowExperimentName: p.mlflow.experimentName,
            MlflowRunName: p.mlflow.runName,
          },
        }
      : {}),
  };
}

export interface TrainingStepProps extends JobStepProps, TrainingJobProps {}

/** Where a model is: the S3 prefix of uncompressed model artifacts (`CompressionType: NONE`). */
export interface ModelSource {
  /** The model folder's S3 URI, as an expression (no trailing slash guaranteed). */
  readonly modelArtifacts: StringValue;
}

/** A Training step (sagemaker.md §2.2). */
export class TrainingStep extends JobStep implements ModelSource {
  readonly type = 'Training';
  constructor(readonly props: TrainingStepProps) {
    super(props);
    renderTrainingJob(this.name, props); // fail early
  }
  /** `Steps.<name>.ModelArtifacts.S3ModelArtifacts` */
  get modelArtifacts(): Get {
    return new Get(`Steps.${this.name}.ModelArtifacts.S3ModelArtifacts`, 'String');
  }
  /** `Steps.<name>.FinalMetricDataList['<metric>'].Value` */
  finalMetric(metric: string): Get {
    const known = this.props.metricDefinitions?.map((m) => m.Name) ?? [];
    if (!known.includes(metric))
      throw new Error(`${this.name} has no metric "${metric}" (metrics: ${known.join(', ')})`);
    return new Get(`Steps.${this.name}.FinalMetricDataList['${metric}'].Value`, 'Float');
  }
  protected renderArguments(): TrainingArguments {
    return renderTrainingJob(this.name, this.props);
  }
}

export type HyperParameterRange =
  | {
      readonly kind: 'continuous';
      readonly name: string;
      readonly min: number;
      readonly max: number;
      readonly scaling?: 'Auto' | 'Linear' | 'Logarithmic' | 'ReverseLogarithmic';
    }
  | {
      readonly kind: 'integer';
      readonly name: string;
      readonly min: number;
      readonly max: number;
      readonly scaling?: 'Auto' | 'Linear' | 'Logarithmic';
    }
  | { readonly kind: 'categorical'; readonly name: string; readonly values: readonly string[] };

export interface TuningStepProps extends JobStepProps {
  readonly trainingJob: TrainingJobProps;
  /** Bayesian search over these ranges; their names must not also be static hyperparameters. */
  readonly ranges: readonly HyperParameterRange[];
  /** A metric of `trainingJob.metricDefinitions`. */
  readonly objectiveMetric: string;
  /** @default 'Minimize' */
  readonly objectiveType?: 'Minimize' | 'Maximize';
  readonly maxNumberOfTrainingJobs: NumberValue;
  readonly maxParallelTrainingJobs: NumberValue;
}

/**
 * A Tuning step (HyperParameterTuningJob, Bayesian). Its best job's model is at
 * `<S3OutputPath>/<BestTrainingJob.TrainingJobName>/output/model/` (uncompressed output), read through
 * the DescribeHyperParameterTuningJob property `Steps.<name>.BestTrainingJob.TrainingJobName`.
 */
export class TuningStep extends JobStep implements ModelSource {
  readonly type = 'Tuning';
  constructor(readonly props: TuningStepProps) {
    super(props);
    const metrics = props.trainingJob.metricDefinitions?.map((m) => m.Name) ?? [];
    if (!metrics.includes(props.objectiveMetric)) {
      throw new Error(
        `${this.name}: objective metric "${props.objectiveMetric}" is not a metric definition (${metrics.join(', ')})`,
      );
    }
    for (const r of props.ranges) {
      if (r.name in props.trainingJob.hyperParameters) {
        throw new Error(`${this.name}: "${r.name}" is both tuned and a static hyperparameter`);
      }
      if (r.kind !== 'categorical' && !(r.min < r.max)) {
        throw new Error(`${this.name}: range ${r.name} needs min < max, got ${r.min}..${r.max}`);
      }
      if (r.kind === 'integer' && !(Number.isInteger(r.min) && Number.isInteger(r.max))) {
        throw new Error(`${this.name}: integer range ${r.name} needs integer bounds, got ${r.min}..${r.max}`);
      }
    }
  }

  /** `Steps.<name>.BestTrainingJob.TrainingJobName` */
  get bestTrainingJobName(): Get {
    return new Get(`Steps.${this.name}.BestTrainingJob.TrainingJobName`, 'String');
  }

  /** The best training job's uncompressed model folder. */
  get modelArtifacts(): Join {
    return new Join('/', [this.props.trainingJob.outputPath, this.bestTrainingJobName, 'output', 'model']);
  }

  protected renderArguments(): TuningArguments {
    const p = this.props;
    // HyperParameterAlgorithmSpecification has no ContainerEntrypoint: the trials run the image's entry point.
    const job = renderTrainingJob(this.name, { ...p.trainingJob, container: undefined });
    const { HyperParameters, ...rest } = job;
    const ranges = {
      ContinuousParameterRanges: p.ranges.flatMap((r) =>
        r.kind === 'continuous'
          ? [{ Name: r.name, MinValue: String(r.min), MaxValue: String(r.max), ScalingType: r.scaling ?? 'Auto' }]
          : [],
      ),
      IntegerParameterRanges: p.ranges.flatMap((r) =>
        r.kind === 'integer'
          ? [{ Name: r.name, MinValue: String(r.min), MaxValue: String(r.max), ScalingType: r.scaling ?? 'Auto' }]
          : [],
      ),
      CategoricalParameterRanges: p.ranges.flatMap((r) =>
        r.kind === 'categorical' ? [{ Name: r.name, Values: r.values.map((v) => JSON.stringify(v)) }] : [],
      ),
    };
    return {
      HyperParameterTuningJobConfig: {
        Strategy: 'Bayesian',
        HyperParameterTuningJobObjective: { Type: p.objectiveType ?? 'Minimize', MetricName: p.objectiveMetric },
        ResourceLimits: {
          MaxNumberOfTrainingJobs: p.maxNumberOfTrainingJobs,
          MaxParallelTrainingJobs: p.maxParallelTrainingJobs,
        },
        ParameterRanges: ranges,
        TrainingJobEarlyStoppingType: 'Off',
      },
      TrainingJobDefinition: {
        AlgorithmSpecification: rest.AlgorithmSpecification,
        RoleArn: rest.RoleArn as string,
        StaticHyperParameters: HyperParameters,
        InputDataConfig: rest.InputDataConfig,
        OutputDataConfig: rest.OutputDataConfig,
        ResourceConfig: rest.ResourceConfig,
        StoppingCondition: rest.StoppingCondition,
        EnableNetworkIsolation: rest.EnableNetworkIsolation,
        EnableInterContainerTrafficEncryption: rest.EnableInterContainerTrafficEncryption,
        ...(rest.EnableManagedSpotTraining !== undefined
          ? { EnableManagedSpotTraining: rest.EnableManagedSpotTraining, CheckpointConfig: rest.CheckpointConfig }
          : {}),
        ...(rest.Environment ? { Environment: rest.Environment } : {}),
      },
    };
  }
}
