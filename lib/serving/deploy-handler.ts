/**
 * The deploy Lambda's logic: EventBridge events about this project's model package group and endpoint in,
 * SageMaker and Application Auto Scaling calls out. Events are checked before anything is done: they must come
 * from SageMaker in this account and region, and an approval must name a version ARN of this group in this
 * account and region whose version matches the event and which the registry still shows as Approved. Then the
 * handler converges (deploy-converge.ts): safe to call any number of times, with events in any order.
 */
import { PutScalingPolicyCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { DescribeModelPackageCommand } from '@aws-sdk/client-sagemaker';
import { call, converge } from './deploy-converge.ts';
import { type DeployClients, type DeployOutcome, type DeploySettings, VARIANT_NAME } from './deploy-settings.ts';
import { notOurs, parseModelPackageArn } from './model-package-arn.ts';

export {
  type DeployClients,
  type DeployOutcome,
  type DeploySettings,
  resourceNames,
  settingsFromEnv,
  supportsVolumeKms,
  VARIANT_NAME,
} from './deploy-settings.ts';

/** The EventBridge events the Lambda receives (only the fields it reads). */
export interface SageMakerEvent {
  readonly 'detail-type': string;
  readonly source?: string;
  readonly account?: string;
  readonly region?: string;
  readonly detail: {
    readonly ModelPackageGroupName?: string;
    readonly ModelPackageArn?: string;
    readonly ModelPackageVersion?: number;
    readonly ModelApprovalStatus?: string;
    readonly EndpointName?: string;
    readonly EndpointStatus?: string;
  };
}

const refused = (reason: string): DeployOutcome => ({ action: 'refused', reason });

/** Why the event did not come from SageMaker in this deployment's account and region; undefined when it did. */
function foreignEvent(event: SageMakerEvent, settings: DeploySettings): string | undefined {
  if (event.source !== 'aws.sagemaker') return `event source ${event.source} is not aws.sagemaker`;
  if (event.account !== settings.accountId) return `event from account ${event.account}, not ${settings.accountId}`;
  if (event.region !== settings.region) return `event from region ${event.region}, not ${settings.region}`;
  return undefined;
}

async function onApproval(
  event: SageMakerEvent,
  settings: DeploySettings,
  clients: DeployClients,
): Promise<DeployOutcome> {
  const { ModelPackageArn: arn, ModelPackageGroupName: group, ModelApprovalStatus: status } = event.detail;
  if (group !== settings.modelPackageGroupName)
    return { action: 'ignored', reason: `model package group ${group} is not ${settings.modelPackageGroupName}` };
  if (status !== 'Approved') return { action: 'ignored', reason: `approval status is ${status}, not Approved` };
  const ref = parseModelPackageArn(arn ?? '');
  if (!ref) return refused(`${JSON.stringify(arn)} is not a model package version ARN`);
  const why = notOurs(ref, settings);
  if (why) return refused(why);
  const claimed = event.detail.ModelPackageVersion;
  if (claimed !== undefined && claimed !== ref.version)
    return refused(`event says version ${claimed} but ${ref.arn} is version ${ref.version}`);
  // The registry, not the event, says whether this version is approved (now, not when the event was sent).
  const described = await call(`DescribeModelPackage ${ref.arn}`, () =>
    clients.sagemaker.send(new DescribeModelPackageCommand({ ModelPackageName: ref.arn })),
  );
  if (
    described.ModelPackageGroupName !== settings.modelPackageGroupName ||
    described.ModelPackageVersion !== ref.version
  )
    return refused(
      `the registry has ${ref.arn} as version ${described.ModelPackageVersion} of ${described.ModelPackageGroupName}`,
    );
  if (described.ModelApprovalStatus !== 'Approved')
    return { action: 'ignored', reason: `v${ref.version} is ${described.ModelApprovalStatus} in the registry now` };
  return converge(settings, clients, ref);
}

/**
 * On "Endpoint State Change" InService: (re)register target-tracking autoscaling for the variant (idempotent),
 * then re-check that the newest approved version is serving (a version approved while the endpoint was busy
 * is deployed now).
 */
async function onInService(
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
  const deploy = await converge(settings, clients);
  return { action: 'autoscaling', endpointName: settings.endpointName, resourceId, deploy };
}

/** Routes one EventBridge event. Safe to call any number of times, with events in any order. */
export async function handleEvent(
  event: SageMakerEvent,
  settings: DeploySettings,
  clients: DeployClients,
): Promise<DeployOutcome> {
  const handled = ['SageMaker Model Package State Change', 'SageMaker Endpoint State Change'];
  if (!handled.includes(event['detail-type']))
    return { action: 'ignored', reason: `event type ${event['detail-type']} is not handled` };
  const foreign = foreignEvent(event, settings);
  if (foreign) return refused(foreign);
  return event['detail-type'] === handled[0]
    ? onApproval(event, settings, clients)
    : onInService(event, settings, clients);
}
