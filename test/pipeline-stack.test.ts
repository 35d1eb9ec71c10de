import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import { beforeAll, describe, expect, test } from 'vitest';
import { MedLlamaPipeline } from '../lib/constructs/medllama-pipeline.ts';
import { MLFLOW_ARTIFACT_PREFIX } from '../lib/constructs/mlflow-app.ts';
import { buildCodeBundle } from '../lib/private/code-bundle.ts';
import { PLACEHOLDERS, setParameterDefaults, substitutePlaceholders } from '../lib/private/definition-tokens.ts';
import { WRITE_PREFIXES } from '../lib/stacks/pipeline-stack.ts';
import { loadMetricDefinitions } from '../pipeline-steps/metrics.ts';
import { deployedDefinition, maskAssetHashes, synthApp } from './support/pipeline-app.ts';

type Statement = { Sid?: string; Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

function statements(template: Template): Statement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy'));
  return policies.flatMap(
    (p) => (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement,
  );
}
const list = <T>(v: T | T[]) => (Array.isArray(v) ? v : [v]);
/** A resource with intrinsics flattened: ImportValue → its name, other intrinsics → `<cfn>`. */
function flat(resource: unknown): string {
  if (typeof resource === 'string') return resource;
  const r = resource as Record<string, unknown>;
  if (r['Fn::Join']) return ((r['Fn::Join'] as [string, unknown[]])[1] as unknown[]).map(flat).join('');
  if (r['Fn::ImportValue']) return `import:${String(r['Fn::ImportValue'])}`;
  return '<cfn>';
}

/** Every S3 URI prefix the definition writes to (processing outputs, training output, checkpoints). */
function writtenUris(definition: { Steps: Record<string, unknown>[] }): string[] {
  const out: string[] = [];
  const firstLiteral = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const join = (v as { 'Std:Join'?: { Values: unknown[] } } | undefined)?.['Std:Join'];
    return join ? firstLiteral(join.Values[0]) : `<not a literal: ${JSON.stringify(v)}>`;
  };
  const visit = (step: Record<string, unknown>) => {
    const args = (step.Arguments ?? {}) as Record<string, Record<string, unknown>>;
    const training = (args.TrainingJobDefinition as Record<string, Record<string, unknown>> | undefined) ?? args;
    for (const o of (args.ProcessingOutputConfig?.Outputs as { S3Output: { S3Uri: unknown } }[]) ?? []) {
      out.push(firstLiteral(o.S3Output.S3Uri));
    }
    if (training.OutputDataConfig) out.push(firstLiteral(training.OutputDataConfig.S3OutputPath));
    if (training.CheckpointConfig) out.push(firstLiteral(training.CheckpointConfig.S3Uri));
    for (const nested of [
      ...((step.Arguments as { IfSteps?: [] })?.IfSteps ?? []),
      ...((step.Arguments as { ElseSteps?: [] })?.ElseSteps ?? []),
    ]) {
      visit(nested);
    }
  };
  for (const s of definition.Steps) visit(s);
  return out;
}

