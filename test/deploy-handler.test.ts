import {
  ApplicationAutoScalingClient,
  DescribeScalableTargetsCommand,
  DescribeScalingPoliciesCommand,
} from '@aws-sdk/client-application-auto-scaling';
import {
  CreateModelPackageCommand,
  CreateModelPackageGroupCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  ListEndpointConfigsCommand,
  ListModelsCommand,
  SageMakerClient,
  UpdateEndpointCommand,
} from '@aws-sdk/client-sagemaker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type DeployClients,
  type DeploySettings,
  handleEvent,
  resourceNames,
  type SageMakerEvent,
  settingsFromEnv,
  supportsVolumeKms,
} from '../lib/serving/deploy-handler.ts';
import { type MotoServer, startMoto } from './support/moto.ts';

const GROUP = 'medllama-test';
const settings: DeploySettings = {
  namePrefix: 'medllama-test',
  endpointName: 'medllama-test',
  modelPackageGroupName: GROUP,
  executionRoleArn: 'arn:aws:iam::123456789012:role/medllama-endpoint',
  // moto 5.2.5's instance-type enum predates ml.g5; ml.p3 has no local NVMe, so the volume key is sent.
  instanceType: 'ml.p3.2xlarge',
  initialInstanceCount: 1,
  startupHealthCheckTimeoutSeconds: 1200,
  modelDataDownloadTimeoutSeconds: 1200,
  volumeKmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/abc',
  rollbackAlarmNames: ['medllama-test-5xx', 'medllama-test-latency'],
  minCapacity: 1,
  maxCapacity: 2,
  targetInvocationsPerInstance: 60,
};

function approval(arn: string, status = 'Approved', group = GROUP): SageMakerEvent {
  return {
    'detail-type': 'SageMaker Model Package State Change',
    source: 'aws.sagemaker',
    detail: { ModelPackageGroupName: group, ModelPackageArn: arn, ModelApprovalStatus: status },
  };
}

/** moto has no UpdateEndpoint: record the request and answer with the API's response shape. */
function withRecordedUpdate(
  client: SageMakerClient,
  calls: UpdateEndpointCommand['input'][],
): Pick<SageMakerClient, 'send'> {
  return {
    send: ((command: { input: unknown }) => {
      if (command instanceof UpdateEndpointCommand) {
        calls.push(command.input);
        return Promise.resolve({
          EndpointArn: `arn:aws:sagemaker:us-east-1:123456789012:endpoint/${command.input.EndpointName}`,
          $metadata: {},
        });
      }
      return (client.send as (c: unknown) => Promise<unknown>)(command);
    }) as SageMakerClient['send'],
  };
}

