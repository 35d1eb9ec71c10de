// The deploy Lambda's handler against a moto server, with SageMaker's endpoint rollout (which moto lacks:
// no UpdateEndpoint, endpoints are InService at once) played by a thin layer over moto. Issue #21, item 6:
// approvals during a rollout, late and duplicate approvals, rollbacks, and spoofed events.
import {
  ApplicationAutoScalingClient,
  DescribeScalableTargetsCommand,
  DescribeScalingPoliciesCommand,
} from '@aws-sdk/client-application-auto-scaling';
import {
  CreateModelPackageGroupCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  ListEndpointConfigsCommand,
  ListModelsCommand,
  ListTagsCommand,
  SageMakerClient,
  UpdateEndpointCommand,
  UpdateModelPackageCommand,
} from '@aws-sdk/client-sagemaker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LAST_DEPLOYMENT_TAG } from '../lib/serving/deploy-converge.ts';
import {
  type DeployClients,
  type DeploySettings,
  handleEvent,
  resourceNames,
  type SageMakerEvent,
  settingsFromEnv,
  supportsVolumeKms,
} from '../lib/serving/deploy-handler.ts';
import { parseModelPackageArn } from '../lib/serving/model-package-arn.ts';
import { registerPackage } from './support/model-package.ts';
import { type MotoServer, startMoto } from './support/moto.ts';

const GROUP = 'medllama-test';
const ACCOUNT = '123456789012'; // moto's account
const REGION = 'us-east-1';
const settings: DeploySettings = {
  accountId: ACCOUNT,
  region: REGION,
  namePrefix: 'medllama-test',
  endpointName: 'medllama-test',
  modelPackageGroupName: GROUP,
  executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/medllama-endpoint`,
  // moto 5.2.5's instance-type enum predates ml.g5; ml.p3 has no local NVMe, so the volume key is sent.
  instanceType: 'ml.p3.2xlarge',
  initialInstanceCount: 1,
  startupHealthCheckTimeoutSeconds: 1200,
  modelDataDownloadTimeoutSeconds: 1200,
  volumeKmsKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/abc`,
  rollbackAlarmNames: ['medllama-test-5xx', 'medllama-test-latency'],
  minCapacity: 1,
  maxCapacity: 2,
  targetInvocationsPerInstance: 60,
  inferenceAmiVersion: 'al2023-ami-sagemaker-inference-gpu-4-1',
  containerEnvironment: {},
};

const configOf = (version: number) => resourceNames(settings, version).endpointConfigName;

function approval(
  arn: string,
  status = 'Approved',
  group = GROUP,
  extra: Partial<SageMakerEvent> = {},
): SageMakerEvent {
  return {
    'detail-type': 'SageMaker Model Package State Change',
    source: 'aws.sagemaker',
    account: ACCOUNT,
    region: REGION,
    detail: { ModelPackageGroupName: group, ModelPackageArn: arn, ModelApprovalStatus: status },
    ...extra,
  };
}

const inService: SageMakerEvent = {
  'detail-type': 'SageMaker Endpoint State Change',
  source: 'aws.sagemaker',
  account: ACCOUNT,
  region: REGION,
  detail: { EndpointName: 'medllama-test', EndpointStatus: 'IN_SERVICE' },
};

/**
 * SageMaker's side of an endpoint update, over moto: UpdateEndpoint on an InService endpoint starts a rollout
 * (Updating, still serving the old config) and is refused while one runs, as SageMaker does; the test ends it
 * with `finish()` (the new config serves) or `rollBack()` (the old one stays). DescribeEndpoint reports that.
 */
class Rollout {
  readonly updates: UpdateEndpointCommand['input'][] = [];
  private status?: string;
  private serving?: string;
  private pending?: string;

  constructor(private readonly moto: SageMakerClient) {}

