import { createHash } from 'node:crypto';
import {
  type ApplicationAutoScalingClient,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeModelCommand,
  type ProductionVariant,
  type SageMakerClient,
  UpdateEndpointCommand,
} from '@aws-sdk/client-sagemaker';

/** What the deploy Lambda is configured with (from its environment; see {@link settingsFromEnv}). */
export interface DeploySettings {
  /** Prefix of every model and endpoint-config name, e.g. `medllama-dev`. */
  readonly namePrefix: string;
  /** The one real-time endpoint this deployment owns. */
  readonly endpointName: string;
  /** Only approvals in this group deploy. */
  readonly modelPackageGroupName: string;
  /** Role the model runs as (reads weights, pulls the image, writes logs). */
  readonly executionRoleArn: string;
  readonly instanceType: string;
  readonly initialInstanceCount: number;
  /** Seconds SageMaker waits for the container's first healthy /ping (weights load first). */
  readonly startupHealthCheckTimeoutSeconds: number;
  /** Seconds allowed to download the weights to the instance. */
  readonly modelDataDownloadTimeoutSeconds: number;
  /** KMS key for the ML storage volume; omitted for instance types with local NVMe storage (the API rejects it). */
  readonly volumeKmsKeyArn?: string;
  /** CloudWatch alarms that roll a blue/green update back. */
  readonly rollbackAlarmNames: readonly string[];
  readonly minCapacity: number;
  readonly maxCapacity: number;
  /** Target invocations per instance per minute for target-tracking autoscaling. */
  readonly targetInvocationsPerInstance: number;
}

export interface DeployClients {
  readonly sagemaker: Pick<SageMakerClient, 'send'>;
  readonly autoscaling: Pick<ApplicationAutoScalingClient, 'send'>;
}

/** The EventBridge events the Lambda receives (only the fields it reads). */
export interface SageMakerEvent {
  readonly 'detail-type': string;
  readonly source?: string;
  readonly detail: {
    readonly ModelPackageGroupName?: string;
    readonly ModelPackageArn?: string;
    readonly ModelPackageVersion?: number;
    readonly ModelApprovalStatus?: string;
    readonly EndpointName?: string;
    readonly EndpointStatus?: string;
  };
}

export type DeployOutcome =
  | { readonly action: 'ignored'; readonly reason: string }
  | {
      readonly action: 'unchanged' | 'created' | 'updated';
      readonly endpointName: string;
      readonly endpointConfigName: string;
    }
  | { readonly action: 'autoscaling'; readonly endpointName: string; readonly resourceId: string };

export const VARIANT_NAME = 'AllTraffic';

/** Instance families with local NVMe instance storage: SageMaker rejects a volume KmsKeyId for them. */
const LOCAL_STORAGE_FAMILIES = /^ml\.(g4dn|g5|g6|g6e|p3dn|p4d|p4de|p5|p5e|p5en|m5d|c5d|r5d|inf2|trn1)\./;

export function supportsVolumeKms(instanceType: string): boolean {
  return !LOCAL_STORAGE_FAMILIES.test(instanceType);
}

/** Adds the AWS call and its target to an SDK error, so the Lambda log says what failed on what. */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const name = err instanceof Error ? err.name : 'Error';
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`${what} failed: ${name}: ${message}`, { cause: err });
  }
}

function isNotFound(err: unknown): boolean {
  const message = err instanceof Error ? err.message : '';
  return /could not find|does not exist|not found/i.test(message);
}

