// Unit tests of the local runner's pure parts: expressions, parameters, ordering, conditions, S3 mapping,
// definition loading, cache keys.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheKey, canonicalJson, parseDuration } from '../pipeline-steps/local/cache.ts';
import {
  type ConditionTrace,
  coerceParameter,
  evaluateConditions,
  NULL_OPERAND_NOTE,
  parseParamAssignments,
  parsePath,
  type ResolveContext,
  resolveParameters,
  resolveValue,
  stepReferences,
  walkPath,
} from '../pipeline-steps/local/expressions.ts';
import { downstreamOf, orderSteps } from '../pipeline-steps/local/graph.ts';
import { localCommand } from '../pipeline-steps/local/jobs.ts';
import { definitionsFromTemplate, loadDefinition } from '../pipeline-steps/local/load.ts';
import { contentHash, LocalS3, sandboxPath } from '../pipeline-steps/local/storage.ts';
import type { Json, JsonObject, ParameterDefinition, StepDefinition } from '../pipeline-steps/local/types.ts';

const evaluation = {
  gate: { pubmedqa_delta: 0.04, perplexity_improvement: 0.12, general_regression_upper: null, not_computed: [] },
  a: [{ b: 7 }, { b: 8 }],
  'odd key': { x: 'y' },
};

function ctx(over: Partial<ResolveContext> = {}): ResolveContext {
  return {
    parameters: { Epochs: 3, Bucket: 'data-bucket', Threshold: 0.01, Flag: true },
    execution: { PipelineExecutionId: 'run-1', PipelineName: 'MedLlama' },
    stepProperties: (name): JsonObject | undefined =>
      name === 'Tokenize'
        ? {
            ProcessingOutputConfig: {
              Outputs: [
                { OutputName: 'train', S3Output: { S3Uri: 's3://b/run-1/train' } },
                { OutputName: 'validation', S3Output: { S3Uri: 's3://b/run-1/validation' } },
              ],
            },
          }
        : name === 'Train'
          ? {
              ModelArtifacts: { S3ModelArtifacts: 's3://b/models/job/output/model' },
              FinalMetricDataList: [{ MetricName: 'train_loss', Value: 1.5 }],
            }
          : undefined,
    readPropertyFile: (step, file) => {
      if (step === 'Evaluate' && file === 'EvaluationReport') return evaluation as unknown as Json;
      throw new Error(`no property file ${step}.${file}`);
    },
    readS3Json: () => ({ value: 42 }),
    ...over,
  };
}