describe('PipelineStack (default config)', () => {
  let built: ReturnType<typeof synthApp>;
  let definition: ReturnType<typeof deployedDefinition>;
  beforeAll(() => {
    built = synthApp();
    definition = deployedDefinition(built.templates.pipeline);
  });

  test('creates the pipeline with a PascalCase PipelineDefinitionBody and the execution role', () => {
    built.templates.pipeline.hasResourceProperties('AWS::SageMaker::Pipeline', {
      PipelineName: 'medllama-dev',
      RoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('ExecutionRole'), 'Arn'] },
      PipelineDefinition: { PipelineDefinitionBody: { 'Fn::Join': ['', Match.anyValue()] } },
    });
    expect(definition.Steps.map((s) => s.Name)).toEqual([
      'Ingest',
      'Dedup',
      'Tokenize',
      'Train',
      'MergeBack',
      'Evaluate',
      'QualityGate',
    ]);
  });

  test('deploy-time values replace every placeholder; the code URI is the content-hashed bundle', () => {
    const text = JSON.stringify(definition);
    expect(text).not.toMatch(/medllama-placeholder/);
    const train = definition.Steps.find((s) => s.Name === 'Train')!;
    const hp = (train.Arguments as { HyperParameters: Record<string, string> }).HyperParameters;
    // CDK keys file assets `<hash><extname>`: the bundle is `<hash>.gz`, and every reference uses that key.
    const key = built.stacks.pipeline.code.objectKey;
    expect(key).toMatch(/^[0-9a-f]{64}\.gz$/);
    expect(hp.sagemaker_submit_directory).toBe(`"s3://<cfn>/${key}"`);
    const ingest = definition.Steps.find((s) => s.Name === 'Ingest')!.Arguments as {
      AppSpecification: { ContainerEntrypoint: string[] };
      ProcessingInputs: { InputName: string; S3Input: { S3Uri: string } }[];
    };
    expect(ingest.ProcessingInputs.find((i) => i.InputName === 'code')!.S3Input.S3Uri).toBe(`s3://<cfn>/${key}`);
    expect(ingest.AppSpecification.ContainerEntrypoint.join(' ')).toContain(
      `tar -xzf /opt/ml/processing/input/code/${key} `,
    );
  });

  test('every entry script the definition runs is in the code bundle', () => {
    const text = JSON.stringify(definition);
    const scripts = [...new Set([...text.matchAll(/exec python3 ([a-z_]+\.py)/g)].map((m) => m[1]!))].sort();
    const hp = (
      definition.Steps.find((s) => s.Name === 'Train')!.Arguments as { HyperParameters: Record<string, string> }
    ).HyperParameters;
    scripts.push(JSON.parse(hp.sagemaker_program!) as string);
    expect(scripts).toEqual(['dedup.py', 'evaluate.py', 'ingest.py', 'merge_back.py', 'tokenization.py', 'train.py']);
    for (const script of scripts) expect(built.stacks.pipeline.code.files).toContain(script);
  });

  test('the deploy config sets the Parameters’ defaults', () => {
    const byName = Object.fromEntries(definition.Parameters.map((p) => [p.Name, p.DefaultValue]));
    expect(byName).toMatchObject({
      TrainInstanceType: 'ml.g5.12xlarge',
      IngestInstanceCount: 1,
      // unset thresholds keep the builder's defaults (docs/evaluation.md)
      MinPerplexityImprovement: 0.05,
      MinPubMedQADelta: -0.04,
      MaxGeneralRegression: 0.03,
      MaxArticles: 0,
      ModelApprovalStatus: 'PendingManualApproval',
    });
  });

  test('thresholds given in the deploy config override those defaults', () => {
    const custom = synthApp({ thresholds: { minPerplexityImprovement: 0.1, pubmedqaTolerance: 0.01 } });
    const parameters = Object.fromEntries(
      (custom.stacks.pipeline.definition.Parameters ?? []).map((p) => [p.Name, p.DefaultValue]),
    );
    expect(parameters).toMatchObject({
      MinPerplexityImprovement: 0.1,
      MinPubMedQADelta: -0.01,
      MaxGeneralRegression: 0.03,
    });
    // A superiority margin is a positive threshold on the same lower bound.
    const superiority = synthApp({ thresholds: { pubmedqaMinGain: 0.02 } });
    const minDelta = (superiority.stacks.pipeline.definition.Parameters ?? []).find(
      (p) => p.Name === 'MinPubMedQADelta',
    );
    expect(minDelta?.DefaultValue).toBe(0.02);
  });

  test('registers into its own model package group', () => {
    built.templates.pipeline.hasResourceProperties('AWS::SageMaker::ModelPackageGroup', {
      ModelPackageGroupName: 'medllama-dev',
    });
    const register = JSON.stringify(definition).match(/"ModelPackageGroupName":"([^"]+)"/);
    expect(register?.[1]).toBe('medllama-dev');
  });

  test('the role is assumed by SageMaker only and passes itself only to SageMaker', () => {
    built.templates.pipeline.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'sagemaker.amazonaws.com' } }],
      },
    });
    const pass = statements(built.templates.pipeline).filter((s) => list(s.Action).includes('iam:PassRole'));
    expect(pass).toHaveLength(1);
    expect(pass[0]!.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } });
    const resource = pass[0]!.Resource as { 'Fn::GetAtt': [string, string] };
    expect(resource['Fn::GetAtt'][0]).toMatch(/^ExecutionRole/);
    expect(resource['Fn::GetAtt'][1]).toBe('Arn');
  });

  test('no service-wide actions; SageMaker actions only on pipeline-generated jobs, the group and experiments', () => {
    const all = statements(built.templates.pipeline);
    for (const s of all) for (const a of list(s.Action)) expect(a).not.toMatch(/(^\*$|:\*$)/);
    // (MLflow statements: their own test below, 'MLflow App …')
    const sagemaker = all.filter(
      (s) => list(s.Action).some((a) => a.startsWith('sagemaker:')) && !s.Sid?.startsWith('Mlflow'),
    );
    const resources = sagemaker.flatMap((s) => list(s.Resource).map(flat));
    for (const r of resources) {
      expect(r).toMatch(
        /:(processing-job\/pipelines-\*|training-job\/pipelines-\*|model-package-group\/medllama-dev|model-package\/medllama-dev\/\*|experiment\/medllama-dev|experiment-trial\/\*|experiment-trial-component\/\*)$/,
      );
    }
  });

  test('S3 writes only under the prefixes the definition writes to, and the definition writes nowhere else', () => {
    const writes = statements(built.templates.pipeline).filter((s) => list(s.Action).includes('s3:PutObject'));
    const resources = writes.flatMap((s) => list(s.Resource).map(flat)).sort();
    expect(resources).toEqual(
      [
        ...WRITE_PREFIXES.data.map((p) => `import:MedLlama-dev-Data-DataBucketArn/${p}*`),
        ...WRITE_PREFIXES.artifacts.map((p) => `import:MedLlama-dev-Data-ArtifactBucketArn/${p}*`),
        // MLflow's artifact store: the jobs upload run artifacts to it, and the App reads and writes it.
        `import:MedLlama-dev-Data-ArtifactBucketArn/${MLFLOW_ARTIFACT_PREFIX}*`,
        `import:MedLlama-dev-Data-ArtifactBucketArn/${MLFLOW_ARTIFACT_PREFIX}*`,
      ].sort(),
    );
    const uris = writtenUris(definition);
    expect(uris.length).toBeGreaterThanOrEqual(5);
    for (const uri of uris) {
      const m = /^s3:\/\/<cfn>\/(.*)$/.exec(uri);
      expect(m, uri).not.toBeNull();
      const key = `${m![1]}/`;
      expect(
        [...WRITE_PREFIXES.data, ...WRITE_PREFIXES.artifacts].some((p) => key.startsWith(p)),
        uri,
      ).toBe(true);
    }
  });

  test('MLflow App: serverless, artifacts under mlflow/ of the artifact bucket, its own least-privilege role', () => {
    const t = built.templates.pipeline;
    const apps = t.findResources('AWS::SageMaker::MlflowApp');
    expect(Object.keys(apps)).toHaveLength(1);
    const [appId, app] = Object.entries(apps)[0]!;
    const props = app.Properties as Record<string, unknown>;
    expect(props.Name).toBe('medllama-dev');
    expect(JSON.stringify(props.ArtifactStoreUri)).toContain(`/${MLFLOW_ARTIFACT_PREFIX}`);
    expect(props.ModelRegistrationMode).toBe('AutoModelRegistrationDisabled');
    const roleId = (props.RoleArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
    t.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'sagemaker.amazonaws.com' } })],
      },
    });
    const policy = Object.values(t.findResources('AWS::IAM::Policy')).find((p) =>
      JSON.stringify(p.Properties.Roles).includes(roleId),
    )!;
    const own = (policy.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement;
    expect(own.flatMap((s) => list(s.Action)).sort()).toEqual(
      [
        's3:AbortMultipartUpload',
        's3:DeleteObject',
        's3:GetBucketLocation',
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
        'kms:Decrypt',
        'kms:DescribeKey',
        'kms:GenerateDataKey',
      ].sort(),
    );
    const objects = own.find((s) => s.Sid === 'ArtifactStoreObjects')!;
    expect(list(objects.Resource).map(flat)).toEqual([
      `import:MedLlama-dev-Data-ArtifactBucketArn/${MLFLOW_ARTIFACT_PREFIX}*`,
    ]);

    // The execution role: MLflow's REST actions for one run, and Describe, on this App only.
    const execution = statements(t).filter((s) => s.Sid === 'MlflowTracking' || s.Sid === 'MlflowDescribe');
    expect(execution).toHaveLength(2);
    for (const s of execution) expect(s.Resource).toEqual({ 'Fn::GetAtt': [appId, 'Arn'] });
    expect(execution.flatMap((s) => list(s.Action)).every((a) => /^sagemaker(-mlflow)?:[A-Za-z]+$/.test(a))).toBe(true);
    expect(list(execution.find((s) => s.Sid === 'MlflowDescribe')!.Action)).toEqual(['sagemaker:DescribeMlflowApp']);
  });

  test("Train's MlflowConfig and the steps' tracking environment name the App the stack creates", () => {
    const train = definition.Steps.find((s) => s.Name === 'Train')!.Arguments as Record<string, unknown>;
    const config = train.MlflowConfig as Record<string, unknown>;
    expect(config.MlflowExperimentName).toEqual({ Get: 'Execution.PipelineName' });
    expect(config.MlflowRunName).toEqual({ Get: 'Execution.PipelineExecutionId' });
    expect(String(config.MlflowResourceArn)).not.toMatch(/placeholder/);
    for (const name of ['Ingest', 'Dedup', 'Tokenize', 'Train', 'Evaluate']) {
      const args = definition.Steps.find((s) => s.Name === name)!.Arguments as {
        Environment?: Record<string, unknown>;
      };
      expect(args.Environment?.MLFLOW_TRACKING_URI, name).toEqual(config.MlflowResourceArn);
    }
  });

  test('KMS: the project key without wildcard actions; images only from the DLC account', () => {
    const all = statements(built.templates.pipeline);
    const kms = all.filter((s) => list(s.Action).some((a) => a.startsWith('kms:')));
    expect(kms.flatMap((s) => list(s.Resource).map(flat))).toEqual([
      'import:MedLlama-dev-Data-KeyArn',
      'import:MedLlama-dev-Data-KeyArn',
      'import:MedLlama-dev-Data-KeyArn', // the MLflow App's role (its artifact store)
    ]);
    const pull = all.find((s) => list(s.Action).includes('ecr:BatchGetImage'))!;
    expect(pull.Resource).toBe('arn:aws:ecr:us-east-1:763104351884:repository/huggingface-*');
  });

  test('execution outcomes go to a KMS-encrypted, TLS-only SNS topic', () => {
    const t = built.templates.pipeline;
    t.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.sagemaker'],
        'detail-type': ['SageMaker Model Building Pipeline Execution Status Change'],
        detail: { currentPipelineExecutionStatus: ['Failed', 'Succeeded'], pipelineArn: [Match.anyValue()] },
      },
      Targets: [Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('NotificationsTopic') } })],
    });
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    t.resourceCountIs('AWS::SNS::Subscription', 0);
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  test('alarms and EventBridge can really publish to the encrypted topic (topic and key policies, scoped)', () => {
    const t = built.templates.pipeline;
    const statements = (type: string, policy: string) =>
      Object.values(t.findResources(type)).flatMap(
        (r) => (r.Properties as Record<string, { Statement: Record<string, unknown>[] }>)[policy]!.Statement,
      );
    const topicGrants = statements('AWS::SNS::TopicPolicy', 'PolicyDocument');
    const cloudwatch = topicGrants.find((s) => JSON.stringify(s.Principal).includes('cloudwatch.amazonaws.com'));
    expect(cloudwatch).toMatchObject({ Effect: 'Allow', Action: 'sns:Publish' });
    expect(JSON.stringify(cloudwatch!.Condition)).toContain('aws:SourceAccount');
    expect(JSON.stringify(cloudwatch!.Condition)).toMatch(/cloudwatch:.*:alarm:\*/);
    expect(topicGrants.some((s) => JSON.stringify(s.Principal).includes('events.amazonaws.com'))).toBe(true);
    // the notifications key: both services may encrypt and decrypt, from this account only
    const keyGrants = statements('AWS::KMS::Key', 'KeyPolicy');
    for (const service of ['events.amazonaws.com', 'cloudwatch.amazonaws.com']) {
      const grant = keyGrants.find((s) => JSON.stringify(s.Principal).includes(service));
      expect(grant, service).toMatchObject({ Action: ['kms:Decrypt', 'kms:GenerateDataKey'] });
      expect(JSON.stringify(grant!.Condition), service).toContain('aws:SourceAccount');
    }
  });

  test('dashboard: training loss and tokens/s by SEARCH, executions, endpoint; alarms notify the topic', () => {
    const t = built.templates.pipeline;
    const dashboards = Object.values(t.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]!.Properties);
    const published = loadMetricDefinitions().map((m) => m.Name);
    for (const metric of ['train:loss', 'validation:loss', 'train:tokens_per_second']) {
      expect(body).toContain(`SEARCH('{/aws/sagemaker/TrainingJobs,Host} MetricName=\\\\\\"${metric}\\\\\\"'`);
      expect(published).toContain(metric); // each graphed metric is one the Train step publishes
    }
    expect(body).toContain('AWS/Sagemaker/ModelBuildingPipeline');
    expect(body).toContain('Invocation5XXErrors');
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Sagemaker/ModelBuildingPipeline',
      MetricName: 'ExecutionFailed',
      Dimensions: [{ Name: 'PipelineName', Value: 'medllama-dev' }],
      AlarmActions: [{ Ref: Match.stringLikeRegexp('NotificationsTopic') }],
    });
  });

  test('outputs name the pipeline, buckets and console URLs', () => {
    const outputs = built.templates.pipeline.findOutputs('*');
    expect(Object.keys(outputs).sort()).toEqual(
      [
        'ArtifactBucketName',
        'CodeUri',
        'DashboardUrl',
        'DataBucketConsoleUrl',
        'DataBucketName',
        'ExecutionRoleArn',
        'ModelPackageGroupName',
        'NotificationTopicArn',
        'PipelineArn',
        'PipelineName',
        'PipelinesConsoleUrl',
      ].sort(),
    );
    expect(outputs.DashboardUrl!.Value).toBe(
      'https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=medllama-dev-dashboard',
    );
  });

  test('synthesizing twice gives the identical template', () => {
    const again = synthApp();
    expect(again.templates.pipeline.toJSON()).toEqual(built.templates.pipeline.toJSON());
  });

  test('stack snapshot (asset hashes masked)', () => {
    expect(maskAssetHashes(built.templates.pipeline.toJSON())).toMatchSnapshot();
  });
});