describe('deploy handler (against a moto server)', () => {
  let moto: MotoServer;
  let sm: SageMakerClient;
  let clients: DeployClients;
  const updates: UpdateEndpointCommand['input'][] = [];
  const packages: string[] = [];

  async function registerPackage(): Promise<string> {
    const res = await sm.send(
      new CreateModelPackageCommand({
        ModelPackageGroupName: GROUP,
        ModelApprovalStatus: 'PendingManualApproval',
        InferenceSpecification: {
          Containers: [{ Image: '763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-vllm:0.25.1' }],
          SupportedContentTypes: ['application/json'],
          SupportedResponseMIMETypes: ['application/json'],
        },
      }),
    );
    packages.push(res.ModelPackageArn!);
    return res.ModelPackageArn!;
  }

  beforeAll(async () => {
    moto = await startMoto();
    sm = new SageMakerClient(moto.clientConfig);
    clients = {
      sagemaker: withRecordedUpdate(sm, updates),
      autoscaling: new ApplicationAutoScalingClient(moto.clientConfig),
    };
    await sm.send(new CreateModelPackageGroupCommand({ ModelPackageGroupName: GROUP }));
  });
  afterAll(async () => {
    await moto?.stop();
  });

  test('a Rejected approval, another group and another event type change nothing', async () => {
    const arn = await registerPackage();
    expect(await handleEvent(approval(arn, 'Rejected'), settings, clients)).toEqual({
      action: 'ignored',
      reason: 'approval status is Rejected, not Approved',
    });
    expect((await handleEvent(approval(arn, 'Approved', 'other-group'), settings, clients)).action).toBe('ignored');
    expect((await handleEvent({ 'detail-type': 'Something Else', detail: {} }, settings, clients)).action).toBe(
      'ignored',
    );
    expect((await sm.send(new ListModelsCommand({}))).Models ?? []).toHaveLength(0);
  });

  test('the first approval creates the model, the endpoint config and the endpoint', async () => {
    const arn = packages[0]!;
    const outcome = await handleEvent(approval(arn), settings, clients);
    const { endpointConfigName } = resourceNames(settings, 1);
    expect(outcome).toEqual({ action: 'created', endpointName: 'medllama-test', endpointConfigName });
    const endpoint = await sm.send(new DescribeEndpointCommand({ EndpointName: 'medllama-test' }));
    expect(endpoint.EndpointConfigName).toBe(endpointConfigName);
    const config = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: endpointConfigName }));
    expect(config.ProductionVariants?.[0]).toMatchObject({
      ModelName: 'medllama-test-v1',
      InstanceType: 'ml.p3.2xlarge',
      ContainerStartupHealthCheckTimeoutInSeconds: 1200,
      ModelDataDownloadTimeoutInSeconds: 1200,
    });
    expect(config.KmsKeyId).toBe(settings.volumeKmsKeyArn);
  });

  test('the same event again (EventBridge repeats events) creates nothing new', async () => {
    const before = {
      models: (await sm.send(new ListModelsCommand({}))).Models?.length,
      configs: (await sm.send(new ListEndpointConfigsCommand({}))).EndpointConfigs?.length,
    };
    const outcome = await handleEvent(approval(packages[0]!), settings, clients);
    expect(outcome.action).toBe('unchanged');
    expect((await sm.send(new ListModelsCommand({}))).Models?.length).toBe(before.models);
    expect((await sm.send(new ListEndpointConfigsCommand({}))).EndpointConfigs?.length).toBe(before.configs);
    expect(updates).toHaveLength(0);
  });

  test('a second approved version updates the endpoint blue/green with rollback alarms', async () => {
    const arn = await registerPackage();
    const outcome = await handleEvent(approval(arn), settings, clients);
    const { endpointConfigName } = resourceNames(settings, 2);
    expect(outcome).toEqual({ action: 'updated', endpointName: 'medllama-test', endpointConfigName });
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({
      EndpointName: 'medllama-test',
      EndpointConfigName: endpointConfigName,
      DeploymentConfig: {
        BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE' } },
        AutoRollbackConfiguration: {
          Alarms: [{ AlarmName: 'medllama-test-5xx' }, { AlarmName: 'medllama-test-latency' }],
        },
      },
    });
    const config = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: endpointConfigName }));
    expect(config.ProductionVariants?.[0]?.ModelName).toBe('medllama-test-v2');
  });

  test('InService registers target-tracking autoscaling on the variant, idempotently', async () => {
    const inService: SageMakerEvent = {
      'detail-type': 'SageMaker Endpoint State Change',
      detail: { EndpointName: 'medllama-test', EndpointStatus: 'IN_SERVICE' },
    };
    for (let i = 0; i < 2; i++) {
      expect(await handleEvent(inService, settings, clients)).toEqual({
        action: 'autoscaling',
        endpointName: 'medllama-test',
        resourceId: 'endpoint/medllama-test/variant/AllTraffic',
      });
    }
    const targets = await clients.autoscaling.send(
      new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker' }),
    );
    expect(targets.ScalableTargets).toHaveLength(1);
    expect(targets.ScalableTargets?.[0]).toMatchObject({ MinCapacity: 1, MaxCapacity: 2 });
    const policies = await clients.autoscaling.send(
      new DescribeScalingPoliciesCommand({ ServiceNamespace: 'sagemaker' }),
    );
    expect(policies.ScalingPolicies?.[0]?.TargetTrackingScalingPolicyConfiguration?.TargetValue).toBe(60);
  });

  test('AWS errors surface with the call and its target', async () => {
    const failing: DeployClients = {
      ...clients,
      sagemaker: {
        send: ((command: unknown) => {
          if ((command as { constructor: { name: string } }).constructor.name === 'CreateEndpointConfigCommand') {
            const err = new Error('Account limit for endpoint configs reached');
            err.name = 'ResourceLimitExceeded';
            return Promise.reject(err);
          }
          return (clients.sagemaker.send as (c: unknown) => Promise<unknown>)(command);
        }) as SageMakerClient['send'],
      },
    };
    const arn = await registerPackage();
    await expect(handleEvent(approval(arn), settings, failing)).rejects.toThrow(
      /CreateEndpointConfig medllama-test-v3-[0-9a-f]{8} failed: ResourceLimitExceeded: Account limit/,
    );
  });
});