  readonly client: Pick<SageMakerClient, 'send'> = {
    send: (async (command: { input: unknown }) => {
      if (command instanceof UpdateEndpointCommand) {
        if (this.status && this.status !== 'InService') {
          const err = new Error(
            `Cannot update in-progress endpoint "arn:aws:sagemaker:${REGION}:${ACCOUNT}:endpoint/x".`,
          );
          err.name = 'ValidationException';
          throw err;
        }
        this.updates.push(command.input);
        this.pending = command.input.EndpointConfigName;
        this.status = 'Updating';
        return { EndpointArn: `arn:aws:sagemaker:${REGION}:${ACCOUNT}:endpoint/medllama-test`, $metadata: {} };
      }
      const out = await (this.moto.send as (c: unknown) => Promise<Record<string, unknown>>)(command);
      if (command instanceof DescribeEndpointCommand) {
        return {
          ...out,
          ...(this.status ? { EndpointStatus: this.status } : {}),
          ...(this.serving ? { EndpointConfigName: this.serving } : {}),
        };
      }
      return out;
    }) as SageMakerClient['send'],
  };

  get endpointStatus() {
    return this.status ?? 'InService';
  }

  finish(): void {
    this.serving = this.pending;
    this.status = 'InService';
  }

  rollBack(): void {
    this.status = 'InService';
  }
}

