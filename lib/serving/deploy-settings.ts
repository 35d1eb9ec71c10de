/**
 * The deploy Lambda's configuration (read from its environment), the clients it calls and the outcomes it
 * reports, and the deterministic names of what it creates.
 */
import { createHash } from 'node:crypto';
import type { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import type { ProductionVariant, SageMakerClient } from '@aws-sdk/client-sagemaker';

/** What the deploy Lambda is configured with (from its environment; see {@link settingsFromEnv}). */
export interface DeploySettings {
  /** The account and region of this deployment: only model packages and events from them are acted on. */
  readonly accountId: string;
  readonly region: string;
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
  /** The host image for the serving image's CUDA (lib/serving/host.ts). */
  readonly inferenceAmiVersion?: string;
  /** Container environment for the instance type, over the model package's (tensor parallelism, KV offload). */
  readonly containerEnvironment: Readonly<Record<string, string>>;
}

export interface DeployClients {
  readonly sagemaker: Pick<SageMakerClient, 'send'>;
  readonly autoscaling: Pick<ApplicationAutoScalingClient, 'send'>;
}

/** What one event led to; logged by the Lambda. */
export type DeployOutcome =
  /** Nothing to do for this event (another group, not approved, an older version, no change possible). */
  | { readonly action: 'ignored'; readonly reason: string }
  /** The event is not one this deployment trusts (account, region, source, ARN or version do not match). */
  | { readonly action: 'refused'; readonly reason: string }
  | {
      readonly action: 'unchanged' | 'created' | 'updated';
      readonly endpointName: string;
      readonly endpointConfigName: string;
      readonly version: number;
    }
  /** The endpoint is busy (creating, updating, rolling back): re-checked on its next InService event. */
  | {
      readonly action: 'deferred';
      readonly endpointName: string;
      readonly endpointStatus: string;
      readonly version: number;
      readonly reason: string;
    }
  | {
      readonly action: 'autoscaling';
      readonly endpointName: string;
      readonly resourceId: string;
      /** What the re-check that follows an InService event did. */
      readonly deploy: DeployOutcome;
    };

export const VARIANT_NAME = 'AllTraffic';

/** Instance families with local NVMe instance storage: SageMaker rejects a volume KmsKeyId for them. */
const LOCAL_STORAGE_FAMILIES = /^ml\.(g4dn|g5|g6|g6e|p3dn|p4d|p4de|p5|p5e|p5en|m5d|c5d|r5d|inf2|trn1)\./;

export function supportsVolumeKms(instanceType: string): boolean {
  return !LOCAL_STORAGE_FAMILIES.test(instanceType);
}

export function productionVariant(settings: DeploySettings, modelName: string): ProductionVariant {
  return {
    VariantName: VARIANT_NAME,
    ModelName: modelName,
    InstanceType: settings.instanceType as ProductionVariant['InstanceType'],
    InitialInstanceCount: settings.initialInstanceCount,
    ContainerStartupHealthCheckTimeoutInSeconds: settings.startupHealthCheckTimeoutSeconds,
    ModelDataDownloadTimeoutInSeconds: settings.modelDataDownloadTimeoutSeconds,
    ...(settings.inferenceAmiVersion
      ? { InferenceAmiVersion: settings.inferenceAmiVersion as ProductionVariant['InferenceAmiVersion'] }
      : {}),
  };
}

/**
 * Deterministic names: the model is named by package version; the endpoint config by version plus a hash of
 * the variant settings, so the same approval twice creates nothing new, and a changed instance type after a
 * redeploy still produces a new config.
 */
export function resourceNames(settings: DeploySettings, version: number) {
  // The model carries the host's container environment (tensor parallelism follows the instance type): another
  // environment is another model.
  const environment = JSON.stringify(settings.containerEnvironment);
  const modelName =
    environment === '{}'
      ? `${settings.namePrefix}-v${version}`
      : `${settings.namePrefix}-v${version}-${createHash('sha256').update(environment).digest('hex').slice(0, 6)}`;
  const hash = createHash('sha256')
    .update(
      JSON.stringify([
        productionVariant(settings, modelName),
        settings.volumeKmsKeyArn ?? '',
        settings.containerEnvironment,
      ]),
    )
    .digest('hex')
    .slice(0, 8);
  return { modelName, endpointConfigName: `${settings.namePrefix}-v${version}-${hash}` };
}

/** The package version an endpoint config of ours was named after (undefined for any other name). */
export function versionOfConfig(settings: DeploySettings, endpointConfigName: string | undefined): number | undefined {
  const prefix = `${settings.namePrefix}-v`;
  if (!endpointConfigName?.startsWith(prefix)) return undefined;
  const match = /^(\d+)-[0-9a-f]{8}$/.exec(endpointConfigName.slice(prefix.length));
  return match ? Number(match[1]) : undefined;
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

function jsonEnv(env: NodeJS.ProcessEnv, name: string): Record<string, string> {
  if (!env[name]) return {};
  const value = JSON.parse(env[name]!) as unknown;
  if (!value || typeof value !== 'object' || Object.values(value).some((v) => typeof v !== 'string'))
    throw new Error(`deploy Lambda: ${name} is not a JSON object of strings`);
  return value as Record<string, string>;
}

/** Reads {@link DeploySettings} from the Lambda environment (set by the ServingStack). */
export function settingsFromEnv(env: NodeJS.ProcessEnv): DeploySettings {
  return {
    accountId: requiredEnv(env, 'ACCOUNT_ID'),
    region: requiredEnv(env, 'REGION'),
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
    inferenceAmiVersion: env.INFERENCE_AMI_VERSION || undefined,
    containerEnvironment: jsonEnv(env, 'CONTAINER_ENVIRONMENT'),
  };
}
