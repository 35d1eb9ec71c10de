import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, test } from 'vitest';
import { importSameEnvironmentTopic } from '../lib/constructs/same-environment-topic.ts';
import { DataStack } from '../lib/stacks/data-stack.ts';
import { ServingStack, type ServingStackProps } from '../lib/stacks/serving-stack.ts';
import { instanceTypesFor } from '../pipeline-steps/instances.ts';
import { nagFindings } from './support/nag.ts';
import { buildTestApp } from './support/pipeline-app.ts';

function build(overrides: Partial<ServingStackProps> = {}) {
  const app = new App();
  const data = new DataStack(app, 'Data');
  const serving: ServingStack = new ServingStack(app, 'Serving', {
    namePrefix: 'medllama-test',
    modelPackageGroupName: 'medllama-test',
    data,
    imageRegistryAccount: '763104351884',
    ...overrides,
  });
  return { app, serving, template: Template.fromStack(serving) };
}

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };

describe('ServingStack', () => {
  let built: ReturnType<typeof build>;
  beforeAll(() => {
    built = build();
  });

  test('an approval in the project group triggers the deploy Lambda', () => {
    built.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.sagemaker'],
        'detail-type': ['SageMaker Model Package State Change'],
        detail: { ModelPackageGroupName: ['medllama-test'], ModelApprovalStatus: ['Approved'] },
      },
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DeployFunction'), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 4 },
        }),
      ],
    });
  });

  test('endpoint InService/Failed notifies the topic and lets the Lambda register autoscaling', () => {
    built.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        'detail-type': ['SageMaker Endpoint State Change'],
        detail: { EndpointName: ['medllama-test'], EndpointStatus: ['IN_SERVICE', 'FAILED'] },
      },
      Targets: Match.arrayWith([
        Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DeployFunction'), 'Arn'] } }),
        Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('Notifications') } }),
      ]),
    });
  });

  test('the deploy Lambda never gets sagemaker:Create* or Update* on "*"', () => {
    const policies = built.template.findResources('AWS::IAM::Policy');
    const statements = Object.values(policies).flatMap(
      (p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
    );
    const sagemakerWrites = statements.filter((s) =>
      [s.Action].flat().some((a) => /^sagemaker:(Create|Update)/.test(a)),
    );
    expect(sagemakerWrites.length).toBeGreaterThan(0);
    for (const s of sagemakerWrites) expect(JSON.stringify(s.Resource)).not.toBe('"*"');
    const passRole = statements.find((s) => [s.Action].flat().includes('iam:PassRole'));
    expect(passRole?.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } });
  });

  test('the deploy Lambda may list the registry and tag only its endpoint; it knows its account and region', () => {
    const policies = built.template.findResources('AWS::IAM::Policy');
    const statements = Object.values(policies).flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: (Statement & { Sid?: string })[] } } }).Properties
          .PolicyDocument.Statement,
    );
    const list = statements.find((s) => s.Sid === 'ListApprovedVersions');
    // a List action with no resource-level scope: nothing else may ride on its "*"
    expect(list).toMatchObject({ Action: 'sagemaker:ListModelPackages', Resource: '*' });
    const endpoint = statements.find((s) => s.Sid === 'Endpoint');
    expect(endpoint?.Action).toEqual(expect.arrayContaining(['sagemaker:ListTags', 'sagemaker:AddTags']));
    expect(JSON.stringify(endpoint?.Resource)).toContain(':endpoint/medllama-test');
    built.template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ ACCOUNT_ID: { Ref: 'AWS::AccountId' }, REGION: { Ref: 'AWS::Region' } }),
      },
    });
  });

  test('the Lambda is configured with the endpoint settings, on the newest Node runtime', () => {
    built.template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      DeadLetterConfig: Match.anyValue(),
      Environment: {
        Variables: Match.objectLike({
          ENDPOINT_NAME: 'medllama-test',
          MODEL_PACKAGE_GROUP_NAME: 'medllama-test',
          INSTANCE_TYPE: 'ml.g5.2xlarge',
          STARTUP_HEALTH_CHECK_TIMEOUT: '1200',
          MODEL_DATA_DOWNLOAD_TIMEOUT: '1200',
          VOLUME_KMS_KEY_ARN: '',
          MIN_CAPACITY: '1',
          MAX_CAPACITY: '2',
        }),
      },
    });
  });

  test('latency and 5xx alarms on the endpoint variant notify the topic', () => {
    built.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ModelLatency',
      ExtendedStatistic: 'p90',
      Threshold: 30_000_000,
      Dimensions: Match.arrayWith([{ Name: 'EndpointName', Value: 'medllama-test' }]),
      AlarmActions: [{ Ref: Match.stringLikeRegexp('Notifications') }],
    });
    built.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Invocation5XXErrors', Threshold: 0 });
  });

  test('invocation is IAM-only: a managed policy scoped to the endpoint', () => {
    built.template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
      PolicyDocument: {
        Statement: [
          {
            Action: ['sagemaker:InvokeEndpoint', 'sagemaker:InvokeEndpointWithResponseStream'],
            Effect: 'Allow',
            Resource: { 'Fn::Join': ['', Match.arrayWith([':endpoint/medllama-test'])] },
          },
        ],
      },
    });
  });

  test('cdk-nag AwsSolutions: no unacknowledged findings', () => {
    expect(nagFindings(built.app, built.serving)).toEqual([]);
  });

  test('every accepted endpoint type has local NVMe storage, so no volume key is passed (SageMaker rejects one)', () => {
    for (const instanceType of instanceTypesFor('endpoint')) {
      const { template } = build({ instanceType });
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ VOLUME_KMS_KEY_ARN: '' }) },
      });
    }
  });

  test('the deploy Lambda gets the host AMI for the image’s CUDA and the container environment for the type', () => {
    const { template } = build({ instanceType: 'ml.g5.12xlarge' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          INFERENCE_AMI_VERSION: 'al2023-ami-sagemaker-inference-gpu-4-1',
          CONTAINER_ENVIRONMENT: JSON.stringify({ SM_VLLM_TENSOR_PARALLEL_SIZE: '4', HF_LMCACHE_CPU_FRACTION: '0.50' }),
        }),
      },
    });
    // the dead-letter queue is one EventBridge can deliver to: SQS-managed encryption, no key policy needed
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
  });

  test.each([
    [{ namePrefix: 'bad_name' }, 'namePrefix must be letters, digits and "-"'],
    [{ instanceType: 'g5.2xlarge' }, 'instanceType: got "g5.2xlarge", expected one of ml.g5.12xlarge'],
    [{ instanceType: 'ml.m5.xlarge' }, 'instanceType: got "ml.m5.xlarge", expected one of'],
    [{ minCapacity: 3, maxCapacity: 2 }, 'got min 3, initial 1, max 2'],
  ])('fails early on bad props: %j', (overrides, message) => {
    expect(() => build(overrides)).toThrow(message);
  });

  test('in the app, the endpoint-state rule sends to the pipeline topic without an environment warning', () => {
    for (const raw of [{}, { account: '123456789012', region: 'eu-west-1' }]) {
      const { app, stacks } = buildTestApp(raw);
      app.synth();
      Annotations.fromStack(stacks.serving).hasNoWarning('*', Match.stringLikeRegexp('unresolved environment'));
      Template.fromStack(stacks.serving).hasResourceProperties('AWS::Events::Rule', {
        EventPattern: Match.objectLike({ 'detail-type': ['SageMaker Endpoint State Change'] }),
        Targets: Match.arrayWith([
          Match.objectLike({
            Arn: {
              'Fn::ImportValue': 'MedLlama-dev-Pipeline-NotificationTopicArn',
            },
          }),
        ]),
      });
    }
  });

  test('a literal topic ARN from another region or account is refused', () => {
    const stack = new Stack(new App(), 'S', { env: { account: '123456789012', region: 'us-east-1' } });
    expect(() => importSameEnvironmentTopic(stack, 'A', 'arn:aws:sns:eu-west-1:123456789012:t')).toThrow(
      "the topic's region is eu-west-1, expected the stack's (us-east-1)",
    );
    expect(() => importSameEnvironmentTopic(stack, 'B', 'arn:aws:sns:us-east-1:210987654321:t')).toThrow(
      "the topic's account is 210987654321",
    );
    expect(importSameEnvironmentTopic(stack, 'C', 'arn:aws:sns:us-east-1:123456789012:t').topicName).toBe('t');
  });
});
