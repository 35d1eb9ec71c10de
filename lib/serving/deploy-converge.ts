/**
 * Converging on one state: "the newest approved version of our group, in our account, is serving".
 *
 * Every event only triggers a re-check of that state, so the order events arrive in does not matter: an
 * approval of v3 during v2's rollout finds the endpoint busy and is deferred (no error, no retries, no
 * dead-letter queue); the InService event that ends v2's rollout re-checks and deploys v3; a late duplicate of
 * v2's approval finds v3 serving and changes nothing. What is deployed comes from the registry, never from an
 * event's ARN alone, and an endpoint serving a newer version is never rolled back to an older one.
 *
 * A version whose rollout was started but is not serving (the blue/green update rolled back on an alarm, or
 * failed) is not started again: the endpoint carries a tag naming the last endpoint config an update was
 * started for, and without it each InService event after a rollback would start the same failing update.
 */
import { DeregisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import {
  AddTagsCommand,
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeModelCommand,
  ListModelPackagesCommand,
  type ListModelPackagesCommandOutput,
  ListTagsCommand,
  UpdateEndpointCommand,
} from '@aws-sdk/client-sagemaker';
import {
  type DeployClients,
  type DeployOutcome,
  type DeploySettings,
  productionVariant,
  resourceNames,
  supportsVolumeKms,
  VARIANT_NAME,
  versionOfConfig,
} from './deploy-settings.ts';
import { type ModelPackageRef, notOurs, parseModelPackageArn } from './model-package-arn.ts';

/** Tag on the endpoint: the endpoint config of the last update (or creation) this Lambda started. */
export const LAST_DEPLOYMENT_TAG = 'medllama:last-deployment';

/** Statuses that end in InService by themselves: the re-check waits for that event. */
const BUSY = ['Creating', 'Updating', 'SystemUpdating', 'RollingBack'];

/** Adds the AWS call and its target to an SDK error, so the Lambda log says what failed on what. */
export async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
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

/** SageMaker's answer to an update while another is under way (two events handled at the same moment). */
function isInProgress(err: unknown): boolean {
  const message = err instanceof Error ? err.message : '';
  return /in-progress|in progress|cannot update/i.test(message);
}

/** A create that lost a race with another delivery creating the same (deterministically named) resource. */
function isAlreadyThere(err: unknown): boolean {
  const message = err instanceof Error ? `${err.message} ${String((err as { cause?: unknown }).cause ?? '')}` : '';
  return /already exist/i.test(message);
}

/** Runs a create; another delivery having created the same resource first counts as done. */
async function create(what: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await call(what, fn);
  } catch (err) {
    if (!isAlreadyThere(err)) throw err;
  }
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

/** The highest approved version of our group in the registry (only ARNs of our account, region and group). */
async function newestApproved(settings: DeploySettings, clients: DeployClients): Promise<ModelPackageRef | undefined> {
  let best: ModelPackageRef | undefined;
  let token: string | undefined;
  do {
    const page: ListModelPackagesCommandOutput = await call(`ListModelPackages ${settings.modelPackageGroupName}`, () =>
      clients.sagemaker.send(
        new ListModelPackagesCommand({
          ModelPackageGroupName: settings.modelPackageGroupName,
          ModelApprovalStatus: 'Approved',
          SortBy: 'CreationTime',
          SortOrder: 'Descending',
          MaxResults: 100,
          NextToken: token,
        }),
      ),
    );
    for (const summary of page.ModelPackageSummaryList ?? []) {
      const ref = parseModelPackageArn(summary.ModelPackageArn ?? '');
      if (ref && !notOurs(ref, settings) && (!best || ref.version > best.version)) best = ref;
    }
    token = page.NextToken;
  } while (token);
  return best;
}

async function ensureModelAndConfig(target: ModelPackageRef, settings: DeploySettings, clients: DeployClients) {
  const sm = clients.sagemaker;
  const { modelName, endpointConfigName } = resourceNames(settings, target.version);
  if (!(await exists(() => sm.send(new DescribeModelCommand({ ModelName: modelName }))))) {
    await create(`CreateModel ${modelName} from ${target.arn}`, () =>
      sm.send(
        new CreateModelCommand({
          ModelName: modelName,
          ExecutionRoleArn: settings.executionRoleArn,
          // As the SDK's ModelPackage.deploy does: the package as the primary container, with the host's environment
          // (tensor parallelism and KV offload for this instance type) over the package's own.
          PrimaryContainer: { ModelPackageName: target.arn, Environment: { ...settings.containerEnvironment } },
          EnableNetworkIsolation: true,
          Tags: [{ Key: 'medllama:model-package', Value: target.arn }],
        }),
      ),
    );
  }
  if (!(await exists(() => sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: endpointConfigName }))))) {
    const kms =
      settings.volumeKmsKeyArn && supportsVolumeKms(settings.instanceType) ? settings.volumeKmsKeyArn : undefined;
    await create(`CreateEndpointConfig ${endpointConfigName}`, () =>
      sm.send(
        new CreateEndpointConfigCommand({
          EndpointConfigName: endpointConfigName,
          ProductionVariants: [productionVariant(settings, modelName)],
          ...(kms ? { KmsKeyId: kms } : {}),
          Tags: [{ Key: 'medllama:model-package', Value: target.arn }],
        }),
      ),
    );
  }
  return { modelName, endpointConfigName };
}

