// The serving host matches the image (host AMI for its CUDA; tensor parallelism and KV offload for the instance type),
// the model is created as the SDK creates it (the package as PrimaryContainer), and a new version on another instance
// type deploys with autoscaling registered: the variant comes off autoscaling before the update, which SageMaker
// refuses otherwise, and goes back on when the endpoint is InService. Issue #15, items 2 and 5.
import { ApplicationAutoScalingClient, DescribeScalableTargetsCommand } from '@aws-sdk/client-application-auto-scaling';
import {
  CreateModelPackageGroupCommand,
  DescribeEndpointCommand,
  DescribeEndpointConfigCommand,
  DescribeModelCommand,
  SageMakerClient,
  UpdateEndpointCommand,
} from '@aws-sdk/client-sagemaker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type DeployClients, type DeploySettings, handleEvent, resourceNames } from '../lib/serving/deploy-handler.ts';
import { hostEnvironment, inferenceAmiFor } from '../lib/serving/host.ts';
import { loadDlcConfig } from '../pipeline-steps/images.ts';
import { instanceTypesFor } from '../pipeline-steps/instances.ts';
import { registerPackage } from './support/model-package.ts';
import { type MotoServer, startMoto } from './support/moto.ts';

const GROUP = 'medllama-host';
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const RESOURCE = 'endpoint/medllama-host/variant/AllTraffic';

describe('the serving host for the image and the instance type', () => {
  test('host AMI: the oldest whose driver runs the image’s CUDA', () => {
    expect(inferenceAmiFor(loadDlcConfig().serving.vllm.tag)).toBe('al2023-ami-sagemaker-inference-gpu-4-1'); // cu130
    expect(inferenceAmiFor(loadDlcConfig().serving.tgi.tag)).toBe('al2-ami-sagemaker-inference-gpu-3-1'); // cu124
    expect(inferenceAmiFor('2.1.0-gpu-py310-cu121-ubuntu20.04')).toBe('al2-ami-sagemaker-inference-gpu-2-1');
    expect(() => inferenceAmiFor('2.1.0-cpu-py310')).toThrow(/no -cuXYZ part/);
    expect(() => inferenceAmiFor('x-cu140-y')).toThrow(/newer than every host AMI/);
  });

  test('tensor parallelism over every GPU; the KV offload pool fits the host memory of every serving type', () => {
    expect(hostEnvironment('vllm', 'ml.g5.2xlarge')).toEqual({
      SM_VLLM_TENSOR_PARALLEL_SIZE: '1',
      HF_LMCACHE_CPU_FRACTION: '0.35', // 32 GiB: 11 GiB pinned leaves the 13.5 GB of weights and the server room
    });
    expect(hostEnvironment('vllm', 'ml.g5.12xlarge').SM_VLLM_TENSOR_PARALLEL_SIZE).toBe('4');
    expect(hostEnvironment('vllm', 'ml.p4d.24xlarge')).toMatchObject({ SM_VLLM_TENSOR_PARALLEL_SIZE: '8' });
    expect(hostEnvironment('tgi', 'ml.g5.12xlarge')).toEqual({ SM_NUM_GPUS: '4' });
    for (const type of instanceTypesFor('endpoint')) {
      const env = hostEnvironment('vllm', type);
      const memory = { 'ml.g5.2xlarge': 32, 'ml.g5.12xlarge': 192, 'ml.g6e.2xlarge': 64, 'ml.p4d.24xlarge': 1152 }[
        type
      ]!;
      const pinned = Number(env.HF_LMCACHE_CPU_FRACTION ?? 0) * memory;
      expect(memory - pinned, type).toBeGreaterThanOrEqual(13.5 + 6);
    }
    expect(() => hostEnvironment('vllm', 'ml.m5.xlarge')).toThrow(/not a GPU type/);
  });
});

/** SageMaker's update rules that matter here, over moto (which has no UpdateEndpoint). */
class Host {
  readonly updates: string[] = [];
  private serving?: string;
  constructor(
    private readonly moto: SageMakerClient,
    private readonly autoscaling: ApplicationAutoScalingClient,
  ) {}

  readonly client: Pick<SageMakerClient, 'send'> = {
    send: (async (command: { input: unknown }) => {
      if (command instanceof UpdateEndpointCommand) {
        const current = await this.moto.send(new DescribeEndpointCommand({ EndpointName: 'medllama-host' }));
        const type = async (name: string) =>
          (await this.moto.send(new DescribeEndpointConfigCommand({ EndpointConfigName: name })))
            .ProductionVariants?.[0]?.InstanceType;
        const from = await type(this.serving ?? current.EndpointConfigName!);
        const to = await type(command.input.EndpointConfigName!);
        const targets = await this.autoscaling.send(
          new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: [RESOURCE] }),
        );
        if (from !== to && (targets.ScalableTargets ?? []).length) {
          const err = new Error(
            'The variant(s) "[AllTraffic]" must not have scaling policies or scalable targets when the instance type changes.',
          );
          err.name = 'ValidationException';
          throw err;
        }
        this.updates.push(command.input.EndpointConfigName!);
        this.serving = command.input.EndpointConfigName!;
        return { EndpointArn: current.EndpointArn, $metadata: {} };
      }
      const out = await (this.moto.send as (c: unknown) => Promise<Record<string, unknown>>)(command);
      if (command instanceof DescribeEndpointCommand && this.serving)
        return { ...out, EndpointConfigName: this.serving };
      return out;
    }) as SageMakerClient['send'],
  };
}