describe('expressions', () => {
  it('parses property paths with names, quoted keys and indexes', () => {
    expect(parsePath("ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri")).toEqual([
      'ProcessingOutputConfig',
      'Outputs',
      'train',
      'S3Output',
      'S3Uri',
    ]);
    expect(parsePath('a[0].b')).toEqual(['a', 0, 'b']);
    expect(parsePath('$.gate.pubmedqa_delta')).toEqual(['gate', 'pubmedqa_delta']);
    expect(parsePath('["odd key"].x')).toEqual(['odd key', 'x']);
    expect(() => parsePath('a[b')).toThrow(/unclosed/);
    expect(() => parsePath('a[b]')).toThrow(/bad index/);
    expect(walkPath(evaluation as unknown as Json, parsePath('a[1].b'))).toBe(8);
    expect(walkPath(evaluation as unknown as Json, parsePath('a[5].b'))).toBeUndefined();
  });

  it('resolves Get on parameters, execution variables and step properties', () => {
    const c = ctx();
    expect(resolveValue({ Get: 'Parameters.Epochs' }, c)).toBe(3);
    expect(resolveValue({ Get: 'Execution.PipelineExecutionId' }, c)).toBe('run-1');
    expect(resolveValue({ Get: "Steps.Tokenize.ProcessingOutputConfig.Outputs['validation'].S3Output.S3Uri" }, c)).toBe(
      's3://b/run-1/validation',
    );
    expect(resolveValue({ Get: 'Steps.Train.ModelArtifacts.S3ModelArtifacts' }, c)).toBe(
      's3://b/models/job/output/model',
    );
    expect(resolveValue({ Get: "Steps.Train.FinalMetricDataList['train_loss'].Value" }, c)).toBe(1.5);
    // Nested objects and lists are resolved recursively; plain values pass through.
    expect(resolveValue({ a: [{ Get: 'Parameters.Bucket' }, 1, null], b: { c: 'x' } }, c)).toEqual({
      a: ['data-bucket', 1, null],
      b: { c: 'x' },
    });
  });

  it('reports what is wrong with a Get', () => {
    const c = ctx();
    expect(() => resolveValue({ Get: 'Parameters.Nope' }, c)).toThrow(/no parameter "Nope"/);
    expect(() => resolveValue({ Get: 'Execution.Nope' }, c)).toThrow(/unknown execution variable/);
    expect(() => resolveValue({ Get: 'Steps.Evaluate.Foo' }, c)).toThrow(/step "Evaluate" has not run/);
    expect(() =>
      resolveValue({ Get: "Steps.Tokenize.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri" }, c),
    ).toThrow(/has no property/);
    expect(() => resolveValue({ Get: 'Other.X' }, c)).toThrow(/expected Parameters/);
  });

  it('joins values and reads PropertyFiles and S3 JSON with Std:JsonGet', () => {
    const c = ctx();
    expect(
      resolveValue(
        {
          'Std:Join': {
            On: '/',
            Values: ['s3:/', { Get: 'Parameters.Bucket' }, { Get: 'Execution.PipelineExecutionId' }],
          },
        },
        c,
      ),
    ).toBe('s3://data-bucket/run-1');
    expect(resolveValue({ 'Std:Join': { On: '', Values: [{ Get: 'Parameters.Epochs' }] } }, c)).toBe('3');
    const jsonGet = (Path: string): Json => ({
      'Std:JsonGet': { PropertyFile: { Get: 'Steps.Evaluate.PropertyFiles.EvaluationReport' }, Path },
    });
    expect(resolveValue(jsonGet('gate.pubmedqa_delta'), c)).toBe(0.04);
    expect(resolveValue(jsonGet('a[0].b'), c)).toBe(7);
    expect(() => resolveValue(jsonGet('gate.missing'), c)).toThrow(/path "gate.missing" not found/);
    expect(resolveValue({ 'Std:JsonGet': { S3Uri: 's3://b/x.json', Path: 'value' } }, c)).toBe(42);
    expect(() => resolveValue({ 'Std:JsonGet': { Path: 'x' } }, c)).toThrow(/exactly one of PropertyFile and S3Uri/);
    expect(() => resolveValue({ Get: 'Steps.Evaluate.PropertyFiles.EvaluationReport' }, c)).toThrow(/Std:JsonGet/);
  });

  it('finds step references, including PropertyFiles inside JsonGet', () => {
    const refs = stepReferences({
      a: { Get: 'Steps.Train.ModelArtifacts.S3ModelArtifacts' },
      b: [{ 'Std:JsonGet': { PropertyFile: { Get: 'Steps.Evaluate.PropertyFiles.R' }, Path: 'x' } }],
      c: { Get: 'Parameters.X' },
    });
    expect([...refs].sort()).toEqual(['Evaluate', 'Train']);
  });
});