describe('deploy handler settings', () => {
  test('read from the environment, naming a missing variable', () => {
    expect(() => settingsFromEnv({ NAME_PREFIX: 'x' })).toThrow('environment variable ENDPOINT_NAME is not set');
    expect(() =>
      settingsFromEnv({
        NAME_PREFIX: 'p',
        ENDPOINT_NAME: 'e',
        MODEL_PACKAGE_GROUP_NAME: 'g',
        EXECUTION_ROLE_ARN: 'r',
        INSTANCE_TYPE: 'ml.g5.2xlarge',
        INITIAL_INSTANCE_COUNT: 'one',
      }),
    ).toThrow('INITIAL_INSTANCE_COUNT=one is not a whole number');
  });

  test('an ml.g5 endpoint config carries no volume KMS key (SageMaker rejects one with local NVMe storage)', async () => {
    const sent: Record<string, unknown>[] = [];
    const recording: DeployClients = {
      autoscaling: { send: (() => Promise.resolve({})) as ApplicationAutoScalingClient['send'] },
      sagemaker: {
        send: ((command: { constructor: { name: string }; input: Record<string, unknown> }) => {
          if (command.constructor.name.startsWith('Describe')) {
            const err = new Error('Could not find it');
            err.name = 'ValidationException';
            return Promise.reject(err);
          }
          sent.push({ command: command.constructor.name, ...command.input });
          return Promise.resolve({});
        }) as SageMakerClient['send'],
      },
    };
    const arn = 'arn:aws:sagemaker:us-east-1:123456789012:model-package/medllama-test/7';
    const outcome = await handleEvent(approval(arn), { ...settings, instanceType: 'ml.g5.2xlarge' }, recording);
    expect(outcome.action).toBe('created');
    expect(sent.map((c) => c.command)).toEqual([
      'CreateModelCommand',
      'CreateEndpointConfigCommand',
      'CreateEndpointCommand',
    ]);
    expect(sent[0]).toMatchObject({ ModelName: 'medllama-test-v7', Containers: [{ ModelPackageName: arn }] });
    expect(sent[1]).not.toHaveProperty('KmsKeyId');
  });

  test('volume KMS only where the instance has no local NVMe storage', () => {
    expect(supportsVolumeKms('ml.g5.2xlarge')).toBe(false);
    expect(supportsVolumeKms('ml.p4d.24xlarge')).toBe(false);
    expect(supportsVolumeKms('ml.m5.xlarge')).toBe(true);
  });

  test('a changed instance type names a new endpoint config for the same version', () => {
    const a = resourceNames(settings, 4);
    const b = resourceNames({ ...settings, instanceType: 'ml.g5.12xlarge' }, 4);
    expect(a.modelName).toBe(b.modelName);
    expect(a.endpointConfigName).not.toBe(b.endpointConfigName);
  });
});
