import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, Fn, Stack, type StackProps } from 'aws-cdk-lib';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import type { Construct } from 'constructs';
import { buildMedLlamaPipeline, type MedLlamaPipelineOptions } from '../../pipeline-steps/definition.ts';
import { loadDlcConfig } from '../../pipeline-steps/images.ts';
import { loadMetricDefinitions } from '../../pipeline-steps/metrics.ts';
import {
  articlesUri,
  baseModelUri,
  benchmarksUri,
  decontamPmidsUri,
  generalTextUri,
  jumpStartGatedBucket,
  type MedLlamaConfig,
  PMC_OPEN_DATA_URI,
  parseS3Uri,
  tokenizerUri,
} from '../config.ts';
import { ContainerCode } from '../constructs/container-code.ts';
import { MedLlamaPipeline } from '../constructs/medllama-pipeline.ts';
import { MLFLOW_ARTIFACT_PREFIX, MlflowApp } from '../constructs/mlflow-app.ts';
import { PipelineDashboard } from '../constructs/pipeline-dashboard.ts';
import { PipelineNotifications } from '../constructs/pipeline-notifications.ts';
import { PipelineExecutionRole, type ReadLocation } from '../constructs/pipeline-role.ts';
import {
  type DefinitionParameter,
  PLACEHOLDERS,
  setParameterDefaults,
  substitutePlaceholders,
} from '../private/definition-tokens.ts';
import type { DataStackImports } from './data-stack.ts';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Key prefixes the pipeline writes (pipeline-steps/definition.ts); the role may write nowhere else. */
export const WRITE_PREFIXES = {
  data: ['pipeline/'],
  artifacts: ['training/', 'checkpoints/', 'candidates/', 'evaluation/'],
} as const;

/** Builds the definition from the builder's options (the real builder, or another in tests). */
export type PipelineDefinitionBuilder = (options: MedLlamaPipelineOptions) => { toJSON(): unknown };

export interface PipelineStackProps extends StackProps {
  readonly config: MedLlamaConfig;
  /**
   * Where the project key and buckets come from: the DataStack, through its named exports (so the pipeline's
   * cdk-nag acknowledgments can name the exact bucket ARNs).
   */
  readonly data: { importInto(scope: Construct): DataStackImports };
  /**
   * The pipeline definition builder.
   * @default buildMedLlamaPipeline from pipeline-steps/definition.ts
   */
  readonly buildDefinition?: PipelineDefinitionBuilder;
  /**
   * The `containers/` folder bundled as the jobs' code.
   * @default - the repository's containers/
   */
  readonly containersDir?: string;
}

/**
 * The stateless half of MedLlama: the SageMaker Pipeline and what runs and watches it — its execution role, the model
 * package group it registers into, the code bundle, execution notifications (EventBridge → SNS e-mail), and a
 * CloudWatch dashboard with alarms.
 */
export class PipelineStack extends Stack {
  readonly pipeline: MedLlamaPipeline;
  readonly role: PipelineExecutionRole;
  readonly modelPackageGroup: sagemaker.CfnModelPackageGroup;
  readonly code: ContainerCode;
  readonly notifications: PipelineNotifications;
  readonly dashboard: PipelineDashboard;
  /** AWS account of the Hugging Face Deep Learning Containers registry in this stack's region. */
  readonly imageRegistryAccount: string;
  /** The definition JSON with placeholders where tokens go (see lib/private/definition-tokens.ts). */
  readonly definition: DefinitionJson;
  /** The MLflow App or tracking server the steps log to (docs/tracking.md); undefined when tracking is off. */
  readonly mlflowArn?: string;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const { config } = props;
    const { key, dataBucket, artifactBucket } = props.data.importInto(this);
    const { pipelineName, modelPackageGroupName } = pipelineNames(config.stage);
    const region = config.region;
    const registryAccount = loadDlcConfig().registries[region];
    if (!registryAccount) {
      throw new Error(`PipelineStack: no Hugging Face DLC registry for region "${region}" in containers/dlc.json`);
    }

    this.imageRegistryAccount = registryAccount;
    this.code = new ContainerCode(this, 'Code', { root: props.containersDir ?? join(REPO_ROOT, 'containers') });