describe('parameters', () => {
  const defs: ParameterDefinition[] = [
    { Name: 'Epochs', Type: 'Integer', DefaultValue: 1 },
    { Name: 'LearningRate', Type: 'Float', DefaultValue: 0.0002 },
    { Name: 'Spot', Type: 'Boolean', DefaultValue: false },
    {
      Name: 'Approval',
      Type: 'String',
      DefaultValue: 'PendingManualApproval',
      EnumValues: ['Approved', 'PendingManualApproval'],
    },
    { Name: 'Input', Type: 'String', DefaultValue: 's3://x/in' },
  ];

  it('applies defaults and typed overrides', () => {
    expect(
      resolveParameters(defs, { Epochs: '3', LearningRate: '1.5e-05', Spot: 'TRUE', Approval: 'Approved' }),
    ).toEqual({
      Epochs: 3,
      LearningRate: 1.5e-5,
      Spot: true,
      Approval: 'Approved',
      Input: 's3://x/in',
    });
  });

  it('rejects unknown names, bad types, values outside EnumValues and missing values', () => {
    expect(() => resolveParameters(defs, { Epoch: '3' })).toThrow(/unknown parameter "Epoch".*Approval, Epochs/);
    expect(() => resolveParameters(defs, { Epochs: '1.5' })).toThrow(
      /parameter Epochs: got "1.5", expected an integer/,
    );
    expect(() => resolveParameters(defs, { LearningRate: 'fast' })).toThrow(/expected a number/);
    expect(() => resolveParameters(defs, { Spot: 'yes' })).toThrow(/expected true or false/);
    expect(() => resolveParameters(defs, { Approval: 'Rejected' })).toThrow(
      /one of "Approved", "PendingManualApproval"/,
    );
    expect(() => resolveParameters([{ Name: 'X', Type: 'String' }], {})).toThrow(/no default value; pass --param X=/);
    expect(coerceParameter({ Name: 'N', Type: 'Integer' }, '-4')).toBe(-4);
  });

  it('parses --param Name=Value (values may contain "=")', () => {
    expect(parseParamAssignments(['A=1', 'B=x=y'])).toEqual({ A: '1', B: 'x=y' });
    expect(() => parseParamAssignments(['A'])).toThrow(/Name=Value/);
  });
});

const step = (
  Name: string,
  Arguments: Record<string, Json> = {},
  extra: Partial<StepDefinition> = {},
): StepDefinition => ({
  Name,
  Type: 'Processing',
  Arguments,
  ...extra,
});

describe('ordering', () => {
  it('orders by data references and DependsOn, keeping definition order for ties', () => {
    const steps = [
      step('Evaluate', { m: { Get: 'Steps.Train.ModelArtifacts.S3ModelArtifacts' } }),
      step('Train', { t: { Get: "Steps.Tokenize.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri" } }),
      step('Report', {}, { DependsOn: ['Evaluate'] }),
      step('Tokenize'),
      step('Independent'),
    ];
    expect(orderSteps(steps).map((s) => s.Name)).toEqual(['Tokenize', 'Train', 'Evaluate', 'Report', 'Independent']);
  });

  it('counts references made by steps inside condition branches as the condition’s', () => {
    const steps: StepDefinition[] = [
      {
        Name: 'Gate',
        Type: 'Condition',
        Arguments: {
          Conditions: [],
          IfSteps: [{ Name: 'Register', Type: 'RegisterModel', Arguments: { m: { Get: 'Steps.Train.X' } } }],
          ElseSteps: [],
        },
      },
      step('Train'),
    ];
    expect(orderSteps(steps).map((s) => s.Name)).toEqual(['Train', 'Gate']);
    expect([...downstreamOf(steps, 'Train')].sort()).toEqual(['Gate', 'Train']);
  });

  it('rejects cycles, unknown steps and duplicate names', () => {
    expect(() =>
      orderSteps([
        step('A', { x: { Get: 'Steps.B.X' } }),
        step('B', {}, { DependsOn: ['C'] }),
        step('C', {}, { DependsOn: ['A'] }),
      ]),
    ).toThrow(/dependency cycle: A → B → C → A/);
    expect(() => orderSteps([step('A', {}, { DependsOn: ['Nope'] })])).toThrow(/unknown step "Nope"/);
    expect(() => orderSteps([step('A'), step('A')])).toThrow(/used more than once/);
  });
});

