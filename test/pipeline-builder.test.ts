import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import {
  defineStepConfig,
  renderContainerArguments,
  renderHyperParameters,
  StepConfigError,
} from '../pipeline-steps/configs/define.ts';
import {
  PipelineDefinition,
  STAGE_BASE_MODEL_INSTANCE_TYPE,
  STAGE_BASE_MODEL_VOLUME_GB,
  stageBaseModelStep,
} from '../pipeline-steps/definition.ts';
import {
  asString,
  ExecutionVariables,
  Get,
  Join,
  ParameterBoolean,
  ParameterFloat,
  ParameterInteger,
  ParameterString,
  PropertyFile,
} from '../pipeline-steps/expressions.ts';
import { imageUri, loadDlcConfig } from '../pipeline-steps/images.ts';
import { loadMetricDefinitions } from '../pipeline-steps/metrics.ts';
import { createMedLlamaParameters } from '../pipeline-steps/parameters.ts';
import { ConditionStep, GreaterThanOrEqualTo, InCondition, NotCondition } from '../pipeline-steps/steps/condition.ts';
import { FailStep } from '../pipeline-steps/steps/fail.ts';
import { ProcessingStep } from '../pipeline-steps/steps/processing.ts';
import { RegisterModelStep } from '../pipeline-steps/steps/register.ts';
import { CacheConfig, RetryPolicy } from '../pipeline-steps/steps/step.ts';
import { TrainingStep } from '../pipeline-steps/steps/training.ts';
import { formatIssues, validateDefinition } from '../pipeline-steps/validate.ts';

const ROLE = 'arn:aws:iam::111122223333:role/R';

function processing(name = 'Prep') {
  return new ProcessingStep({
    name,
    roleArn: ROLE,
    imageUri: 'img',
    entrypoint: ['python3', '/opt/ml/processing/input/code/prep.py'],
    instanceType: new ParameterString('PrepType', { defaultValue: 'ml.m5.xlarge' }),
    inputs: [{ name: 'data', source: new Get('Parameters.In', 'String'), flag: 'input_dir' }],
    outputs: [{ name: 'evaluation', destination: 's3://b/out', flag: 'output_dir' }],
    propertyFiles: [{ name: 'EvaluationReport', outputName: 'evaluation', filePath: 'evaluation.json' }],
    arguments: ['--x', '1'],
  });
}

describe('expressions', () => {
  test('serialize exactly as the SDK emits them', () => {
    expect(new Get('Parameters.MyInt').toJSON()).toEqual({ Get: 'Parameters.MyInt' });
    expect(JSON.parse(JSON.stringify(new Join('/', ['s3:/', 'a', ExecutionVariables.PIPELINE_NAME])))).toEqual({
      'Std:Join': { On: '/', Values: ['s3:/', 'a', { Get: 'Execution.PipelineName' }] },
    });
    const file = new PropertyFile('my-step', 'my-property-file', 'out', 'f.json');
    expect(JSON.parse(JSON.stringify(file.get('my-json-path')))).toEqual({
      'Std:JsonGet': { PropertyFile: { Get: 'Steps.my-step.PropertyFiles.my-property-file' }, Path: 'my-json-path' },
    });
  });

  test('parameters render their declaration and a Get', () => {
    const s = new ParameterString('MyString', { defaultValue: 'a', enumValues: ['a', 'b'] });
    expect(s.toDefinition()).toEqual({ Name: 'MyString', Type: 'String', DefaultValue: 'a', EnumValues: ['a', 'b'] });
    expect(s.toJSON()).toEqual({ Get: 'Parameters.MyString' });
    expect(new ParameterFloat('MyFloat', { defaultValue: 1.2 }).toDefinition()).toEqual({
      Name: 'MyFloat',
      Type: 'Float',
      DefaultValue: 1.2,
    });
    expect(new ParameterBoolean('B', { defaultValue: false, description: 'd' }).toDefinition()).toEqual({
      Name: 'B',
      Type: 'Boolean',
      DefaultValue: false,
      Description: 'd',
    });
  });

  test('fails on bad parameter names and defaults', () => {
    expect(() => new ParameterInteger('bad name', { defaultValue: 1 })).toThrow(/must match/);
    expect(() => new ParameterInteger('N', { defaultValue: 1.5 })).toThrow(/integer/);
    expect(() => new ParameterString('S', { defaultValue: 'c', enumValues: ['a'] })).toThrow(/EnumValues/);
  });

  test('numeric expressions in string fields are wrapped in Std:Join On ""', () => {
    const epochs = new ParameterInteger('TrainingEpochs', { defaultValue: 1 });
    expect(JSON.parse(JSON.stringify(asString(epochs)))).toEqual({
      'Std:Join': { On: '', Values: [{ Get: 'Parameters.TrainingEpochs' }] },
    });
    const s = new ParameterString('S', { defaultValue: 'x' });
    expect(asString(s)).toBe(s);
    expect(asString(3)).toBe('3');
  });
});