async function exists(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

function productionVariant(settings: DeploySettings, modelName: string): ProductionVariant {
  return {
    VariantName: VARIANT_NAME,
    ModelName: modelName,
    InstanceType: settings.instanceType as ProductionVariant['InstanceType'],
    InitialInstanceCount: settings.initialInstanceCount,
    ContainerStartupHealthCheckTimeoutInSeconds: settings.startupHealthCheckTimeoutSeconds,
    ModelDataDownloadTimeoutInSeconds: settings.modelDataDownloadTimeoutSeconds,
  };
}

/**
 * Deterministic names: the model is named by package version; the endpoint config by version plus a hash of
 * the variant settings, so the same approval twice creates nothing new, and a changed instance type after a
 * redeploy still produces a new config.
 */
export function resourceNames(settings: DeploySettings, version: number) {
  const modelName = `${settings.namePrefix}-v${version}`;
  const hash = createHash('sha256')
    .update(JSON.stringify([productionVariant(settings, modelName), settings.volumeKmsKeyArn ?? '']))
    .digest('hex')
    .slice(0, 8);
  return { modelName, endpointConfigName: `${settings.namePrefix}-v${version}-${hash}` };
}

function versionFromArn(arn: string): number | undefined {
  const match = /model-package\/[^/]+\/(\d+)$/.exec(arn);
  return match ? Number(match[1]) : undefined;
}

async function deployApprovedPackage(
  event: SageMakerEvent,
  settings: DeploySettings,
  clients: DeployClients,
): Promise<DeployOutcome> {
  const { ModelPackageArn: packageArn, ModelPackageGroupName: group, ModelApprovalStatus: status } = event.detail;
  if (group !== settings.modelPackageGroupName) {
    return { action: 'ignored', reason: `model package group ${group} is not ${settings.modelPackageGroupName}` };
  }
  if (status !== 'Approved') return { action: 'ignored', reason: `approval status is ${status}, not Approved` };
  if (!packageArn) throw new Error('model package state change event without ModelPackageArn');
  const version = event.detail.ModelPackageVersion ?? versionFromArn(packageArn);
  if (version === undefined) throw new Error(`cannot tell the version of model package ${packageArn}`);

  const sm = clients.sagemaker;
  const { modelName, endpointConfigName } = resourceNames(settings, version);

  if (!(await exists(() => sm.send(new DescribeModelCommand({ ModelName: modelName }))))) {
    await call(`CreateModel ${modelName} from ${packageArn}`, () =>
      sm.send(
        new CreateModelCommand({
          ModelName: modelName,
          ExecutionRoleArn: settings.executionRoleArn,
          Containers: [{ ModelPackageName: packageArn }],
          EnableNetworkIsolation: true,
          Tags: [{ Key: 'medllama:model-package', Value: packageArn }],
        }),
      ),
    );
  }

  if (!(await exists(() => sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: endpointConfigName }))))) {
    const kms =
      settings.volumeKmsKeyArn && supportsVolumeKms(settings.instanceType) ? settings.volumeKmsKeyArn : undefined;
    await call(`CreateEndpointConfig ${endpointConfigName}`, () =>
      sm.send(
        new CreateEndpointConfigCommand({
          EndpointConfigName: endpointConfigName,
          ProductionVariants: [productionVariant(settings, modelName)],
          ...(kms ? { KmsKeyId: kms } : {}),
          Tags: [{ Key: 'medllama:model-package', Value: packageArn }],
        }),
      ),
    );
  }

  let current: { EndpointConfigName?: string; EndpointStatus?: string } | undefined;
  try {
    current = await sm.send(new DescribeEndpointCommand({ EndpointName: settings.endpointName }));
  } catch (err) {
    if (!isNotFound(err))
      throw new Error(`DescribeEndpoint ${settings.endpointName} failed: ${String(err)}`, { cause: err });
  }

  if (!current) {
    await call(`CreateEndpoint ${settings.endpointName}`, () =>
      sm.send(
        new CreateEndpointCommand({ EndpointName: settings.endpointName, EndpointConfigName: endpointConfigName }),
      ),
    );
    return { action: 'created', endpointName: settings.endpointName, endpointConfigName };
  }
  if (current.EndpointConfigName === endpointConfigName) {
    return { action: 'unchanged', endpointName: settings.endpointName, endpointConfigName };
  }
  await call(`UpdateEndpoint ${settings.endpointName} to ${endpointConfigName}`, () =>
    sm.send(
      new UpdateEndpointCommand({
        EndpointName: settings.endpointName,
        EndpointConfigName: endpointConfigName,
        DeploymentConfig: {
          BlueGreenUpdatePolicy: {
            TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE', WaitIntervalInSeconds: 600 },
            TerminationWaitInSeconds: 600,
            MaximumExecutionTimeoutInSeconds: 3600,
          },
          ...(settings.rollbackAlarmNames.length
            ? { AutoRollbackConfiguration: { Alarms: settings.rollbackAlarmNames.map((AlarmName) => ({ AlarmName })) } }
            : {}),
        },
      }),
    ),
  );
  return { action: 'updated', endpointName: settings.endpointName, endpointConfigName };
}