    const uris = {
      articles: articlesUri(config, dataBucket.bucketName),
      baseModel: baseModelUri(config, dataBucket.bucketName),
      benchmarks: benchmarksUri(config, dataBucket.bucketName),
    };
    const readLocations: ReadLocation[] = [
      {
        bucketName: this.code.bucketName,
        keyPrefix: this.code.objectKey,
        purpose: 'the code bundle',
        singleObject: true,
      },
      ...externalReads(config, uris),
    ];

    this.modelPackageGroup = new sagemaker.CfnModelPackageGroup(this, 'ModelPackageGroup', {
      modelPackageGroupName,
      modelPackageGroupDescription: `MedLlama (${config.stage}): Llama 2 7B adapted to PubMed Central, registered when it beats the base model`,
    });

    this.role = new PipelineExecutionRole(this, 'ExecutionRole', {
      pipelineName,
      modelPackageGroupName,
      dataBucket: dataBucket,
      artifactBucket: artifactBucket,
      writePrefixes: WRITE_PREFIXES,
      key: key,
      imageRegistryAccount: registryAccount,
      readLocations,
    });

    // MLflow (docs/tracking.md): the App this stack creates, or the user's App or tracking server.
    const mlflowApp =
      config.mlflow.enabled && !config.mlflow.resourceArn
        ? new MlflowApp(this, 'Mlflow', { name: pipelineName, artifactBucket, key })
        : undefined;
    if (mlflowApp) {
      this.mlflowArn = mlflowApp.arn;
      this.role.allowMlflow(mlflowApp.arn, 'app', { bucket: artifactBucket, prefix: MLFLOW_ARTIFACT_PREFIX });
    } else if (config.mlflow.resourceArn) {
      this.mlflowArn = config.mlflow.resourceArn;
      this.role.allowMlflow(
        config.mlflow.resourceArn,
        /:mlflow-app\//.test(config.mlflow.resourceArn) ? 'app' : 'tracking-server',
      );
    }

    const definition = definitionForConfig(config, props.buildDefinition);
    if ((definition.Steps ?? []).some((step) => step.Type === 'Tuning')) this.role.allowTuning();
    /** The definition exactly as deployed, with placeholders (for tests and `medllama plan`). */
    this.definition = definition;
    const definitionBody = substitutePlaceholders(JSON.stringify(definition), {
      roleArn: this.role.role.roleArn,
      dataBucket: dataBucket.bucketName,
      artifactBucket: artifactBucket.bucketName,
      kmsKeyArn: key.keyArn,
      codeBucket: this.code.bucketName,
      codeKey: this.code.objectKey,
      mlflowArn: mlflowApp?.arn ?? PLACEHOLDERS.mlflowArn,
    });

    this.pipeline = new MedLlamaPipeline(this, 'Pipeline', {
      pipelineName,
      definitionBody,
      role: this.role.role,
      description: `MedLlama (${config.stage}): ingest PMC OA, dedup, tokenize, fine-tune Llama 2 7B, evaluate, gate, register`,
    });
    this.pipeline.node.addDependency(this.modelPackageGroup);

    this.notifications = new PipelineNotifications(this, 'Notifications', {
      pipelineArn: this.pipeline.pipelineArn,
      pipelineName,
      email: config.notificationEmail,
    });
    const metricNames = loadMetricDefinitions().map((m) => m.Name);
    this.dashboard = new PipelineDashboard(this, 'Dashboard', {
      pipelineName,
      trainingMetrics: {
        loss: metricNames.filter((n) => /(^|:)loss$/.test(n)),
        throughput: metricNames.filter((n) => /(^|:)tokens_per_second$/.test(n)),
      },
      endpointName: `medllama-${config.stage}`,
      alarmTopic: this.notifications.topic,
    });