describe('conditions', () => {
  const c = ctx();
  const gate = (type: string, right: Json): Json => ({
    Type: type,
    LeftValue: {
      'Std:JsonGet': {
        PropertyFile: { Get: 'Steps.Evaluate.PropertyFiles.EvaluationReport' },
        Path: 'gate.pubmedqa_delta',
      },
    },
    RightValue: right,
  });

  it('evaluates comparisons, In, Not, Or; Conditions are ANDed', () => {
    expect(evaluateConditions([gate('GreaterThanOrEqualTo', { Get: 'Parameters.Threshold' })], c)).toBe(true);
    expect(evaluateConditions([gate('GreaterThan', 0.04)], c)).toBe(false);
    expect(evaluateConditions([gate('LessThanOrEqualTo', 0.04), gate('LessThan', 0.05)], c)).toBe(true);
    expect(evaluateConditions([gate('LessThanOrEqualTo', 0.04), gate('LessThan', 0.01)], c)).toBe(false);
    expect(evaluateConditions([{ Type: 'Equals', LeftValue: { Get: 'Parameters.Epochs' }, RightValue: '3' }], c)).toBe(
      true,
    );
    expect(
      evaluateConditions([{ Type: 'In', QueryValue: { Get: 'Parameters.Bucket' }, Values: ['a', 'data-bucket'] }], c),
    ).toBe(true);
    expect(evaluateConditions([{ Type: 'Not', Condition: gate('GreaterThan', 0.5) }], c)).toBe(true);
    expect(evaluateConditions([{ Type: 'Or', Conditions: [gate('GreaterThan', 0.5), gate('LessThan', 0.5)] }], c)).toBe(
      true,
    );
  });

  it('a null operand (an uncomputed metric) satisfies no comparison, negated or not', () => {
    const nullGate = (type: string, right: Json): Json => ({
      Type: type,
      LeftValue: {
        'Std:JsonGet': {
          PropertyFile: { Get: 'Steps.Evaluate.PropertyFiles.EvaluationReport' },
          Path: 'gate.general_regression_upper',
        },
      },
      RightValue: right,
    });
    for (const type of ['Equals', 'GreaterThan', 'GreaterThanOrEqualTo', 'LessThan', 'LessThanOrEqualTo']) {
      expect(evaluateConditions([nullGate(type, 0.03)], c), type).toBe(false);
      expect(evaluateConditions([nullGate(type, null)], c), `${type} null null`).toBe(false);
    }
    // Not and Or cannot turn "not measured" into a pass (three-valued logic: unknown stays unknown).
    expect(evaluateConditions([{ Type: 'Not', Condition: nullGate('GreaterThan', 0.03) }], c)).toBe(false);
    expect(
      evaluateConditions([{ Type: 'Or', Conditions: [nullGate('LessThan', 1), gate('GreaterThan', 0.5)] }], c),
    ).toBe(false);
    expect(evaluateConditions([{ Type: 'Or', Conditions: [nullGate('LessThan', 1), gate('LessThan', 0.5)] }], c)).toBe(
      true,
    );
    expect(evaluateConditions([{ Type: 'In', QueryValue: null, Values: [null, 1] }], c)).toBe(false);
    const trace: ConditionTrace[] = [];
    evaluateConditions([nullGate('LessThanOrEqualTo', { Get: 'Parameters.Threshold' })], c, trace);
    expect(trace).toEqual([
      { type: 'LessThanOrEqualTo', left: null, right: 0.01, result: false, note: NULL_OPERAND_NOTE },
    ]);
    expect(() => evaluateConditions([{ Type: 'Equals', LeftValue: 1 }], c)).toThrow(
      /Equals: the condition has no RightValue/,
    );
  });

  it('rejects unknown condition types and non-numeric comparisons', () => {
    expect(() => evaluateConditions([{ Type: 'Like', LeftValue: 1, RightValue: 1 }], c)).toThrow(
      /unknown condition type "Like"/,
    );
    expect(() => evaluateConditions([{ Type: 'GreaterThan', LeftValue: 'abc', RightValue: 1 }], c)).toThrow(
      /expected a number/,
    );
  });
});