/** On "Endpoint State Change" InService: (re)register target-tracking autoscaling for the variant (idempotent). */
async function ensureAutoscaling(
  event: SageMakerEvent,
  settings: DeploySettings,
  clients: DeployClients,
): Promise<DeployOutcome> {
  const { EndpointName: name, EndpointStatus: status } = event.detail;
  if (name !== settings.endpointName)
    return { action: 'ignored', reason: `endpoint ${name} is not ${settings.endpointName}` };
  if (status !== 'IN_SERVICE' && status !== 'InService')
    return { action: 'ignored', reason: `endpoint status is ${status}` };
  const resourceId = `endpoint/${settings.endpointName}/variant/${VARIANT_NAME}`;
  const dimension = 'sagemaker:variant:DesiredInstanceCount';
  await call(`RegisterScalableTarget ${resourceId}`, () =>
    clients.autoscaling.send(
      new RegisterScalableTargetCommand({
        ServiceNamespace: 'sagemaker',
        ResourceId: resourceId,
        ScalableDimension: dimension,
        MinCapacity: settings.minCapacity,
        MaxCapacity: settings.maxCapacity,
      }),
    ),
  );
  await call(`PutScalingPolicy ${resourceId}`, () =>
    clients.autoscaling.send(
      new PutScalingPolicyCommand({
        PolicyName: `${settings.namePrefix}-invocations`,
        ServiceNamespace: 'sagemaker',
        ResourceId: resourceId,
        ScalableDimension: dimension,
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: {
          TargetValue: settings.targetInvocationsPerInstance,
          PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' },
          ScaleInCooldown: 600,
          ScaleOutCooldown: 300,
        },
      }),
    ),
  );
  return { action: 'autoscaling', endpointName: settings.endpointName, resourceId };
}

/** Routes one EventBridge event. Safe to call any number of times with the same event. */
export async function handleEvent(
  event: SageMakerEvent,
  settings: DeploySettings,
  clients: DeployClients,
): Promise<DeployOutcome> {
  switch (event['detail-type']) {
    case 'SageMaker Model Package State Change':
      return deployApprovedPackage(event, settings, clients);
    case 'SageMaker Endpoint State Change':
      return ensureAutoscaling(event, settings, clients);
    default:
      return { action: 'ignored', reason: `event type ${event['detail-type']} is not handled` };
  }
}

function requiredEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`deploy Lambda: environment variable ${name} is not set`);
  return value;
}

function intEnv(env: NodeJS.ProcessEnv, name: string): number {
  const value = Number(requiredEnv(env, name));
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`deploy Lambda: ${name}=${env[name]} is not a whole number`);
  return value;
}

/** Reads {@link DeploySettings} from the Lambda environment (set by the ServingStack). */
export function settingsFromEnv(env: NodeJS.ProcessEnv): DeploySettings {
  return {
    namePrefix: requiredEnv(env, 'NAME_PREFIX'),
    endpointName: requiredEnv(env, 'ENDPOINT_NAME'),
    modelPackageGroupName: requiredEnv(env, 'MODEL_PACKAGE_GROUP_NAME'),
    executionRoleArn: requiredEnv(env, 'EXECUTION_ROLE_ARN'),
    instanceType: requiredEnv(env, 'INSTANCE_TYPE'),
    initialInstanceCount: intEnv(env, 'INITIAL_INSTANCE_COUNT'),
    startupHealthCheckTimeoutSeconds: intEnv(env, 'STARTUP_HEALTH_CHECK_TIMEOUT'),
    modelDataDownloadTimeoutSeconds: intEnv(env, 'MODEL_DATA_DOWNLOAD_TIMEOUT'),
    volumeKmsKeyArn: env.VOLUME_KMS_KEY_ARN || undefined,
    rollbackAlarmNames: (env.ROLLBACK_ALARMS ?? '').split(',').filter(Boolean),
    minCapacity: intEnv(env, 'MIN_CAPACITY'),
    maxCapacity: intEnv(env, 'MAX_CAPACITY'),
    targetInvocationsPerInstance: intEnv(env, 'TARGET_INVOCATIONS_PER_INSTANCE'),
  };
}
