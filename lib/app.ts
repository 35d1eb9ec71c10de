import { type App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { MedLlamaConfig } from './config.ts';
import { DataStack } from './stacks/data-stack.ts';
import { PipelineStack, pipelineNames } from './stacks/pipeline-stack.ts';
import { ServingStack } from './stacks/serving-stack.ts';

export interface MedLlamaStacks {
  readonly data: DataStack;
  readonly pipeline: PipelineStack;
  readonly serving: ServingStack;
}

/** Adds every MedLlama stack to `app` for a validated config; `bin/app.ts` and the tests both use this. */
export function buildApp(app: App, config: MedLlamaConfig): MedLlamaStacks {
  const env = config.account ? { account: config.account, region: config.region } : { region: config.region };
  // Stack-level tags, given explicitly: with @aws-cdk/core:explicitStackTags (cdk.json) `Tags.of(app)` below tags
  // the resources in each template but no longer the stacks themselves.
  const tags = { project: 'medllama', stage: config.stage };
  const prefix = `MedLlama-${config.stage}`;
  const data = new DataStack(app, `${prefix}-Data`, {
    env,
    tags,
    description: 'MedLlama: KMS key and the data, artifact and access-log buckets',
    retainData: config.retainData,
    noncurrentVersionDays: config.noncurrentVersionDays,
    accessLogDays: config.accessLogDays,
  });
  const pipeline = new PipelineStack(app, `${prefix}-Pipeline`, {
    env,
    tags,
    description: 'MedLlama: the SageMaker Pipeline, its role, model package group, notifications and dashboard',
    config,
    data,
  });
  const serving = new ServingStack(app, `${prefix}-Serving`, {
    env,
    tags,
    description: 'MedLlama: approved model package → real-time endpoint (deploy Lambda, autoscaling, alarms)',
    namePrefix: `medllama-${config.stage}`,
    modelPackageGroupName: pipelineNames(config.stage).modelPackageGroupName,
    data,
    imageRegistryAccount: pipeline.imageRegistryAccount,
    notificationTopicArn: pipeline.importedNotificationTopicArn,
    instanceType: config.serving.instanceType,
    servingContainer: config.servingContainer,
    initialInstanceCount: config.serving.initialInstanceCount,
    minCapacity: config.serving.minCapacity,
    maxCapacity: config.serving.maxCapacity,
  });
  serving.addStackDependency(pipeline, 'publishes to the notification topic');
  for (const [key, value] of Object.entries(tags)) Tags.of(app).add(key, value);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { data, pipeline, serving };
}