describe('parameters', () => {
  test('MedLlama parameters have the documented defaults', () => {
    const p = createMedLlamaParameters({ inputDataUri: 's3://b/in/' });
    expect(p.modelApprovalStatus.toDefinition()).toMatchObject({
      DefaultValue: 'PendingManualApproval',
      EnumValues: ['PendingManualApproval', 'Approved', 'Rejected'],
    });
    expect(p.evaluateInstanceType.defaultValue).toBe('ml.g5.2xlarge');
    expect(p.seqLen.defaultValue).toBe(4096);
    expect(p.method.enumValues).toEqual(['lora', 'full']);
    expect(p.licenses.defaultValue).toBe('CC0,CC BY,CC BY-SA');
    expect(p.maxTuningJobs).toBeUndefined();
    expect(createMedLlamaParameters({ inputDataUri: 's3://b/', tuning: true }).maxTuningJobs?.defaultValue).toBe(8);
  });
  test('fails on a non-S3 input URI', () => {
    expect(() => createMedLlamaParameters({ inputDataUri: '/local/path' })).toThrow(/s3:\/\//);
  });
});

describe('step base', () => {
  test('fails on invalid step names', () => {
    expect(() => processing('has space')).toThrow(/must match/);
    expect(() => processing('x'.repeat(65))).toThrow(/must match/);
  });

  test('retry policies: list ExceptionType, exactly one of MaxAttempts / ExpireAfterMin', () => {
    expect(
      new RetryPolicy({ exceptionTypes: ['SageMaker.CAPACITY_ERROR'], intervalSeconds: 60, maxAttempts: 5 }).toJSON(),
    ).toEqual({ ExceptionType: ['SageMaker.CAPACITY_ERROR'], IntervalSeconds: 60, BackoffRate: 2, MaxAttempts: 5 });
    expect(new RetryPolicy({ exceptionTypes: ['Step.THROTTLING'], expireAfterMin: 60 }).toJSON()).toMatchObject({
      ExpireAfterMin: 60,
    });
    expect(() => new RetryPolicy({ exceptionTypes: ['Step.THROTTLING'] })).toThrow(/exactly one/);
    expect(() => new RetryPolicy({ exceptionTypes: ['Step.THROTTLING'], maxAttempts: 2, expireAfterMin: 5 })).toThrow(
      /exactly one/,
    );
    expect(() => new RetryPolicy({ exceptionTypes: ['Step.THROTTLING'], maxAttempts: 21 })).toThrow(/1\.\.20/);
    expect(() => new RetryPolicy({ exceptionTypes: [], maxAttempts: 2 })).toThrow(/at least one/);
  });

  test('cache config takes a strict ISO-8601 duration', () => {
    expect(new CacheConfig('P30D').toJSON()).toEqual({ Enabled: true, ExpireAfter: 'P30D' });
    expect(new CacheConfig('PT1H').toJSON()).toEqual({ Enabled: true, ExpireAfter: 'PT1H' });
    expect(() => new CacheConfig('30d')).toThrow(/ISO-8601/);
    expect(() => new CacheConfig('P')).toThrow(/ISO-8601/);
  });
});

describe('processing step', () => {
  test('SDK shape with AppManaged, path flags first, PropertyFiles at step level', () => {
    const def = processing().toDefinition() as Record<string, unknown>;
    expect(def).toMatchObject({
      Name: 'Prep',
      Type: 'Processing',
      Arguments: {
        AppSpecification: {
          ContainerArguments: [
            '--input_dir',
            '/opt/ml/processing/input/data',
            '--output_dir',
            '/opt/ml/processing/output/evaluation',
            '--x',
            '1',
          ],
        },
        ProcessingInputs: [
          {
            InputName: 'data',
            AppManaged: false,
            S3Input: {
              S3Uri: { Get: 'Parameters.In' },
              LocalPath: '/opt/ml/processing/input/data',
              S3DataType: 'S3Prefix',
              S3InputMode: 'File',
              S3DataDistributionType: 'FullyReplicated',
              S3CompressionType: 'None',
            },
          },
        ],
        ProcessingResources: { ClusterConfig: { InstanceType: { Get: 'Parameters.PrepType' }, InstanceCount: 1 } },
      },
      PropertyFiles: [{ PropertyFileName: 'EvaluationReport', OutputName: 'evaluation', FilePath: 'evaluation.json' }],
    });
    expect(def.Arguments).not.toHaveProperty('ProcessingJobName');
    expect(def.Arguments).not.toHaveProperty('PropertyFiles');
  });

  test('typed handles', () => {
    const step = processing();
    expect(step.output('evaluation').toJSON()).toEqual({
      Get: "Steps.Prep.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri",
    });
    expect(step.propertyFile('EvaluationReport').toJSON()).toEqual({
      Get: 'Steps.Prep.PropertyFiles.EvaluationReport',
    });
    expect(() => step.output('nope')).toThrow(/no output "nope"/);
    expect(() => step.propertyFile('nope')).toThrow(/no property file/);
  });

  test('fails when a property file reads a missing output', () => {
    expect(
      () =>
        new ProcessingStep({
          name: 'P',
          roleArn: ROLE,
          imageUri: 'i',
          entrypoint: ['x'],
          instanceType: 'ml.m5.xlarge',
          propertyFiles: [{ name: 'R', outputName: 'missing', filePath: 'r.json' }],
        }),
    ).toThrow(/output "missing"/);
  });
});

describe('training step', () => {
  const make = (spot: boolean) =>
    new TrainingStep({
      name: 'Train',
      roleArn: ROLE,
      imageUri: 'img',
      instanceType: 'ml.g5.12xlarge',
      outputPath: 's3://b/models',
      channels: [{ name: 'train', s3Uri: 's3://b/train' }],
      hyperParameters: { epochs: asString(new ParameterInteger('Epochs', { defaultValue: 1 })) },
      metricDefinitions: [{ Name: 'validation:loss', Regex: 'loss=([0-9.]+)' }],
      maxRuntimeInSeconds: 3600,
      ...(spot ? { spot: { maxWaitTimeInSeconds: 7200, checkpointS3Uri: 's3://b/ckpt' } } : {}),
    });

  test('handles: model artifacts and final metrics', () => {
    expect(make(false).modelArtifacts.toJSON()).toEqual({ Get: 'Steps.Train.ModelArtifacts.S3ModelArtifacts' });
    expect(make(false).finalMetric('validation:loss').toJSON()).toEqual({
      Get: "Steps.Train.FinalMetricDataList['validation:loss'].Value",
    });
    expect(() => make(false).finalMetric('x')).toThrow(/no metric/);
  });

  test('spot adds EnableManagedSpotTraining, MaxWait and CheckpointConfig only when on', () => {
    const off = make(false).toDefinition() as { Arguments: Record<string, unknown> };
    expect(off.Arguments).not.toHaveProperty('EnableManagedSpotTraining');
    expect(off.Arguments).not.toHaveProperty('CheckpointConfig');
    expect(off.Arguments.StoppingCondition).toEqual({ MaxRuntimeInSeconds: 3600 });
    expect(off.Arguments.OutputDataConfig).toEqual({ S3OutputPath: 's3://b/models', CompressionType: 'NONE' });
    const on = make(true).toDefinition() as { Arguments: Record<string, unknown> };
    expect(on.Arguments).toMatchObject({
      EnableManagedSpotTraining: true,
      StoppingCondition: { MaxRuntimeInSeconds: 3600, MaxWaitTimeInSeconds: 7200 },
      CheckpointConfig: { S3Uri: 's3://b/ckpt', LocalPath: '/opt/ml/checkpoints' },
    });
  });

  test('fails when spot max wait is below max runtime', () => {
    expect(
      () =>
        new TrainingStep({
          name: 'T',
          roleArn: ROLE,
          imageUri: 'i',
          instanceType: 'ml.g5.2xlarge',
          outputPath: 's3://b/o',
          channels: [],
          hyperParameters: {},
          maxRuntimeInSeconds: 100,
          spot: { maxWaitTimeInSeconds: 50, checkpointS3Uri: 's3://b/c' },
        }),
    ).toThrow(/maxWaitTimeInSeconds/);
  });
});

describe('StageBaseModel step (JumpStart gated weights → HF folder)', () => {
  const props = {
    roleArn: ROLE,
    region: 'eu-west-1',
    gatedUri: 's3://jumpstart-private-cache-prod-eu-west-1/meta-training/train-meta-textgeneration-llama-2-7b.tar.gz',
    trainingCodeUri: 's3://b-code/sourcedir.tar.gz',
    artifactBucket: 'b-artifacts',
  };

  test('a Training step with the EULA on its only channel, uncompressed output, cached 30 days', () => {
    const stage = stageBaseModelStep(props);
    expect(stage.modelArtifacts.toJSON()).toEqual({ Get: 'Steps.StageBaseModel.ModelArtifacts.S3ModelArtifacts' });
    const def = stage.toDefinition() as { Arguments: Record<string, unknown>; CacheConfig: unknown };
    expect(def.CacheConfig).toEqual({ Enabled: true, ExpireAfter: 'P30D' });
    expect(def.Arguments).toMatchObject({
      AlgorithmSpecification: { TrainingImage: imageUri('training', 'eu-west-1') },
      ResourceConfig: {
        InstanceType: STAGE_BASE_MODEL_INSTANCE_TYPE,
        InstanceCount: 1,
        VolumeSizeInGB: STAGE_BASE_MODEL_VOLUME_GB,
      },
      OutputDataConfig: { S3OutputPath: 's3://b-artifacts/training', CompressionType: 'NONE' },
      HyperParameters: { sagemaker_program: '"stage_base_model.py"', model_type: '"llama"' },
    });
    expect(STAGE_BASE_MODEL_INSTANCE_TYPE).toMatch(/^ml\.m5\./); // CPU: no GPU is needed to unpack an archive
    expect(def.Arguments.InputDataConfig).toEqual([
      {
        ChannelName: 'base_model',
        DataSource: {
          S3DataSource: {
            S3DataType: 'S3Prefix',
            S3Uri: props.gatedUri,
            S3DataDistributionType: 'FullyReplicated',
            ModelAccessConfig: { AcceptEula: true },
          },
        },
        ContentType: 'application/x-sagemaker-model',
        CompressionType: 'None',
        InputMode: 'File',
      },
    ]);
  });

  test('its Arguments pass the SageMaker API model validator (with and without a KMS key)', () => {
    for (const kmsKeyArn of [
      undefined,
      'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    ]) {
      const def = new PipelineDefinition([], [stageBaseModelStep({ ...props, kmsKeyArn })]);
      expect(formatIssues(validateDefinition(def.toJSON()))).toBe('');
    }
    // The validator does check this step: a wrong member is reported.
    const broken = JSON.parse(JSON.stringify(new PipelineDefinition([], [stageBaseModelStep(props)]).toJSON()));
    broken.Steps[0].Arguments.InputDataConfig[0].DataSource.S3DataSource.ModelAccessConfig = { AcceptEULA: true };
    expect(formatIssues(validateDefinition(broken))).toMatch(/AcceptEULA/);
  });
});

describe('condition, register, fail', () => {
  const prep = processing();
  const report = prep.propertyFile('EvaluationReport');
  const register = new RegisterModelStep({
    name: 'Register',
    modelPackageGroupName: 'group',
    image: 'serving-image',
    modelData: new Get('Steps.Train.ModelArtifacts.S3ModelArtifacts', 'String'),
    environment: { SM_VLLM_DTYPE: 'bfloat16' },
    supportedContentTypes: ['application/json'],
    supportedResponseMIMETypes: ['application/json'],
    supportedRealtimeInferenceInstanceTypes: ['ml.g5.2xlarge'],
    modelQualityStatistics: {
      s3Uri: new Join('/', [prep.output('evaluation'), 'evaluation.json']),
      contentType: 'application/json',
    },
  });
  const fail = new FailStep({ name: 'Failed', errorMessage: new Join(' ', ['ppl', report.get('gate.x')]) });
  const gate = new ConditionStep({
    name: 'Gate',
    conditions: [
      GreaterThanOrEqualTo(report.get('gate.x'), new ParameterFloat('Min', { defaultValue: 0 })),
      new InCondition(new Get('Parameters.S', 'String'), ['a', 'b']),
      new NotCondition(GreaterThanOrEqualTo(1, 2)),
    ],
    ifSteps: [register],
    elseSteps: [fail],
  });

  test('condition step: SDK condition shapes, branches inline', () => {
    expect(gate.toDefinition()).toEqual({
      Name: 'Gate',
      Type: 'Condition',
      Arguments: {
        Conditions: [
          {
            Type: 'GreaterThanOrEqualTo',
            LeftValue: {
              'Std:JsonGet': { PropertyFile: { Get: 'Steps.Prep.PropertyFiles.EvaluationReport' }, Path: 'gate.x' },
            },
            RightValue: { Get: 'Parameters.Min' },
          },
          { Type: 'In', QueryValue: { Get: 'Parameters.S' }, Values: ['a', 'b'] },
          { Type: 'Not', Condition: { Type: 'GreaterThanOrEqualTo', LeftValue: 1, RightValue: 2 } },
        ],
        IfSteps: [register.toDefinition()],
        ElseSteps: [fail.toDefinition()],
      },
    });
    expect(gate.nestedSteps().map((s) => s.name)).toEqual(['Register', 'Failed']);
  });

  test('register step: uncompressed ModelDataSource with trailing slash, metrics, approval default', () => {
    const def = register.toDefinition() as { Arguments: Record<string, unknown> };
    expect(def.Arguments).toMatchObject({
      ModelPackageGroupName: 'group',
      ModelApprovalStatus: 'PendingManualApproval',
      InferenceSpecification: {
        Containers: [
          {
            Image: 'serving-image',
            ModelDataSource: {
              S3DataSource: {
                S3Uri: {
                  'Std:Join': { On: '', Values: [{ Get: 'Steps.Train.ModelArtifacts.S3ModelArtifacts' }, '/'] },
                },
                S3DataType: 'S3Prefix',
                CompressionType: 'None',
              },
            },
            Environment: { SM_VLLM_DTYPE: 'bfloat16' },
          },
        ],
      },
      ModelMetrics: { ModelQuality: { Statistics: { ContentType: 'application/json' } } },
    });
    for (const banned of ['CertifyForMarketplace', 'Description', 'ModelPackageName']) {
      expect(def.Arguments).not.toHaveProperty(banned);
    }
  });

  test('fail step message is a Join naming the value', () => {
    expect(fail.toDefinition()).toMatchObject({
      Type: 'Fail',
      Arguments: { ErrorMessage: { 'Std:Join': { On: ' ' } } },
    });
  });
});

describe('step config rendering', () => {
  const cfg = defineStepConfig(
    'demo',
    'demo step',
    z.object({
      mode: z.enum(['a', 'b']).default('a').describe('m'),
      n: z.number().int().min(1).default(2).describe('n'),
      rate: z.number().gt(0).default(0.5).describe('r'),
      on: z.boolean().default(true).describe('o'),
      tags: z.array(z.string()).default(['x', 'y']).describe('t'),
      shard: z.number().int().nullable().default(null).describe('s'),
    }),
  );

  test('container arguments: every field in schema order, nulls left out, expressions wrapped', () => {
    const n = new ParameterInteger('N', { defaultValue: 3 });
    expect(JSON.parse(JSON.stringify(renderContainerArguments(cfg, { n, mode: 'b' })))).toEqual([
      '--mode',
      'b',
      '--n',
      { 'Std:Join': { On: '', Values: [{ Get: 'Parameters.N' }] } },
      '--rate',
      '0.5',
      '--on',
      'true',
      '--tags',
      '["x","y"]',
    ]);
  });

  test('hyperparameters are JSON-encoded (strings quoted)', () => {
    expect(renderHyperParameters(cfg, { mode: 'b' })).toEqual({
      mode: '"b"',
      n: '2',
      rate: '0.5',
      on: 'true',
      tags: '"x,y"', // a list travels comma-separated: the training toolkit would render a JSON array as Python str()
    });
  });

  test('fails naming step, field, value and expectation for a bad literal', () => {
    expect(() => renderContainerArguments(cfg, { n: 0 })).toThrow(StepConfigError);
    expect(() => renderContainerArguments(cfg, { n: 0 })).toThrow(/demo: field n: got 0, expected/);
    expect(() => renderHyperParameters(cfg, { mode: 'c' as 'a' })).toThrow(/demo: field mode: got "c"/);
    expect(() => renderContainerArguments(cfg, { nope: 1 } as Record<string, number>)).toThrow(/unknown config field/);
  });

  test("fails when a parameter's default is invalid for the field", () => {
    expect(() => renderContainerArguments(cfg, { n: new ParameterInteger('N', { defaultValue: 0 }) })).toThrow(
      /field n: parameter N has default 0/,
    );
    // A comma-separated String default is accepted for a list field.
    expect(() =>
      renderContainerArguments(cfg, { tags: new ParameterString('T', { defaultValue: 'a,b' }) }),
    ).not.toThrow();
  });
});

describe('images and metrics', () => {
  test('image URIs per region from containers/dlc.json', () => {
    const dlc = loadDlcConfig();
    expect(imageUri('training', 'us-east-1')).toBe(
      `763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-training:${dlc.training.tag}`,
    );
    expect(imageUri('processing', 'eu-south-1')).toMatch(/^692866216735\.dkr\.ecr\.eu-south-1\.amazonaws\.com\//);
    expect(imageUri('vllm', 'cn-north-1')).toMatch(
      /^727897471807\.dkr\.ecr\.cn-north-1\.amazonaws\.com\.cn\/huggingface-vllm:/,
    );
    expect(imageUri('tgi', 'us-west-2')).toContain('huggingface-pytorch-tgi-inference');
  });
  test('fails for an unknown region, naming it', () => {
    expect(() => imageUri('training', 'mars-north-1')).toThrow(/"mars-north-1"/);
  });
  test('metric definitions load from the train step source and compile', () => {
    const metrics = loadMetricDefinitions();
    expect(metrics.length).toBeGreaterThan(0);
    for (const m of metrics) expect(new RegExp(m.Regex).exec('metric name=x value=1.5e-05')?.length ?? 2).toBe(2);
    expect(() => loadMetricDefinitions('/nonexistent/metric_definitions.json')).toThrow(/missing/);
  });
});