describe('PipelineStack (config variants)', () => {
  test('JumpStart base model: the gated key is read only by StageBaseModel, whose folder feeds the later steps', () => {
    const { templates } = synthApp({
      region: 'us-west-2',
      baseModel: { source: 'jumpstart', acceptLlama2Eula: true },
      notificationEmail: 'ml@example.org',
    });
    const gated =
      'arn:aws:s3:::jumpstart-private-cache-prod-us-west-2/meta-training/train-meta-textgeneration-llama-2-7b.tar.gz';
    const reads = statements(templates.pipeline).filter((s) => list(s.Action).includes('s3:GetObject'));
    const readResources = reads.flatMap((s) => list(s.Resource).map(flat));
    expect(readResources).toContain(gated);
    // The one object, nothing else of the private cache; and no hand-staged tokenizer location any more.
    expect(readResources.filter((r) => r.includes('jumpstart-private-cache'))).toEqual([gated]);
    const def = deployedDefinition(templates.pipeline);
    expect(def.Steps.map((s) => s.Name)).toEqual([
      'StageBaseModel',
      'Ingest',
      'Dedup',
      'Tokenize',
      'Train',
      'MergeBack',
      'Evaluate',
      'QualityGate',
    ]);
    const stage = def.Steps.find((s) => s.Name === 'StageBaseModel')!;
    expect(JSON.stringify(stage)).toContain('"AcceptEula":true');
    expect(JSON.stringify(stage)).toContain(
      's3://jumpstart-private-cache-prod-us-west-2/meta-training/train-meta-textgeneration-llama-2-7b.tar.gz',
    );
    const rest = JSON.stringify(def.Steps.filter((s) => s.Name !== 'StageBaseModel'));
    expect(rest).not.toContain('jumpstart-private-cache');
    expect(rest).not.toContain('AcceptEula');
    expect(rest).not.toContain('tokenizer/llama-2-7b');
    for (const name of ['Tokenize', 'Train', 'MergeBack', 'Evaluate']) {
      expect(JSON.stringify(def.Steps.find((s) => s.Name === name)), name).toContain(
        'Steps.StageBaseModel.ModelArtifacts.S3ModelArtifacts',
      );
    }
    // Its output goes under a write prefix of the role like every other step's.
    for (const uri of writtenUris(def)) {
      const key = `${/^s3:\/\/<cfn>\/(.*)$/.exec(uri)![1]}/`;
      expect(
        WRITE_PREFIXES.artifacts.some((p) => key.startsWith(p)) || WRITE_PREFIXES.data.some((p) => key.startsWith(p)),
        uri,
      ).toBe(true);
    }
    templates.pipeline.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ml@example.org',
    });
  });

  test('JumpStart with a tokenizer override: Tokenize reads it, and the role may read it', () => {
    const { templates } = synthApp({
      baseModel: {
        source: 'jumpstart',
        acceptLlama2Eula: true,
        tokenizerS3Uri: 's3://shared-tokenizers/llama-2/tokenizer.json',
      },
    });
    const reads = statements(templates.pipeline).filter((s) => list(s.Action).includes('s3:GetObject'));
    expect(reads.flatMap((s) => list(s.Resource).map(flat))).toEqual(
      expect.arrayContaining([
        'arn:aws:s3:::shared-tokenizers/llama-2/tokenizer.json',
        'arn:aws:s3:::shared-tokenizers/llama-2/tokenizer.json/*',
      ]),
    );
    const def = deployedDefinition(templates.pipeline);
    const tokenize = JSON.stringify(def.Steps.find((s) => s.Name === 'Tokenize'));
    expect(tokenize).toContain('s3://shared-tokenizers/llama-2/tokenizer.json');
    expect(tokenize).not.toContain('StageBaseModel');
  });

  test('PMC Open Data input, spot training, tuning, TGI serving, custom instance defaults', () => {
    const { templates } = synthApp({
      data: { usePmcOpenData: true, maxArticles: 5000 },
      spot: true,
      tuning: true,
      servingContainer: 'tgi',
      instances: { train: { type: 'ml.p4d.24xlarge', count: 2 } },
    });
    const all = statements(templates.pipeline);
    expect(all.flatMap((s) => list(s.Resource).map(flat))).toContain('arn:aws:s3:::pmc-oa-opendata/*');
    expect(all.some((s) => list(s.Action).includes('sagemaker:CreateHyperParameterTuningJob'))).toBe(true);
    const def = deployedDefinition(templates.pipeline);
    const params = Object.fromEntries(def.Parameters.map((p) => [p.Name, p.DefaultValue]));
    expect(params).toMatchObject({
      InputDataUri: 's3://pmc-oa-opendata/',
      MaxArticles: 5000,
      TrainInstanceType: 'ml.p4d.24xlarge',
      TrainInstanceCount: 2,
    });
    const train = def.Steps.find((s) => s.Name === 'Train')!;
    expect(train.Type).toBe('Tuning');
    expect(JSON.stringify(train)).toContain('"EnableManagedSpotTraining":true');
    expect(JSON.stringify(def)).toContain('huggingface-pytorch-tgi-inference');
  });

  test('fails synth with a readable error for a region without a DLC registry', () => {
    expect(() => synthApp({ region: 'xx-nowhere-1' })).toThrow(
      /no Hugging Face DLC registry for region "xx-nowhere-1"/,
    );
  });
});

