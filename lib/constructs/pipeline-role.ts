import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { mlflowActions } from '../../pipeline-steps/tracking.ts';
import { acknowledgeWildcards } from './nag-acknowledge.ts';

/** An S3 location the jobs only read: a bucket and a key prefix ('' for the whole bucket). */
export interface ReadLocation {
  readonly bucketName: string;
  readonly keyPrefix: string;
  /** Why the pipeline reads it (becomes the cdk-nag acknowledgment reason of its wildcard). */
  readonly purpose: string;
  /**
   * `keyPrefix` is one object (an archive, a list file), not a folder.
   * @default false - a folder: everything under it is readable
   */
  readonly singleObject?: boolean;
}

export interface PipelineExecutionRoleProps {
  /** The pipeline's name: the experiment, trial and job names it creates start with it or with `pipelines-`. */
  readonly pipelineName: string;
  /** The model package group the Register step writes to. */
  readonly modelPackageGroupName: string;
  /** Corpora and intermediate datasets (read and write). */
  readonly dataBucket: s3.IBucket;
  /** Code, checkpoints, models and reports (read and write). */
  readonly artifactBucket: s3.IBucket;
  /** Key prefixes the pipeline writes in each bucket (it reads anywhere in both). */
  readonly writePrefixes: { readonly data: readonly string[]; readonly artifacts: readonly string[] };
  /** The key of both buckets. */
  readonly key: kms.IKey;
  /** AWS account of the Deep Learning Containers registry in this region (the Hugging Face images). */
  readonly imageRegistryAccount: string;
  /**
   * Read-only S3 locations outside the project's buckets (the code asset, JumpStart gated weights, PMC Open Data).
   * @default - none
   */
  readonly readLocations?: ReadLocation[];
}

/**
 * The one role SageMaker Pipelines assumes and passes to the jobs it starts. Least privilege:
 * - S3 read/write only in the project's data and artifact buckets; read-only elsewhere, per listed location;
 * - the project's KMS key (no wildcard KMS actions);
 * - create/describe/stop only jobs whose names Pipelines generates (`pipelines-*`), model packages only in the
 *   project's group, experiments only for this pipeline;
 * - image pull only from the Deep Learning Containers registry's `huggingface-*` repositories;
 * - `iam:PassRole` only on itself and only to sagemaker.amazonaws.com.
 * Every wildcard is acknowledged for cdk-nag with its reason (see {@link acknowledgeWildcards}).
 */
export class PipelineExecutionRole extends Construct {
  readonly role: iam.Role;
  private readonly reasons: Record<string, string> = {};

  constructor(scope: Construct, id: string, props: PipelineExecutionRoleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const arn = (service: string, resource: string, account = stack.account) =>
      `arn:${stack.partition}:${service}:${stack.region}:${account}:${resource}`;

    this.role = new iam.Role(this, 'Resource', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: `MedLlama: SageMaker Pipelines execution role of ${props.pipelineName} and its jobs`,
    });