    const console = `https://${region}.console.aws.amazon.com`;
    const outputs: Record<string, [string, string]> = {
      PipelineName: [this.pipeline.pipelineName, 'Start it with `medllama start` or in SageMaker Studio → Pipelines'],
      PipelineArn: [this.pipeline.pipelineArn, 'The pipeline ARN'],
      ModelPackageGroupName: [modelPackageGroupName, 'Model Registry group the pipeline registers into'],
      ExecutionRoleArn: [this.role.role.roleArn, 'Role of the pipeline and its jobs'],
      DataBucketName: [dataBucket.bucketName, 'Corpora and datasets; upload articles under raw/pmc-oa/'],
      ArtifactBucketName: [artifactBucket.bucketName, 'Checkpoints, models, evaluation reports'],
      CodeUri: [this.code.s3Uri, 'The container code bundle'],
      NotificationTopicArn: [this.notifications.topic.topicArn, 'Pipeline outcomes and alarms'],
      PipelinesConsoleUrl: [`${console}/sagemaker/home?region=${region}#/pipelines`, 'SageMaker Pipelines console'],
      DashboardUrl: [
        `${console}/cloudwatch/home?region=${region}#dashboards:name=${pipelineName}-dashboard`,
        'CloudWatch dashboard',
      ],
      DataBucketConsoleUrl: [
        `https://s3.console.aws.amazon.com/s3/buckets/${dataBucket.bucketName}?region=${region}`,
        'The data bucket in the S3 console',
      ],
    };
    for (const [name, [value, description]] of Object.entries(outputs)) {
      // The topic ARN is also exported under a stable name, for the ServingStack's notifications.
      const exportName = name === 'NotificationTopicArn' ? this.notificationTopicExportName : undefined;
      new CfnOutput(this, name, { value, description, ...(exportName ? { exportName } : {}) });
    }
  }

  private get notificationTopicExportName(): string {
    return `${this.stackName}-NotificationTopicArn`;
  }

  /**
   * The notification topic's ARN as another stack imports it: through the stable export, not a generated
   * cross-stack export that would pin this stack. The importing stack must depend on this one.
   */
  get importedNotificationTopicArn(): string {
    return Fn.importValue(this.notificationTopicExportName);
  }
}

/** The pipeline definition's JSON shape, as far as the stack and the CLI read it. */
export interface DefinitionJson {
  Parameters?: DefinitionParameter[];
  Steps?: { Name?: string; Type?: string }[];
  [key: string]: unknown;
}

/** Names of the pipeline and its model package group for a stage. */
export function pipelineNames(stage: string): { pipelineName: string; modelPackageGroupName: string } {
  return { pipelineName: `medllama-${stage}`, modelPackageGroupName: `medllama-${stage}` };
}

/**
 * The definition the stack deploys for `config`, with placeholders where deploy-time values go and the config's
 * Parameter defaults applied. Pure: the CLI uses it to validate `--param` values without calling AWS.
 */
export function definitionForConfig(
  config: MedLlamaConfig,
  build: PipelineDefinitionBuilder = buildMedLlamaPipeline,
): DefinitionJson {
  const options = builderOptions(config, pipelineNames(config.stage).modelPackageGroupName);
  const definition = JSON.parse(JSON.stringify(build(options).toJSON())) as DefinitionJson;
  setParameterDefaults(definition, parameterDefaults(config));
  return definition;
}

/** The builder's options for a config, with placeholders where deploy-time values go. */
export function builderOptions(config: MedLlamaConfig, modelPackageGroupName: string): MedLlamaPipelineOptions {
  const data = PLACEHOLDERS.dataBucket;
  const decontam = decontamPmidsUri(config, data);
  const codeUri = `s3://${PLACEHOLDERS.codeBucket}/${PLACEHOLDERS.codeKey}`;
  const base = baseModelUri(config, data);
  const tokenizer = tokenizerUri(config, data);
  return {
    roleArn: PLACEHOLDERS.roleArn,
    dataBucket: data,
    artifactBucket: PLACEHOLDERS.artifactBucket,
    kmsKeyArn: PLACEHOLDERS.kmsKeyArn,
    codeUri,
    trainingCodeUri: codeUri,
    region: config.region,
    modelPackageGroupName,
    spot: config.spot,
    baseModel:
      config.baseModel.source === 'jumpstart'
        ? { kind: 'jumpstart', acceptEula: config.baseModel.acceptLlama2Eula, s3Uri: base }
        : { kind: 's3', s3Uri: base },
    // JumpStart without an override: the definition reads the StageBaseModel output's tokenizer.json.
    ...(tokenizer ? { tokenizerUri: tokenizer } : {}),
    benchmarksUri: benchmarksUri(config, data),
    inputDataUri: articlesUri(config, data),
    ingestSource: config.data.usePmcOpenData ? 'pmc-open-data' : 'staged',
    ...(config.data.maxArticles ? { corpusArticles: config.data.maxArticles } : {}),
    serving: config.servingContainer,
    tuning: config.tuning,
    trainInstanceType: config.instances.train.type,
    generalTextUri: generalTextUri(config, data),
    ...(decontam ? { decontamPmidsUri: decontam } : {}),
    ...(config.mlflow.enabled ? { mlflowResourceArn: config.mlflow.resourceArn ?? PLACEHOLDERS.mlflowArn } : {}),
  };
}