describe('MedLlamaPipeline construct', () => {
  const role = (stack: Stack) =>
    new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com') });

  test('implements IPipeline: grants StartPipelineExecution and works as a scheduler target', () => {
    const stack = new Stack(new App(), 'S', { env: { region: 'us-east-1', account: '111122223333' } });
    const pipeline = new MedLlamaPipeline(stack, 'P', {
      pipelineName: 'demo-pipeline',
      definitionBody: '{"Version":"2020-12-01","Steps":[]}',
      role: role(stack),
      maxParallelExecutionSteps: 4,
    });
    const user = new iam.User(stack, 'U');
    pipeline.grantStartPipelineExecution(user);
    new scheduler.Schedule(stack, 'Weekly', {
      schedule: scheduler.ScheduleExpression.expression('rate(7 days)'),
      target: new schedulerTargets.SageMakerStartPipelineExecution(pipeline, {}),
    });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::SageMaker::Pipeline', {
      PipelineDefinition: { PipelineDefinitionBody: '{"Version":"2020-12-01","Steps":[]}' },
      ParallelismConfiguration: { MaxParallelExecutionSteps: 4 },
    });
    const grants = statements(t).filter((s) => list(s.Action).includes('sagemaker:StartPipelineExecution'));
    expect(grants.map((s) => flat(s.Resource))).toEqual([
      'arn:<cfn>:sagemaker:us-east-1:111122223333:pipeline/<cfn>',
      'arn:<cfn>:sagemaker:us-east-1:111122223333:pipeline/<cfn>',
    ]);
  });

  test('a large token-free definition goes to S3 (PipelineDefinitionS3Location)', () => {
    const stack = new Stack(new App(), 'S');
    const big = JSON.stringify({ Version: '2020-12-01', Metadata: { pad: 'x'.repeat(2000) }, Steps: [] });
    const p = new MedLlamaPipeline(stack, 'P', {
      pipelineName: 'big',
      definitionBody: big,
      role: role(stack),
      inlineLimit: 1000,
    });
    expect(p.definitionLocation).toBe('s3');
    Template.fromStack(stack).hasResourceProperties('AWS::SageMaker::Pipeline', {
      PipelineDefinition: {
        PipelineDefinitionS3Location: { Bucket: Match.anyValue(), Key: Match.stringLikeRegexp('\\.json$') },
      },
    });
  });

  test('fails for a large definition with tokens, and for a bad name', () => {
    const stack = new Stack(new App(), 'S');
    const r = role(stack);
    expect(
      () =>
        new MedLlamaPipeline(stack, 'P', {
          pipelineName: 'big',
          definitionBody: `{"RoleArn":"${r.roleArn}","pad":"${'x'.repeat(2000)}"}`,
          role: r,
          inlineLimit: 1000,
        }),
    ).toThrow(/over the inline limit of 1000\) and contains CDK tokens/);
    expect(() => new MedLlamaPipeline(stack, 'Q', { pipelineName: 'Bad_Name', definitionBody: '{}', role: r })).toThrow(
      /pipelineName must be lowercase letters, digits and "-".*got "Bad_Name"/,
    );
  });
});