/** The instance type the endpoint's current config runs (undefined when it cannot be read). */
async function variantInstanceType(configName: string | undefined, clients: DeployClients) {
  if (!configName) return undefined;
  const config = await call(`DescribeEndpointConfig ${configName}`, () =>
    clients.sagemaker.send(new DescribeEndpointConfigCommand({ EndpointConfigName: configName })),
  );
  return config.ProductionVariants?.[0]?.InstanceType;
}

/** Removes the variant's scalable target (and with it its scaling policies); nothing to do when there is none. */
export async function deregisterAutoscaling(settings: DeploySettings, clients: DeployClients): Promise<void> {
  const resourceId = `endpoint/${settings.endpointName}/variant/${VARIANT_NAME}`;
  try {
    await clients.autoscaling.send(
      new DeregisterScalableTargetCommand({
        ServiceNamespace: 'sagemaker',
        ResourceId: resourceId,
        ScalableDimension: 'sagemaker:variant:DesiredInstanceCount',
      }),
    );
  } catch (err) {
    if (!(err instanceof Error && /ObjectNotFound|No scalable target/i.test(`${err.name} ${err.message}`)))
      throw new Error(`DeregisterScalableTarget ${resourceId} failed: ${String(err)}`, { cause: err });
  }
}

async function lastDeployment(endpointArn: string, clients: DeployClients): Promise<string | undefined> {
  const tags = await call(`ListTags ${endpointArn}`, () =>
    clients.sagemaker.send(new ListTagsCommand({ ResourceArn: endpointArn, MaxResults: 100 })),
  );
  return (tags.Tags ?? []).filter((t) => t.Key === LAST_DEPLOYMENT_TAG).at(-1)?.Value;
}

function updateEndpoint(settings: DeploySettings, endpointConfigName: string): UpdateEndpointCommand {
  return new UpdateEndpointCommand({
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
  });
}

/**
 * Brings the endpoint to the newest approved version, or says why not. `approved` is the version an approval
 * event named, already verified (it counts even when the registry listing does not show it yet).
 */