describe('deploying with the host settings (against a moto server)', () => {
  let moto: MotoServer;
  let sm: SageMakerClient;
  let autoscaling: ApplicationAutoScalingClient;
  let clients: DeployClients;
  const base: DeploySettings = {
    accountId: ACCOUNT,
    region: REGION,
    namePrefix: 'medllama-host',
    endpointName: 'medllama-host',
    modelPackageGroupName: GROUP,
    executionRoleArn: `arn:aws:iam::${ACCOUNT}:role/medllama-endpoint`,
    instanceType: 'ml.p3.2xlarge', // moto 5.2.5's instance-type enum predates ml.g5
    initialInstanceCount: 1,
    startupHealthCheckTimeoutSeconds: 1200,
    modelDataDownloadTimeoutSeconds: 1200,
    rollbackAlarmNames: [],
    minCapacity: 1,
    maxCapacity: 2,
    targetInvocationsPerInstance: 60,
    inferenceAmiVersion: 'al2023-ami-sagemaker-inference-gpu-4-1',
    containerEnvironment: { SM_VLLM_TENSOR_PARALLEL_SIZE: '1', HF_LMCACHE_CPU_FRACTION: '0.35' },
  };
  const approval = (arn: string, version: number) => ({
    source: 'aws.sagemaker',
    account: ACCOUNT,
    region: REGION,
    'detail-type': 'SageMaker Model Package State Change',
    detail: {
      ModelPackageArn: arn,
      ModelPackageGroupName: GROUP,
      ModelPackageVersion: version,
      ModelApprovalStatus: 'Approved',
    },
  });
  const inService = {
    source: 'aws.sagemaker',
    account: ACCOUNT,
    region: REGION,
    'detail-type': 'SageMaker Endpoint State Change',
    detail: { EndpointName: 'medllama-host', EndpointStatus: 'IN_SERVICE' },
  };
  const approvedPackage = () => registerPackage(sm, GROUP);
  const scalableTargets = async () =>
    (
      await autoscaling.send(
        new DescribeScalableTargetsCommand({ ServiceNamespace: 'sagemaker', ResourceIds: [RESOURCE] }),
      )
    ).ScalableTargets ?? [];

  beforeAll(async () => {
    moto = await startMoto(REGION);
    sm = new SageMakerClient(moto.clientConfig);
    autoscaling = new ApplicationAutoScalingClient(moto.clientConfig);
    clients = { sagemaker: new Host(sm, autoscaling).client, autoscaling };
    await sm.send(new CreateModelPackageGroupCommand({ ModelPackageGroupName: GROUP }));
  });
  afterAll(async () => {
    await moto?.stop();
  });

  test('the model is the package as PrimaryContainer with the host environment; the variant names the host AMI', async () => {
    const arn = await approvedPackage();
    expect(await handleEvent(approval(arn, 1), base, clients)).toMatchObject({ action: 'created', version: 1 });
    const names = resourceNames(base, 1);
    const model = await sm.send(new DescribeModelCommand({ ModelName: names.modelName }));
    expect(model.PrimaryContainer).toMatchObject({ ModelPackageName: arn, Environment: base.containerEnvironment });
    expect(model.Containers ?? []).toEqual([]);
    const config = await sm.send(new DescribeEndpointConfigCommand({ EndpointConfigName: names.endpointConfigName }));
    expect(config.ProductionVariants?.[0]).toMatchObject({
      InstanceType: 'ml.p3.2xlarge',
      InferenceAmiVersion: 'al2023-ami-sagemaker-inference-gpu-4-1',
    });
    await handleEvent(inService, base, clients); // autoscaling registered
    expect(await scalableTargets()).toHaveLength(1);
  });

  test('a new version on another instance type deploys: off autoscaling, update, back on when InService', async () => {
    const arn = await approvedPackage();
    const bigger: DeploySettings = {
      ...base,
      instanceType: 'ml.p3.8xlarge',
      containerEnvironment: { SM_VLLM_TENSOR_PARALLEL_SIZE: '4', HF_LMCACHE_CPU_FRACTION: '0.5' },
    };
    const outcome = await handleEvent(approval(arn, 2), bigger, clients);
    expect(outcome).toMatchObject({ action: 'updated', version: 2 }); // before: ValidationException from SageMaker
    expect(await scalableTargets()).toHaveLength(0);
    const model = await sm.send(new DescribeModelCommand({ ModelName: resourceNames(bigger, 2).modelName }));
    expect(model.PrimaryContainer?.Environment).toEqual(bigger.containerEnvironment);
    expect(await handleEvent(inService, bigger, clients)).toMatchObject({
      action: 'autoscaling',
      deploy: { action: 'unchanged', version: 2 },
    });
    expect(await scalableTargets()).toHaveLength(1);
  });
});