describe('definition placeholders', () => {
  test('every placeholder is replaced; a stray one fails', () => {
    const json = JSON.stringify(Object.values(PLACEHOLDERS));
    const out = substitutePlaceholders(json, {
      codeKey: 'Y',
      roleArn: 'R',
      dataBucket: 'D',
      artifactBucket: 'A',
      kmsKeyArn: 'K',
      codeBucket: 'C',
      mlflowArn: 'M',
    });
    expect(JSON.parse(out)).toEqual(['Y', 'R', 'D', 'A', 'K', 'C', 'M']);
    expect(() =>
      substitutePlaceholders('"medllama-placeholder-other"', {
        codeKey: '',
        roleArn: '',
        dataBucket: '',
        artifactBucket: '',
        kmsKeyArn: '',
        codeBucket: '',
        mlflowArn: '',
      }),
    ).toThrow(/unknown placeholder "medllama-placeholder-other"/);
  });

  test('parameter defaults are type-checked against the definition', () => {
    const def = {
      Parameters: [
        { Name: 'N', Type: 'Integer' as const, DefaultValue: 1 },
        { Name: 'S', Type: 'String' as const, EnumValues: ['a', 'b'] },
      ],
    };
    setParameterDefaults(def, { N: 3, S: 'b' });
    expect(def.Parameters.map((p) => p.DefaultValue)).toEqual([3, 'b']);
    expect(() => setParameterDefaults(def, { N: 1.5 })).toThrow(/Parameter N: default 1.5 is not a Integer/);
    expect(() => setParameterDefaults(def, { S: 'c' })).toThrow(/not one of a, b/);
    expect(() => setParameterDefaults(def, { Missing: 1 })).toThrow(/no Parameter "Missing" \(known: N, S\)/);
  });
});