describe('local S3 and the container command line', () => {
  it('maps s3:// URIs under the run folder, mounts to their folders, file:// to paths', () => {
    const s3 = new LocalS3('/runs/r1/s3', { 's3://code-bucket/code': '/repo/containers' });
    expect(s3.toLocal('s3://data/run-1/train/')).toBe('/runs/r1/s3/data/run-1/train');
    expect(s3.toLocal('s3://code-bucket/code')).toBe('/repo/containers');
    expect(s3.toLocal('s3://code-bucket/code/ingest.py')).toBe('/repo/containers/ingest.py');
    expect(s3.toLocal('s3://code-bucket/codex')).toBe('/runs/r1/s3/code-bucket/codex');
    expect(s3.toLocal('file:///tmp/x')).toBe('/tmp/x');
    expect(() => s3.toLocal('s3://data/../etc')).toThrow(/not allowed/);
    expect(() => s3.toLocal('https://x')).toThrow(/not an s3:\/\/bucket\/key URI/);
  });

  it('rewrites /opt/ml and python in the entrypoint', () => {
    expect(
      localCommand(
        ['python3', '/opt/ml/processing/input/code/ingest.py', '--output_dir=/opt/ml/processing/x', '/opt/mlx'],
        '/v/python',
        '/s/opt/ml',
      ),
    ).toEqual([
      '/v/python',
      '/s/opt/ml/processing/input/code/ingest.py',
      '--output_dir=/s/opt/ml/processing/x',
      '/opt/mlx',
    ]);
    expect(sandboxPath('/opt/ml', '/s')).toBe('/s');
  });
});

describe('definition loading', () => {
  const definition = { Version: '2020-12-01', Parameters: [], Steps: [{ Name: 'A', Type: 'Fail', Arguments: {} }] };

  it('reads PipelineDefinitionBody from a template, replacing CloudFormation tokens', () => {
    const body = JSON.stringify(definition).replace(
      '"Arguments":{}',
      '"Arguments":{"ErrorMessage":"s3://BUCKET/x in REGION"}',
    );
    const [before, rest] = body.split('BUCKET');
    const [middle, after] = rest!.split('REGION');
    const template = {
      Resources: {
        Pipeline: {
          Type: 'AWS::SageMaker::Pipeline',
          Properties: {
            PipelineDefinition: {
              PipelineDefinitionBody: {
                'Fn::Join': ['', [before!, { Ref: 'ArtifactBucketAB12' }, middle!, { Ref: 'AWS::Region' }, after!]],
              },
            },
          },
        },
      },
    };
    const found = definitionsFromTemplate(template as unknown as Record<string, Json>);
    expect(found.get('Pipeline')?.Steps[0]?.Arguments).toEqual({
      ErrorMessage: 's3://ref-artifactbucketab12/x in us-east-1',
    });
  });

  it('loads a definition file or a cdk.out folder, and says when there is none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medllama-load-'));
    writeFileSync(join(dir, 'def.json'), JSON.stringify(definition));
    expect(loadDefinition(join(dir, 'def.json')).Steps[0]?.Name).toBe('A');
    const out = join(dir, 'cdk.out');
    mkdirSync(out);
    writeFileSync(join(out, 'Data.template.json'), JSON.stringify({ Resources: {} }));
    expect(() => loadDefinition(out)).toThrow(/no pipeline definition/);
    writeFileSync(
      join(out, 'Pipe.template.json'),
      JSON.stringify({
        Resources: {
          P: {
            Type: 'AWS::SageMaker::Pipeline',
            Properties: { PipelineDefinition: { PipelineDefinitionBody: JSON.stringify(definition) } },
          },
        },
      }),
    );
    expect(loadDefinition(out).Steps[0]?.Name).toBe('A');
  });
});

describe('cache keys', () => {
  it('are stable under key order and change with content', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] })).toBe('{"a":[{"c":2,"d":1}],"b":1}');
    expect(cacheKey({ a: 1, b: 2 })).toBe(cacheKey({ b: 2, a: 1 }));
    expect(cacheKey({ a: 1 })).not.toBe(cacheKey({ a: 2 }));
    const dir = mkdtempSync(join(tmpdir(), 'medllama-hash-'));
    writeFileSync(join(dir, 'x.txt'), 'one');
    const before = contentHash(dir);
    writeFileSync(join(dir, 'x.txt'), 'two');
    expect(contentHash(dir)).not.toBe(before);
  });

  it('parses ISO 8601 durations', () => {
    expect(parseDuration('PT1H')).toBe(3_600_000);
    expect(parseDuration('P30D')).toBe(30 * 86_400_000);
    expect(parseDuration('P1DT2M3S')).toBe(86_400_000 + 123_000);
    expect(() => parseDuration('30 days')).toThrow(/ISO 8601/);
  });
});