export async function converge(
  settings: DeploySettings,
  clients: DeployClients,
  approved?: ModelPackageRef,
): Promise<DeployOutcome> {
  const listed = await newestApproved(settings, clients);
  const target = listed && (!approved || listed.version >= approved.version) ? listed : approved;
  if (!target) return { action: 'ignored', reason: `no approved version in ${settings.modelPackageGroupName}` };
  const sm = clients.sagemaker;
  const names = resourceNames(settings, target.version);
  const endpointName = settings.endpointName;
  const deferred = (status: string, why: string): DeployOutcome => ({
    action: 'deferred',
    endpointName,
    endpointStatus: status,
    version: target.version,
    reason: `${why}; v${target.version} is deployed when the endpoint is next InService`,
  });

  let current: { EndpointArn?: string; EndpointConfigName?: string; EndpointStatus?: string } | undefined;
  try {
    current = await sm.send(new DescribeEndpointCommand({ EndpointName: endpointName }));
  } catch (err) {
    if (!isNotFound(err)) throw new Error(`DescribeEndpoint ${endpointName} failed: ${String(err)}`, { cause: err });
  }

  if (!current) {
    await ensureModelAndConfig(target, settings, clients);
    try {
      await call(`CreateEndpoint ${endpointName}`, () =>
        sm.send(
          new CreateEndpointCommand({
            EndpointName: endpointName,
            EndpointConfigName: names.endpointConfigName,
            Tags: [{ Key: LAST_DEPLOYMENT_TAG, Value: names.endpointConfigName }],
          }),
        ),
      );
    } catch (err) {
      if (isAlreadyThere(err)) return deferred('Creating', `another delivery is creating ${endpointName}`);
      throw err;
    }
    return { action: 'created', endpointName, endpointConfigName: names.endpointConfigName, version: target.version };
  }

  const status = current.EndpointStatus ?? 'unknown';
  if (BUSY.includes(status)) return deferred(status, `endpoint ${endpointName} is ${status}`);
  if (status !== 'InService')
    return {
      action: 'ignored',
      reason: `endpoint ${endpointName} is ${status}: it needs an operator (repair or delete it) before v${target.version} can be deployed`,
    };
  if (current.EndpointConfigName === names.endpointConfigName)
    return { action: 'unchanged', endpointName, endpointConfigName: names.endpointConfigName, version: target.version };

  const serving = versionOfConfig(settings, current.EndpointConfigName);
  if (serving !== undefined && target.version < serving)
    return {
      action: 'ignored',
      reason: `endpoint ${endpointName} serves v${serving}, newer than v${target.version}, the newest approved version; it is not rolled back automatically`,
    };
  if (current.EndpointArn && (await lastDeployment(current.EndpointArn, clients)) === names.endpointConfigName) {
    // Another delivery may have started this very update since we looked: then the endpoint is busy now.
    const now = await call(`DescribeEndpoint ${endpointName}`, () =>
      sm.send(new DescribeEndpointCommand({ EndpointName: endpointName })),
    );
    const nowStatus = now.EndpointStatus ?? 'unknown';
    if (BUSY.includes(nowStatus)) return deferred(nowStatus, `endpoint ${endpointName} is ${nowStatus}`);
    return {
      action: 'ignored',
      reason:
        `an update to ${names.endpointConfigName} was started before and the endpoint is back on ` +
        `${now.EndpointConfigName} (rolled back or failed); register and approve a new version to try again`,
    };
  }
  await ensureModelAndConfig(target, settings, clients);
  // SageMaker refuses an update that changes the instance type of a variant with autoscaling registered: take the
  // variant off autoscaling first; the InService event that ends the update registers it again (deploy-handler.ts).
  const servingType = await variantInstanceType(current.EndpointConfigName, clients);
  if (servingType !== undefined && servingType !== settings.instanceType)
    await deregisterAutoscaling(settings, clients);
  try {
    await sm.send(updateEndpoint(settings, names.endpointConfigName));
  } catch (err) {
    if (isInProgress(err)) return deferred('Updating', `another update of ${endpointName} started first`);
    throw new Error(
      `UpdateEndpoint ${endpointName} to ${names.endpointConfigName} failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`,
      { cause: err },
    );
  }
  if (current.EndpointArn) {
    const arn = current.EndpointArn;
    await call(`AddTags ${arn}`, () =>
      sm.send(
        new AddTagsCommand({ ResourceArn: arn, Tags: [{ Key: LAST_DEPLOYMENT_TAG, Value: names.endpointConfigName }] }),
      ),
    );
  }
  return { action: 'updated', endpointName, endpointConfigName: names.endpointConfigName, version: target.version };
}