describe('code bundle', () => {
  function fixtureRoot(): string {
    const root = mkdtempSync(join(tmpdir(), 'medllama-bundle-'));
    mkdirSync(join(root, 'medllama', '__pycache__'), { recursive: true });
    mkdirSync(join(root, 'medllama', 'schemas'), { recursive: true });
    mkdirSync(join(root, 'tests'), { recursive: true });
    writeFileSync(join(root, 'medllama', '__init__.py'), '"""pkg"""\n');
    writeFileSync(join(root, 'medllama', 'schemas', 'train.schema.json'), '{}\n');
    writeFileSync(join(root, 'medllama', '__pycache__', 'x.cpython-311.pyc'), 'junk');
    writeFileSync(join(root, 'medllama', 'stale.pyc'), 'junk');
    mkdirSync(join(root, 'medllama', '_speedups'), { recursive: true });
    writeFileSync(join(root, 'medllama', '_speedups', 'module.c'), '/* source */\n');
    writeFileSync(join(root, 'medllama', '_speedups.cpython-311-x86_64-linux-gnu.so'), 'built here');
    writeFileSync(join(root, 'tests', 'test_x.py'), 'def test(): pass\n');
    writeFileSync(join(root, 'train.py'), 'print(1)\n');
    writeFileSync(join(root, 'requirements.txt'), 'peft==0.18.1\n');
    writeFileSync(join(root, 'requirements-dev.txt'), 'pytest\n');
    writeFileSync(join(root, 'pyproject.toml'), '[project]\n');
    return root;
  }

  /** Members of an uncompressed ustar archive: name, mode, uid, gid, mtime. */
  function members(tar: Buffer) {
    const out: { name: string; mode: number; uid: number; gid: number; mtime: number }[] = [];
    for (let off = 0; off + 512 <= tar.length; ) {
      const h = tar.subarray(off, off + 512);
      if (h.every((b) => b === 0)) break;
      const str = (a: number, n: number) =>
        h
          .subarray(a, a + n)
          .toString('utf8')
          .replace(/\0.*$/s, '');
      const num = (a: number, n: number) => Number.parseInt(str(a, n).trim() || '0', 8);
      const prefix = str(345, 155);
      const name = prefix ? `${prefix}/${str(0, 100)}` : str(0, 100);
      const size = num(124, 12);
      out.push({ name, mode: num(100, 8), uid: num(108, 8), gid: num(116, 8), mtime: num(136, 12) });
      off += 512 + Math.ceil(size / 512) * 512;
    }
    return out;
  }

  test('holds the package, entry scripts and requirements.txt only; fixed metadata; stable hash', () => {
    const root = fixtureRoot();
    const a = buildCodeBundle({ root });
    const b = buildCodeBundle({ root });
    expect(a.bytes.equals(b.bytes)).toBe(true);
    expect(a.hash).toBe(b.hash);
    expect(a.bytes.readUInt32LE(4)).toBe(0); // gzip mtime
    expect(a.bytes[9]).toBe(0xff); // gzip OS: unknown
    const entries = members(gunzipSync(a.bytes));
    expect(entries.map((m) => m.name)).toEqual([
      'requirements.txt',
      'train.py',
      'medllama/',
      'medllama/__init__.py',
      'medllama/_speedups/',
      'medllama/_speedups/module.c',
      'medllama/schemas/',
      'medllama/schemas/train.schema.json',
    ]);
    for (const m of entries) {
      expect([m.uid, m.gid, m.mtime]).toEqual([0, 0, 0]);
      expect(m.mode).toBe(m.name.endsWith('/') ? 0o755 : 0o644);
    }
    writeFileSync(join(root, 'train.py'), 'print(2)\n');
    expect(buildCodeBundle({ root }).hash).not.toBe(a.hash);
  });

  test('the real containers/ bundle carries every entry script the definition runs', () => {
    const bundle = buildCodeBundle({ root: join(import.meta.dirname, '..', 'containers') });
    expect(bundle.files).toContain('medllama/__init__.py');
    expect(bundle.files).toContain('medllama/_speedups/module.c'); // built in the container, never carried built
    expect(bundle.files.some((f) => f.endsWith('.so'))).toBe(false);
    expect(bundle.files.some((f) => f.startsWith('tests/') || f.includes('__pycache__'))).toBe(false);
  });
});