    // --- S3: the project's buckets: read anywhere, write only under the pipeline's output prefixes.
    for (const [name, bucket, prefixes, what] of [
      ['Data', props.dataBucket, props.writePrefixes.data, 'corpora, intermediate datasets, benchmarks, base weights'],
      [
        'Artifact',
        props.artifactBucket,
        props.writePrefixes.artifacts,
        'models, checkpoints, merge-back candidates and evaluation reports',
      ],
    ] as const) {
      this.allow(
        `${name}BucketRead`,
        ['s3:GetObject'],
        [bucket.arnForObjects('*')],
        `Steps read ${what} from keys chosen per execution (parameters, upstream step outputs).`,
      );
      this.allow(
        `${name}BucketWrite`,
        ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        prefixes.map((p) => bucket.arnForObjects(`${p}*`)),
        `Step outputs go under ${prefixes.join(', ')} with execution ids and job names generated at run time.`,
      );
      this.allow(`${name}BucketList`, ['s3:ListBucket', 's3:GetBucketLocation'], [bucket.bucketArn]);
    }
    props.key.grant(this.role, 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey');
    this.allow('KmsGrantsForJobVolumes', ['kms:CreateGrant'], [props.key.keyArn], undefined, {
      Bool: { 'kms:GrantIsForAWSResource': 'true' },
    });

    // --- S3: read-only locations outside the project.
    (props.readLocations ?? []).forEach((loc, i) => {
      const bucketArn = `arn:${stack.partition}:s3:::${loc.bucketName}`;
      const prefix = loc.keyPrefix;
      // One object grants itself; a folder everything under it (a folder given without its trailing "/" too).
      const objects = loc.singleObject
        ? [`${bucketArn}/${prefix}`]
        : prefix === '' || prefix.endsWith('/')
          ? [`${bucketArn}/${prefix}*`]
          : [`${bucketArn}/${prefix}`, `${bucketArn}/${prefix}/*`];
      this.allow(
        `ReadOnly${i}`,
        ['s3:GetObject'],
        objects,
        `Read-only access to ${loc.purpose} (every object under the location is input).`,
      );
      this.allow(
        `ReadOnly${i}List`,
        ['s3:ListBucket'],
        [bucketArn],
        undefined,
        prefix ? { StringLike: { 's3:prefix': [prefix, `${prefix}*`] } } : undefined,
      );
    });

    // --- SageMaker jobs that Pipelines starts with generated names.
    this.allow(
      'PipelineJobs',
      [
        'sagemaker:CreateProcessingJob',
        'sagemaker:DescribeProcessingJob',
        'sagemaker:StopProcessingJob',
        'sagemaker:CreateTrainingJob',
        'sagemaker:DescribeTrainingJob',
        'sagemaker:StopTrainingJob',
        'sagemaker:AddTags',
      ],
      [this.arn('processing-job/pipelines-*'), this.arn('training-job/pipelines-*')],
      'SageMaker Pipelines generates job names (pipelines-<execution id>-<step>-<hash>) at run time.',
    );
    this.allow(
      'ModelRegistry',
      [
        'sagemaker:CreateModelPackage',
        'sagemaker:DescribeModelPackage',
        'sagemaker:DescribeModelPackageGroup',
        'sagemaker:AddTags',
      ],
      [
        arn('sagemaker', `model-package-group/${props.modelPackageGroupName}`),
        arn('sagemaker', `model-package/${props.modelPackageGroupName}/*`),
      ],
      'Model package versions are numbered by SageMaker when the Register step creates them.',
    );
    this.allow(
      'PipelineExperiments',
      [
        'sagemaker:CreateExperiment',
        'sagemaker:DescribeExperiment',
        'sagemaker:CreateTrial',
        'sagemaker:DescribeTrial',
        'sagemaker:CreateTrialComponent',
        'sagemaker:DescribeTrialComponent',
        'sagemaker:AssociateTrialComponent',
        'sagemaker:AddTags',
      ],
      [
        arn('sagemaker', `experiment/${props.pipelineName}`),
        arn('sagemaker', 'experiment-trial/*'),
        arn('sagemaker', 'experiment-trial-component/*'),
      ],
      'PipelineExperimentConfig names one trial per execution id and one trial component per job, both generated at run time.',
    );

    // --- Logs and metrics of the jobs.
    this.allow(
      'JobLogs',
      ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
      [arn('logs', 'log-group:/aws/sagemaker/*')],
      'SageMaker jobs write to the /aws/sagemaker/{Processing,Training}Jobs log groups with one stream per job instance.',
    );
    this.allow(
      'JobMetrics',
      ['cloudwatch:PutMetricData'],
      ['*'],
      'cloudwatch:PutMetricData supports no resource-level permissions; limited to /aws/sagemaker/* namespaces.',
      { StringLike: { 'cloudwatch:namespace': '/aws/sagemaker/*' } },
    );

    // --- Images: the Hugging Face Deep Learning Containers.
    this.allow(
      'EcrAuthorization',
      ['ecr:GetAuthorizationToken'],
      ['*'],
      'ecr:GetAuthorizationToken supports no resource-level permissions.',
    );
    this.allow(
      'DlcImagePull',
      ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
      [arn('ecr', 'repository/huggingface-*', props.imageRegistryAccount)],
      'Pull from the Hugging Face Deep Learning Container repositories (training, vLLM, TGI) of the AWS DLC account.',
    );

    // --- The jobs run as this role too.
    this.allow('PassSelfToSageMaker', ['iam:PassRole'], [this.role.roleArn], undefined, {
      StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' },
    });

    acknowledgeWildcards(this.role.node.findChild('DefaultPolicy'), this.reasons);
  }

  /** Lets the pipeline run a hyperparameter tuning step (and the training jobs it launches). */
  allowTuning(): void {
    this.allow(
      'PipelineTuningJobs',
      [
        'sagemaker:CreateHyperParameterTuningJob',
        'sagemaker:DescribeHyperParameterTuningJob',
        'sagemaker:StopHyperParameterTuningJob',
        'sagemaker:ListTrainingJobsForHyperParameterTuningJob',
        'sagemaker:AddTags',
      ],
      [this.arn('hyper-parameter-tuning-job/*'), this.arn('training-job/*')],
      'Pipelines names tuning jobs with a generated hash, and the tuning job names its training jobs after itself.',
    );
  }

  /**
   * Lets the jobs log to an MLflow App or tracking server (medllama/tracking.py): the MLflow REST calls the tracker
   * makes (containers/medllama/mlflow_actions.json, held to what it really calls by a test), on that one resource; and, for
   * an App whose artifact store is in the artifact bucket, writing under that prefix (MLflow clients upload
   * artifacts to the store themselves). Actions: Service Authorization Reference, "Amazon SageMaker with MLflow".
   */
  allowMlflow(
    resourceArn: string,
    kind: 'app' | 'tracking-server',
    artifactStore?: { readonly bucket: s3.IBucket; readonly prefix: string },
  ): void {
    this.allow('MlflowTracking', mlflowActions(), [resourceArn]);
    this.allow(
      'MlflowDescribe',
      [kind === 'app' ? 'sagemaker:DescribeMlflowApp' : 'sagemaker:DescribeMlflowTrackingServer'],
      [resourceArn],
    );
    if (artifactStore) {
      this.allow(
        'MlflowArtifactsWrite',
        ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        [artifactStore.bucket.arnForObjects(`${artifactStore.prefix}*`)],
        `MLflow names artifact objects by experiment and run id under ${artifactStore.prefix} at run time.`,
      );
    }
  }

  private arn(resource: string): string {
    const stack = Stack.of(this);
    return `arn:${stack.partition}:sagemaker:${stack.region}:${stack.account}:${resource}`;
  }

  private allow(
    sid: string,
    actions: string[],
    resources: string[],
    wildcardReason?: string,
    conditions?: Record<string, Record<string, unknown>>,
  ): void {
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid, actions, resources, conditions }));
    if (wildcardReason) this.reasons[sid] = wildcardReason;
  }
}