describe('deploy handler (against a moto server)', () => {
  let moto: MotoServer;
  let sm: SageMakerClient;
  let rollout: Rollout;
  let clients: DeployClients;
  const packages: string[] = [];

  async function register(approved = true): Promise<string> {
    const arn = await registerPackage(sm, GROUP, approved);
    packages.push(arn);
    return arn;
  }
  const approve = (arn: string, status: 'Approved' | 'Rejected' = 'Approved') =>
    sm.send(new UpdateModelPackageCommand({ ModelPackageArn: arn, ModelApprovalStatus: status }));
  const counts = async () => ({
    models: (await sm.send(new ListModelsCommand({}))).Models?.length ?? 0,
    configs: (await sm.send(new ListEndpointConfigsCommand({}))).EndpointConfigs?.length ?? 0,
  });

  beforeAll(async () => {
    moto = await startMoto(REGION);
    sm = new SageMakerClient(moto.clientConfig);
    rollout = new Rollout(sm);
    clients = { sagemaker: rollout.client, autoscaling: new ApplicationAutoScalingClient(moto.clientConfig) };
    await sm.send(new CreateModelPackageGroupCommand({ ModelPackageGroupName: GROUP }));
  });
  afterAll(async () => {
    await moto?.stop();
  });

  test('a Rejected approval, another group and another event type change nothing', async () => {
    const arn = await register(false);
    expect(await handleEvent(approval(arn, 'Rejected'), settings, clients)).toEqual({
      action: 'ignored',
      reason: 'approval status is Rejected, not Approved',
    });
    expect((await handleEvent(approval(arn, 'Approved', 'other-group'), settings, clients)).action).toBe('ignored');
    expect((await handleEvent({ 'detail-type': 'Something Else', detail: {} }, settings, clients)).action).toBe(
      'ignored',
    );
    // an approval event for a version the registry does not show as approved
    expect(await handleEvent(approval(arn), settings, clients)).toEqual({
      action: 'ignored',
      reason: 'v1 is PendingManualApproval in the registry now',
    });
    expect(await counts()).toEqual({ models: 0, configs: 0 });
  });

  test('the first approval creates the model, the endpoint config and the endpoint, tagged', async () => {
    const arn = packages[0]!;
    await approve(arn);
    const outcome = await handleEvent(approval(arn), settings, clients);
    expect(outcome).toEqual({
      action: 'created',
      endpointName: 'medllama-test',
      endpointConfigName: configOf(1),
      version: 1,
    });
    const endpoint = await sm.send(new DescribeEndpointCommand({ EndpointName: 'medllama-test' }));
    expect(endpoint.EndpointConfigName).toBe(configOf(1));
    const config = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: configOf(1) }));
    expect(config.ProductionVariants?.[0]).toMatchObject({
      ModelName: 'medllama-test-v1',
      InstanceType: 'ml.p3.2xlarge',
      ContainerStartupHealthCheckTimeoutInSeconds: 1200,
      ModelDataDownloadTimeoutInSeconds: 1200,
    });
    expect(config.KmsKeyId).toBe(settings.volumeKmsKeyArn);
    const tags = await sm.send(new ListTagsCommand({ ResourceArn: endpoint.EndpointArn }));
    expect(tags.Tags).toContainEqual({ Key: LAST_DEPLOYMENT_TAG, Value: configOf(1) });
  });

  test('the same event again (EventBridge repeats events) creates nothing new', async () => {
    const before = await counts();
    const outcome = await handleEvent(approval(packages[0]!), settings, clients);
    expect(outcome).toMatchObject({ action: 'unchanged', version: 1 });
    expect(await counts()).toEqual(before);
    expect(rollout.updates).toHaveLength(0);
  });

  test('a second approved version updates the endpoint blue/green with rollback alarms', async () => {
    const arn = await register();
    const outcome = await handleEvent(approval(arn), settings, clients);
    expect(outcome).toEqual({
      action: 'updated',
      endpointName: 'medllama-test',
      endpointConfigName: configOf(2),
      version: 2,
    });
    expect(rollout.updates).toHaveLength(1);
    expect(rollout.updates[0]).toMatchObject({
      EndpointName: 'medllama-test',
      EndpointConfigName: configOf(2),
      DeploymentConfig: {
        BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { Type: 'ALL_AT_ONCE' } },
        AutoRollbackConfiguration: {
          Alarms: [{ AlarmName: 'medllama-test-5xx' }, { AlarmName: 'medllama-test-latency' }],
        },
      },
    });
    const config = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: configOf(2) }));
    expect(config.ProductionVariants?.[0]?.ModelName).toBe('medllama-test-v2');
    expect(rollout.endpointStatus).toBe('Updating');
  });

  test('approving v3 while v2 is rolling out is deferred (no error, no retry), and v3 deploys on InService', async () => {
    const v3 = await register();
    const before = await counts();
    // before: UpdateEndpoint threw, the Lambda retried for minutes and the event ended in the dead-letter queue
    const outcome = await handleEvent(approval(v3), settings, clients);
    expect(outcome).toMatchObject({ action: 'deferred', endpointStatus: 'Updating', version: 3 });
    expect(rollout.updates).toHaveLength(1);
    expect(await counts()).toEqual(before); // nothing created for v3 yet
    // v2's rollout ends: the InService event registers autoscaling and deploys the newest approved version
    rollout.finish();
    const after = await handleEvent(inService, settings, clients);
    expect(after).toMatchObject({
      action: 'autoscaling',
      deploy: { action: 'updated', endpointConfigName: configOf(3), version: 3 },
    });
    expect(rollout.updates.map((u) => u.EndpointConfigName)).toEqual([configOf(2), configOf(3)]);
    rollout.finish();
    expect((await handleEvent(inService, settings, clients)) as unknown).toMatchObject({
      deploy: { action: 'unchanged', version: 3 },
    });
  });

  test('a late duplicate of v2’s approval after v3 is serving does not roll the endpoint back', async () => {
    const [, v2, v3] = packages;
    const outcome = await handleEvent(approval(v2!), settings, clients);
    expect(outcome).toMatchObject({ action: 'unchanged', endpointConfigName: configOf(3), version: 3 });
    expect(rollout.updates).toHaveLength(2);
    // v3 rejected after it went out: v2 is the newest approved version, but older than what serves
    await approve(v3!, 'Rejected');
    expect(await handleEvent(approval(v2!), settings, clients)).toEqual({
      action: 'ignored',
      reason:
        'endpoint medllama-test serves v3, newer than v2, the newest approved version; it is not rolled back automatically',
    });
    await approve(v3!);
    expect(rollout.updates).toHaveLength(2);
  });

  test('two deliveries at the same moment start one update; the other is deferred', async () => {
    const v4 = await register();
    const outcomes = await Promise.all([
      handleEvent(approval(v4), settings, clients),
      handleEvent(approval(v4), settings, clients),
    ]);
    expect(outcomes.map((o) => o.action).sort()).toEqual(['deferred', 'updated']);
    expect(rollout.updates.map((u) => u.EndpointConfigName)).toEqual([configOf(2), configOf(3), configOf(4)]);
  });

  test('a rolled-back version is not started again by the InService event that follows (no loop)', async () => {
    rollout.rollBack(); // v4's alarms fired: the endpoint is back on v3
    const after = await handleEvent(inService, settings, clients);
    expect(after).toMatchObject({ action: 'autoscaling', deploy: { action: 'ignored' } });
    expect((after as { deploy: { reason: string } }).deploy.reason).toMatch(
      /an update to medllama-test-v4-[0-9a-f]{8} was started before .* register and approve a new version/,
    );
    expect((await handleEvent(approval(packages[3]!), settings, clients)).action).toBe('ignored'); // v4 again
    expect(rollout.updates).toHaveLength(3);
    // a new version goes out
    const v5 = await register();
    expect(await handleEvent(approval(v5), settings, clients)).toMatchObject({ action: 'updated', version: 5 });
    rollout.finish();
  });

  test('spoofed events are refused and deploy nothing', async () => {
    const v6 = await register(false); // registered, not approved
    const version = parseModelPackageArn(v6)!.version;
    const before = { ...(await counts()), updates: rollout.updates.length };
    const other = (arn: string, pattern: RegExp) => [approval(arn), pattern] as const;
    const cases: Array<readonly [SageMakerEvent, RegExp]> = [
      other(v6.replace(`:${ACCOUNT}:`, ':999999999999:'), /is in account 999999999999, not 123456789012/),
      other(v6.replace(`:${REGION}:`, ':eu-west-1:'), /is in region eu-west-1, not us-east-1/),
      other(v6.replace(`/${GROUP}/`, '/someone-else/'), /is in group someone-else, not medllama-test/),
      other(`arn:aws:sagemaker:${REGION}:${ACCOUNT}:model-package/${GROUP}`, /is not a model package version ARN/),
      other('arn:aws:s3:::bucket/model', /is not a model package version ARN/),
      [
        { ...approval(v6), detail: { ...approval(v6).detail, ModelPackageVersion: version + 10 } },
        new RegExp(`event says version ${version + 10} but .* is version ${version}`),
      ],
      [{ ...approval(v6), account: '999999999999' }, /event from account 999999999999, not 123456789012/],
      [{ ...approval(v6), region: 'eu-west-1' }, /event from region eu-west-1, not us-east-1/],
      [{ ...approval(v6), source: 'my.app' }, /event source my.app is not aws.sagemaker/],
      [{ ...inService, account: '999999999999' }, /event from account 999999999999/],
    ];
    for (const [event, reason] of cases) {
      const outcome = await handleEvent(event, settings, clients);
      expect(outcome, JSON.stringify(event)).toEqual({ action: 'refused', reason: expect.stringMatching(reason) });
    }
    // well formed, but the registry has it pending: nothing happens
    expect(await handleEvent(approval(v6), settings, clients)).toMatchObject({ action: 'ignored' });
    expect({ ...(await counts()), updates: rollout.updates.length }).toEqual(before);
  });

  test('InService registers target-tracking autoscaling on the variant, idempotently', async () => {
    for (let i = 0; i < 2; i++) {
      expect(await handleEvent(inService, settings, clients)).toMatchObject({
        action: 'autoscaling',
        endpointName: 'medllama-test',
        resourceId: 'endpoint/medllama-test/variant/AllTraffic',
        deploy: { action: 'unchanged', version: 5 },
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
    const arn = await register();
    await expect(handleEvent(approval(arn), settings, failing)).rejects.toThrow(
      /CreateEndpointConfig medllama-test-v7-[0-9a-f]{8} failed: ResourceLimitExceeded: Account limit/,
    );
  });
});

describe('deploy handler settings', () => {
  const env = {
    ACCOUNT_ID: ACCOUNT,
    REGION,
    NAME_PREFIX: 'p',
    ENDPOINT_NAME: 'e',
    MODEL_PACKAGE_GROUP_NAME: 'g',
    EXECUTION_ROLE_ARN: 'r',
    INSTANCE_TYPE: 'ml.g5.2xlarge',
  };

  test('read from the environment, naming a missing variable', () => {
    expect(() => settingsFromEnv({ NAME_PREFIX: 'x' })).toThrow('environment variable ACCOUNT_ID is not set');
    expect(() => settingsFromEnv({ ACCOUNT_ID: ACCOUNT })).toThrow('environment variable REGION is not set');
    expect(() => settingsFromEnv({ ...env, INITIAL_INSTANCE_COUNT: 'one' })).toThrow(
      'INITIAL_INSTANCE_COUNT=one is not a whole number',
    );
  });

  test('an ml.g5 endpoint config carries no volume KMS key (SageMaker rejects one with local NVMe storage)', async () => {
    const arn = `arn:aws:sagemaker:${REGION}:${ACCOUNT}:model-package/medllama-test/7`;
    const sent: Record<string, unknown>[] = [];
    const recording: DeployClients = {
      autoscaling: { send: (() => Promise.resolve({})) as ApplicationAutoScalingClient['send'] },
      sagemaker: {
        send: ((command: { constructor: { name: string }; input: Record<string, unknown> }) => {
          const name = command.constructor.name;
          if (name === 'DescribeModelPackageCommand')
            return Promise.resolve({
              ModelPackageGroupName: GROUP,
              ModelPackageVersion: 7,
              ModelApprovalStatus: 'Approved',
            });
          if (name === 'ListModelPackagesCommand')
            return Promise.resolve({ ModelPackageSummaryList: [{ ModelPackageArn: arn }] });
          if (name.startsWith('Describe')) {
            const err = new Error('Could not find it');
            err.name = 'ValidationException';
            return Promise.reject(err);
          }
          sent.push({ command: name, ...command.input });
          return Promise.resolve({});
        }) as SageMakerClient['send'],
      },
    };
    const outcome = await handleEvent(approval(arn), { ...settings, instanceType: 'ml.g5.2xlarge' }, recording);
    expect(outcome.action).toBe('created');
    expect(sent.map((c) => c.command)).toEqual([
      'CreateModelCommand',
      'CreateEndpointConfigCommand',
      'CreateEndpointCommand',
    ]);
    expect(sent[0]).toMatchObject({ ModelName: 'medllama-test-v7', PrimaryContainer: { ModelPackageName: arn } });
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

  test('model package ARNs are parsed strictly', () => {
    expect(parseModelPackageArn(`arn:aws:sagemaker:${REGION}:${ACCOUNT}:model-package/medllama-test/12`)).toEqual({
      arn: `arn:aws:sagemaker:${REGION}:${ACCOUNT}:model-package/medllama-test/12`,
      region: REGION,
      account: ACCOUNT,
      group: 'medllama-test',
      version: 12,
    });
    for (const bad of [
      `arn:aws:sagemaker:${REGION}:${ACCOUNT}:model-package/medllama-test/0`,
      `arn:aws:sagemaker:${REGION}:${ACCOUNT}:model-package/medllama-test/1/extra`,
      `arn:aws:sagemaker:${REGION}:12345:model-package/medllama-test/1`,
      `arn:aws:sagemaker:${REGION}:${ACCOUNT}:model-package-group/medllama-test`,
      ` arn:aws:sagemaker:${REGION}:${ACCOUNT}:model-package/medllama-test/1`,
    ])
      expect(parseModelPackageArn(bad), bad).toBeUndefined();
  });
});

describe('deploy handler races (fake SageMaker)', () => {
  test('two first approvals at once: the one that loses the CreateEndpoint race is deferred, not an error', async () => {
    const arn = `arn:aws:sagemaker:${REGION}:${ACCOUNT}:model-package/medllama-test/1`;
    const sent: string[] = [];
    const failure = (message: string) => Object.assign(new Error(message), { name: 'ValidationException' });
    const fake: DeployClients = {
      autoscaling: { send: (() => Promise.resolve({})) as ApplicationAutoScalingClient['send'] },
      sagemaker: {
        send: ((command: { constructor: { name: string } }) => {
          const name = command.constructor.name;
          sent.push(name);
          if (name === 'DescribeModelPackageCommand')
            return Promise.resolve({
              ModelPackageGroupName: GROUP,
              ModelPackageVersion: 1,
              ModelApprovalStatus: 'Approved',
            });
          if (name === 'ListModelPackagesCommand')
            return Promise.resolve({ ModelPackageSummaryList: [{ ModelPackageArn: arn }] });
          if (name.startsWith('Describe')) return Promise.reject(failure('Could not find it'));
          // the other delivery created all three first
          if (name === 'CreateModelCommand')
            return Promise.reject(failure('Cannot create already existing model "x".'));
          if (name === 'CreateEndpointConfigCommand')
            return Promise.reject(failure('Cannot create already existing endpoint configuration "x".'));
          if (name === 'CreateEndpointCommand')
            return Promise.reject(failure('Cannot create already existing endpoint "x".'));
          return Promise.reject(failure(`unexpected ${name}`));
        }) as SageMakerClient['send'],
      },
    };
    expect(await handleEvent(approval(arn), settings, fake)).toMatchObject({
      action: 'deferred',
      endpointStatus: 'Creating',
      version: 1,
      reason: expect.stringMatching(/another delivery is creating medllama-test/),
    });
    expect(sent).toContain('CreateEndpointCommand');
  });
});
