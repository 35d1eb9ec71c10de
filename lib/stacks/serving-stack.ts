import { join } from 'node:path';
import { ArnFormat, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { loadDlcConfig, type ServingContainer } from '../../pipeline-steps/images.ts';
import { instanceTypeProblem, instanceTypesFor } from '../../pipeline-steps/instances.ts';
import { acknowledgeWildcards } from '../constructs/nag-acknowledge.ts';
import { importSameEnvironmentTopic } from '../constructs/same-environment-topic.ts';
import { supportsVolumeKms, VARIANT_NAME } from '../serving/deploy-handler.ts';
import { hostEnvironment, inferenceAmiFor } from '../serving/host.ts';
import type { DataStackImports } from './data-stack.ts';

export interface ServingStackProps extends StackProps {
  /** Prefix of the endpoint, model and endpoint-config names, e.g. `medllama-dev`. */
  readonly namePrefix: string;
  /** The model package group whose approvals deploy. */
  readonly modelPackageGroupName: string;
  /**
   * Where the project key and the artifact bucket (the trained weights) come from: the DataStack, which
   * hands them over through named exports.
   */
  readonly data: { importInto(scope: Construct): DataStackImports };
  /** AWS account of the Hugging Face DLC registry in this region (containers/dlc.json). */
  readonly imageRegistryAccount: string;
  /**
   * ARN of the topic told when the endpoint becomes InService or Failed and when an alarm fires (the
   * pipeline's notification topic, whose policy admits EventBridge and CloudWatch). It must be in this stack's
   * account and region (the stacks of one stage share them).
   * @default - a new KMS-encrypted topic
   */
  readonly notificationTopicArn?: string;
  /**
   * Endpoint instance type.
   * @default 'ml.g5.2xlarge' - one A10G (24 GB) holds Llama 2 7B in BF16 with room for the KV cache
   */
  readonly instanceType?: string;
  /**
   * The serving container the model packages name (containers/dlc.json): picks the host AMI for its CUDA and the
   * container's environment for the instance type (lib/serving/host.ts).
   * @default 'vllm'
   */
  readonly servingContainer?: ServingContainer;
  /**
   * Instances at creation.
   * @default 1
   */
  readonly initialInstanceCount?: number;
  /**
   * Autoscaling bounds.
   * @default - 1 to 2 instances
   */
  readonly minCapacity?: number;
  /** @default 2 */
  readonly maxCapacity?: number;
  /**
   * Target-tracking value: invocations per instance per minute.
   * @default 30 - LLM requests are long; scale out before queues build
   */
  readonly targetInvocationsPerInstance?: number;
  /**
   * Seconds allowed for the weights download and for the first healthy /ping (vLLM loads the weights first).
   * @default Duration.minutes(20)
   */
  readonly startupTimeout?: Duration;
  /**
   * Alarm threshold on p90 model latency (per request, including generation).
   * @default Duration.seconds(30)
   */
  readonly latencyAlarmThreshold?: Duration;
}

/**
 * Turns an approved model package into a real-time endpoint.
 * - "Model Package State Change" (Approved, this group) → deploy Lambda, which checks the event (source,
 *   account, region, ARN, version, and that the registry shows it Approved) and converges on "the newest
 *   approved version is serving": CreateModel from the package → endpoint config named by version →
 *   CreateEndpoint or a blue/green UpdateEndpoint with rollback alarms; deferred while the endpoint is busy.
 *   Idempotent and order-independent: EventBridge may deliver events more than once and late.
 * - "Endpoint State Change" → the topic (InService / Failed) and the Lambda, which registers
 *   target-tracking autoscaling once the endpoint exists and re-checks the newest approved version.
 * Invoking the endpoint needs IAM: attach {@link invokePolicy} to callers.
 */
export class ServingStack extends Stack {
  readonly endpointName: string;
  readonly endpointRole: iam.Role;
  readonly deployFunction: nodejs.NodejsFunction;
  readonly topic: sns.ITopic;
  readonly invokePolicy: iam.ManagedPolicy;
  readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: ServingStackProps) {
    super(scope, id, props);
    const instanceType = props.instanceType ?? 'ml.g5.2xlarge';
    const container = props.servingContainer ?? 'vllm';
    const initialInstanceCount = props.initialInstanceCount ?? 1;
    const minCapacity = props.minCapacity ?? 1;
    const maxCapacity = props.maxCapacity ?? 2;
    const targetInvocations = props.targetInvocationsPerInstance ?? 30;
    const startupSeconds = (props.startupTimeout ?? Duration.minutes(20)).toSeconds();
    const latencyThreshold = props.latencyAlarmThreshold ?? Duration.seconds(30);
    if (!/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,40}$/.test(props.namePrefix)) {
      throw new Error(
        `ServingStack: namePrefix must be letters, digits and "-" (≤ 41 chars), got "${props.namePrefix}"`,
      );
    }
    if (instanceTypeProblem(instanceType, 'endpoint')) {
      throw new Error(
        `ServingStack: instanceType: got "${instanceType}", expected one of ${instanceTypesFor('endpoint').join(', ')}`,
      );
    }
    if (!(minCapacity >= 1 && maxCapacity >= minCapacity && initialInstanceCount >= minCapacity)) {
      throw new Error(
        `ServingStack: need 1 <= minCapacity <= initialInstanceCount and minCapacity <= maxCapacity, got min ${minCapacity}, ` +
          `initial ${initialInstanceCount}, max ${maxCapacity}`,
      );
    }
    if (startupSeconds < 60 || startupSeconds > 3600) {
      throw new Error(`ServingStack: startupTimeout must be 60–3600 s (SageMaker's range), got ${startupSeconds} s`);
    }
    this.endpointName = props.namePrefix;
    const { key, artifactBucket } = props.data.importInto(this);
    const endpointArn = this.sagemakerArn('endpoint', this.endpointName);

    this.topic = props.notificationTopicArn
      ? importSameEnvironmentTopic(this, 'Notifications', props.notificationTopicArn)
      : new sns.Topic(this, 'Notifications', { masterKey: key, enforceSSL: true, displayName: 'MedLlama serving' });

    this.endpointRole = this.createEndpointRole(props, artifactBucket, key);
    this.alarms = this.createAlarms(latencyThreshold);

    // SSE-SQS: EventBridge delivers to a dead-letter queue only with a key it may use, and the project key admits
    // no service principal; SQS-managed encryption needs no key policy and still encrypts at rest.
    const dlq = new sqs.Queue(this, 'DeployDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(dlq).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the deploy rules and Lambda.',
    });

    const logGroup = new logs.LogGroup(this, 'DeployLogs', { retention: logs.RetentionDays.THREE_MONTHS });
    // An explicit role (instead of the AWS-managed basic-execution policy): logs to this group only.
    const deployRole = new iam.Role(this, 'DeployRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'MedLlama deploy Lambda',
    });
    logGroup.grantWrite(deployRole);
    this.deployFunction = new nodejs.NodejsFunction(this, 'DeployFunction', {
      entry: join(import.meta.dirname, '..', 'serving', 'deploy-lambda.ts'),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.minutes(1),
      logGroup,
      role: deployRole,
      deadLetterQueue: dlq,
      retryAttempts: 2,
      description: 'MedLlama: deploys an approved model package to the real-time endpoint (idempotent)',
      bundling: { minify: true, sourceMap: false, target: 'node24', format: nodejs.OutputFormat.ESM },
      environment: {
        // The handler acts only on events and model packages of this account and region.
        ACCOUNT_ID: this.account,
        REGION: this.region,
        NAME_PREFIX: props.namePrefix,
        ENDPOINT_NAME: this.endpointName,
        MODEL_PACKAGE_GROUP_NAME: props.modelPackageGroupName,
        EXECUTION_ROLE_ARN: this.endpointRole.roleArn,
        INSTANCE_TYPE: instanceType,
        INITIAL_INSTANCE_COUNT: String(initialInstanceCount),
        STARTUP_HEALTH_CHECK_TIMEOUT: String(startupSeconds),
        MODEL_DATA_DOWNLOAD_TIMEOUT: String(startupSeconds),
        VOLUME_KMS_KEY_ARN: supportsVolumeKms(instanceType) ? key.keyArn : '',
        ROLLBACK_ALARMS: this.alarms.map((a) => a.alarmName).join(','),
        MIN_CAPACITY: String(minCapacity),
        MAX_CAPACITY: String(maxCapacity),
        TARGET_INVOCATIONS_PER_INSTANCE: String(targetInvocations),
        INFERENCE_AMI_VERSION: inferenceAmiFor(loadDlcConfig().serving[container].tag),
        CONTAINER_ENVIRONMENT: JSON.stringify(hostEnvironment(container, instanceType)),
      },
    });
    this.grantDeploy(deployRole, props, endpointArn);

    const target = new targets.LambdaFunction(this.deployFunction, { deadLetterQueue: dlq, retryAttempts: 4 });
    new events.Rule(this, 'ApprovedModelPackage', {
      description: 'An approved MedLlama model package version deploys to the endpoint',
      eventPattern: {
        source: ['aws.sagemaker'],
        detailType: ['SageMaker Model Package State Change'],
        detail: { ModelPackageGroupName: [props.modelPackageGroupName], ModelApprovalStatus: ['Approved'] },
      },
      targets: [target],
    });
    new events.Rule(this, 'EndpointStateChange', {
      description: 'The MedLlama endpoint became InService or Failed',
      eventPattern: {
        source: ['aws.sagemaker'],
        detailType: ['SageMaker Endpoint State Change'],
        detail: { EndpointName: [this.endpointName], EndpointStatus: ['IN_SERVICE', 'FAILED'] },
      },
      targets: [target, new targets.SnsTopic(this.topic)],
    });

    this.invokePolicy = new iam.ManagedPolicy(this, 'InvokeEndpointPolicy', {
      description: 'Invoke the MedLlama real-time endpoint (attach to the users or roles that may call it)',
      statements: [
        new iam.PolicyStatement({
          actions: ['sagemaker:InvokeEndpoint', 'sagemaker:InvokeEndpointWithResponseStream'],
          resources: [endpointArn],
        }),
      ],
    });
  }

  private sagemakerArn(resource: string, name: string): string {
    return Stack.of(this).formatArn({
      service: 'sagemaker',
      resource,
      resourceName: name,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  }

  /** The role the model container runs as: read the weights, pull the DLC image, write logs and metrics. */
  private createEndpointRole(props: ServingStackProps, artifactBucket: s3.IBucket, key: kms.IKey): iam.Role {
    const role = new iam.Role(this, 'EndpointRole', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'MedLlama endpoint: reads model weights, pulls the serving image, writes logs',
    });
    const { allow, reasons } = statementsOf(role);
    allow(
      'ReadModelWeights',
      ['s3:GetObject'],
      [artifactBucket.arnForObjects('*')],
      'Model weights are many objects under the training output prefix of the artifact bucket.',
    );
    allow('ListModelWeights', ['s3:ListBucket'], [artifactBucket.bucketArn]);
    key.grantDecrypt(role);
    allow(
      'PullServingImage',
      ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
      [`arn:${this.partition}:ecr:${this.region}:${props.imageRegistryAccount}:repository/huggingface-*`],
      'The Hugging Face DLC repositories of the AWS DLC account; tags change per release.',
    );
    allow(
      'RegistryToken',
      ['ecr:GetAuthorizationToken'],
      ['*'],
      'ecr:GetAuthorizationToken has no resource-level permissions.',
    );
    allow(
      'EndpointLogs',
      ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
      [`arn:${this.partition}:logs:${this.region}:${this.account}:log-group:/aws/sagemaker/Endpoints/*`],
      'SageMaker names endpoint log groups after the endpoint; scoped to the endpoint log-group prefix.',
    );
    allow(
      'EndpointMetrics',
      ['cloudwatch:PutMetricData'],
      ['*'],
      'cloudwatch:PutMetricData has no resource-level permissions; limited by namespace.',
      { StringEquals: { 'cloudwatch:namespace': ['/aws/sagemaker/Endpoints', 'AWS/SageMaker'] } },
    );
    acknowledgeWildcards(role.node.findChild('DefaultPolicy'), reasons);
    return role;
  }

  private grantDeploy(role: iam.Role, props: ServingStackProps, endpointArn: string): void {
    const prefix = props.namePrefix;
    const { allow, reasons } = statementsOf(role);
    const versioned = 'Named by package version at approval time; scoped to this deployment’s prefix.';
    allow(
      'Models',
      ['sagemaker:CreateModel', 'sagemaker:DescribeModel', 'sagemaker:AddTags'],
      [this.sagemakerArn('model', `${prefix}-v*`)],
      versioned,
    );
    allow(
      'EndpointConfigs',
      ['sagemaker:CreateEndpointConfig', 'sagemaker:DescribeEndpointConfig', 'sagemaker:AddTags'],
      [this.sagemakerArn('endpoint-config', `${prefix}-v*`)],
      versioned,
    );
    // ListTags / AddTags: the endpoint's tag naming the last update started, so a rolled-back version is not
    // started again on the next InService event (deploy-converge.ts).
    allow(
      'Endpoint',
      [
        'sagemaker:CreateEndpoint',
        'sagemaker:UpdateEndpoint',
        'sagemaker:DescribeEndpoint',
        'sagemaker:ListTags',
        'sagemaker:AddTags',
      ],
      [endpointArn],
    );
    // CreateEndpoint / UpdateEndpoint authorize on the endpoint config too.
    allow(
      'EndpointFromConfig',
      ['sagemaker:CreateEndpoint', 'sagemaker:UpdateEndpoint'],
      [this.sagemakerArn('endpoint-config', `${prefix}-v*`)],
      versioned,
    );
    allow(
      'ReadModelPackages',
      ['sagemaker:DescribeModelPackage'],
      [this.sagemakerArn('model-package', `${props.modelPackageGroupName.toLowerCase()}/*`)],
      'Any version of this project’s model package group may be approved.',
    );
    allow(
      'ListApprovedVersions',
      ['sagemaker:ListModelPackages'],
      ['*'],
      'ListModelPackages is a List action that is not scoped to one model package ARN; it reads registry ' +
        'metadata only (no weights), and the handler keeps only versions of this group in this account and region.',
    );
    allow('PassEndpointRole', ['iam:PassRole'], [this.endpointRole.roleArn], undefined, {
      StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' },
    });
    allow(
      'Autoscaling',
      ['application-autoscaling:RegisterScalableTarget', 'application-autoscaling:PutScalingPolicy'],
      ['*'],
      'Application Auto Scaling has no resource-level permissions; limited to the sagemaker namespace.',
      { StringEquals: { 'application-autoscaling:service-namespace': 'sagemaker' } },
    );
    allow(
      'AutoscalingServiceRole',
      ['iam:CreateServiceLinkedRole'],
      [
        `arn:${this.partition}:iam::${this.account}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint`,
      ],
      undefined,
      { StringLike: { 'iam:AWSServiceName': 'sagemaker.application-autoscaling.amazonaws.com' } },
    );
    allow(
      'RollbackAlarms',
      ['cloudwatch:DescribeAlarms'],
      this.alarms.map((a) => a.alarmArn),
    );
    acknowledgeWildcards(role.node.findChild('DefaultPolicy'), reasons);
  }

  /** p90 model latency and 5xx errors on the endpoint variant; both roll a blue/green update back. */
  private createAlarms(latencyThreshold: Duration): cloudwatch.Alarm[] {
    const dimensionsMap = { EndpointName: this.endpointName, VariantName: VARIANT_NAME };
    const latency = new cloudwatch.Alarm(this, 'LatencyAlarm', {
      alarmDescription: `MedLlama endpoint p90 model latency above ${latencyThreshold.toSeconds()} s`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName: 'ModelLatency',
        dimensionsMap,
        statistic: 'p90',
        period: Duration.minutes(5),
      }),
      threshold: latencyThreshold.toSeconds() * 1_000_000, // ModelLatency is reported in microseconds
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const errors = new cloudwatch.Alarm(this, 'ServerErrorAlarm', {
      alarmDescription: 'MedLlama endpoint returned 5xx errors',
      metric: new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName: 'Invocation5XXErrors',
        dimensionsMap,
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [latency, errors]) alarm.addAlarmAction(new cwActions.SnsAction(this.topic));
    return [latency, errors];
  }
}

/**
 * Adds Sid-named statements to `role`; a statement given a reason has its wildcards acknowledged for cdk-nag
 * (`acknowledgeWildcards(role's DefaultPolicy, reasons)` once all are added).
 */
function statementsOf(role: iam.Role) {
  const reasons: Record<string, string> = {};
  const allow = (sid: string, actions: string[], resources: string[], reason?: string, conditions?: iam.Conditions) => {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid, actions, resources, conditions }));
    if (reason) reasons[sid] = reason;
  };
  return { allow, reasons };
}