/** Deploy-config defaults of the pipeline Parameters (each still changeable per execution). */
export function parameterDefaults(config: MedLlamaConfig): Record<string, string | number> {
  const { instances: i, thresholds: t } = config;
  return {
    MaxArticles: config.data.maxArticles,
    IngestInstanceType: i.ingest.type,
    IngestInstanceCount: i.ingest.count,
    DedupInstanceType: i.dedup.type,
    TokenizeInstanceType: i.tokenize.type,
    TokenizeInstanceCount: i.tokenize.count,
    TrainInstanceType: i.train.type,
    TrainInstanceCount: i.train.count,
    MergeInstanceType: i.mergeBack.type,
    EvaluateInstanceType: i.evaluate.type,
    ...(t.minPerplexityImprovement !== undefined ? { MinPerplexityImprovement: t.minPerplexityImprovement } : {}),
    ...(t.pubmedqaTolerance !== undefined ? { MinPubMedQADelta: -t.pubmedqaTolerance } : {}),
    ...(t.pubmedqaMinGain !== undefined ? { MinPubMedQADelta: t.pubmedqaMinGain } : {}),
    ...(t.maxGeneralRegression !== undefined ? { MaxGeneralRegression: t.maxGeneralRegression } : {}),
  };
}

function s3Location(uri: string): { bucketName: string; keyPrefix: string } {
  const { bucket, key } = parseS3Uri(uri);
  return { bucketName: bucket, keyPrefix: key };
}

/** Read-only locations outside the data bucket that the configuration points at. */
function externalReads(config: MedLlamaConfig, uris: { articles: string; baseModel: string; benchmarks: string }) {
  const out: ReadLocation[] = [];
  if (config.baseModel.source === 'jumpstart') {
    out.push({
      bucketName: jumpStartGatedBucket(config.region),
      keyPrefix: config.baseModel.gatedKey,
      // Read by one job only: StageBaseModel, through its training channel with ModelAccessConfig.AcceptEula.
      purpose: 'the Llama 2 weights in the JumpStart gated cache (the StageBaseModel training channel, EULA accepted)',
      singleObject: !config.baseModel.gatedKey.endsWith('/'),
    });
  } else if (config.baseModel.s3Uri) {
    out.push({ ...s3Location(uris.baseModel), purpose: 'the base model weights' });
  }
  if (config.data.usePmcOpenData) {
    out.push({ ...s3Location(PMC_OPEN_DATA_URI), purpose: 'the PMC Open Access articles (public bucket)' });
  } else if (config.data.inputS3Uri) {
    out.push({ ...s3Location(uris.articles), purpose: 'the input articles' });
  }
  if (config.data.benchmarksS3Uri) out.push({ ...s3Location(uris.benchmarks), purpose: 'the PubMedQA benchmark' });
  if (config.baseModel.source === 'jumpstart' && config.baseModel.tokenizerS3Uri) {
    out.push({ ...s3Location(config.baseModel.tokenizerS3Uri), purpose: 'the Llama 2 tokenizer' });
  }
  if (config.data.generalTextS3Uri) {
    out.push({ ...s3Location(config.data.generalTextS3Uri), purpose: 'general text for the regression check' });
  }
  if (config.data.decontamPmidsS3Uri) {
    out.push({ ...s3Location(config.data.decontamPmidsS3Uri), purpose: 'the PMID exclusion list', singleObject: true });
  }
  return out;
}
