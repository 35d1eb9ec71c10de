import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateModelPackageCommand,
  CreateModelPackageGroupCommand,
  CreatePipelineCommand,
  DescribeModelPackageCommand,
  ListPipelineExecutionStepsCommand,
  type ListPipelineExecutionStepsCommandOutput,
  ListPipelineParametersForExecutionCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SageMakerLike } from '../lib/aws/clients.ts';
import { UsageError } from '../lib/cli/command.ts';
import { approveModelPackage, createApproveCommand } from '../lib/cli/commands/approve.ts';
import { clientRequestToken, createStartCommand, validateParameters } from '../lib/cli/commands/start.ts';
import { createStatusCommand, formatStatus } from '../lib/cli/commands/status.ts';
import { externalInputs } from '../lib/cli/input-check.ts';
import { parseConfig } from '../lib/config.ts';
import { substitutePlaceholders } from '../lib/private/definition-tokens.ts';
import { definitionForConfig } from '../lib/stacks/pipeline-stack.ts';
import { resolveParameters } from '../pipeline-steps/local/expressions.ts';
import { type MotoServer, startMoto } from './support/moto.ts';

const ACCOUNT = '123456789012';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/medllama-dev`;

/** A client that records every command name and refuses to call anything: proves "no AWS call". */
function refusingClient(): SageMakerLike & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    send: (async (command: { constructor: { name: string } }) => {
      calls.push(command.constructor.name);
      throw new Error(`unexpected AWS call ${command.constructor.name}`);
    }) as unknown as SageMakerLike['send'],
  };
}

/** Passes every command to `inner`, except the ones `overrides` answers (by command class name). */
function withRecorded(
  inner: SageMakerLike,
  overrides: Record<string, (input: Record<string, unknown>) => unknown>,
): SageMakerLike & { sent: { name: string; input: Record<string, unknown> }[] } {
  const sent: { name: string; input: Record<string, unknown> }[] = [];
  return {
    sent,
    send: (async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ name: command.constructor.name, input: command.input });
      const override = overrides[command.constructor.name];
      return override ? override(command.input) : inner.send(command as never);
    }) as unknown as SageMakerLike['send'],
  };
}

async function run(
  cmd: { run(argv: string[]): Promise<number> },
  argv: string[],
): Promise<{ code: number; error?: Error }> {
  try {
    return { code: await cmd.run(argv) };
  } catch (error) {
    return { code: error instanceof UsageError ? 2 : 1, error: error as Error };
  }
}

/** Recorded ListPipelineExecutionSteps output (the SDK's shape; moto does not implement the call). */
function recordedSteps(failed: boolean): ListPipelineExecutionStepsCommandOutput {
  const t = (m: number) => new Date(Date.UTC(2026, 10, 27, 8, m, 0));
  const job = (kind: string, step: string) =>
    `arn:aws:sagemaker:us-east-1:${ACCOUNT}:${kind}/pipelines-abc123-${step.toLowerCase()}-x1y2z3`;
  return {
    $metadata: {},
    PipelineExecutionSteps: [
      // Newest first, as the API returns by default; status sorts them.
      ...(failed
        ? [
            {
              StepName: 'Train',
              StepStatus: 'Failed' as const,
              StartTime: t(30),
              EndTime: t(42),
              AttemptCount: 2,
              FailureReason: 'ClientError: ResourceLimitExceeded for ml.p4d.24xlarge',
              Metadata: { TrainingJob: { Arn: job('training-job', 'Train') } },
            },
          ]
        : []),
      {
        StepName: 'Tokenize',
        StepStatus: 'Succeeded',
        StartTime: t(10),
        EndTime: t(29),
        Metadata: { ProcessingJob: { Arn: job('processing-job', 'Tokenize') } },
        CacheHitResult: {
          SourcePipelineExecutionArn: `arn:aws:sagemaker:us-east-1:${ACCOUNT}:pipeline/x/execution/old`,
        },
      },
      {
        StepName: 'Ingest',
        StepStatus: 'Succeeded',
        StartTime: t(0),
        EndTime: t(9),
        Metadata: { ProcessingJob: { Arn: job('processing-job', 'Ingest') } },
      },
    ],
  };
}

describe('medllama start / status / approve against a moto server', () => {
  let moto: MotoServer;
  let client: SageMakerClient;
  let s3: S3Client;
  const config = parseConfig({});
  const definition = definitionForConfig(config);
  let deployed: string;

  beforeAll(async () => {
    moto = await startMoto('us-east-1');
    client = new SageMakerClient(moto.clientConfig);
    s3 = new S3Client(moto.clientConfig);
    const body = substitutePlaceholders(JSON.stringify(definition), {
      roleArn: ROLE,
      dataBucket: 'medllama-data-test',
      artifactBucket: 'medllama-artifacts-test',
      kmsKeyArn: `arn:aws:kms:us-east-1:${ACCOUNT}:key/test`,
      codeBucket: 'cdk-assets-test',
      codeKey: `${'f'.repeat(64)}.gz`,
      mlflowArn: `arn:aws:sagemaker:us-east-1:${ACCOUNT}:mlflow-app/app-TEST`,
    });
    deployed = body;
    for (const bucket of ['medllama-data-test', 'medllama-artifacts-test', 'cdk-assets-test']) {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    }
    await client.send(
      new CreatePipelineCommand({
        PipelineName: 'medllama-dev',
        PipelineDefinition: body,
        RoleArn: ROLE,
        ClientRequestToken: 'create-medllama-dev-pipeline-0000000001',
      }),
    );
  });
  afterAll(async () => {
    client?.destroy();
    s3?.destroy();
    await moto?.stop();
  });

  const logs: string[] = [];
  const log = (line: string) => logs.push(line);
  const put = (uri: string) => {
    const [, bucket, key] = /^s3:\/\/([^/]+)\/(.*)$/.exec(uri)!;
    return s3.send(new PutObjectCommand({ Bucket: bucket, Key: key.endsWith('/') ? `${key}part-0` : key, Body: 'x' }));
  };

  test('start: an input the run does not make and S3 lacks stops it before StartPipelineExecution, named', async () => {
    const inputs = externalInputs(JSON.parse(deployed), resolveParameters(JSON.parse(deployed).Parameters));
    const uris = [...new Set(inputs.map((i) => i.uri))];
    // the inputs no step makes: code bundle, articles, decontamination list, the base model's tokenizer files and
    // folder, benchmarks, general text; never a step's output (Dedup's test split, Train's model)
    expect(inputs.map((i) => `${i.step}.${i.name}`)).toEqual(
      expect.arrayContaining([
        'Ingest.articles',
        'Tokenize.tokenizer',
        'Tokenize.tokenizer_config',
        'Evaluate.benchmarks',
      ]),
    );
    expect(inputs.some((i) => /Dedup|Train\/|Tokenize\/|execution/i.test(i.uri))).toBe(false);
    for (const uri of uris) if (!uri.endsWith('tokenizer_config.json')) await put(uri);
    const recorder = withRecorded(client, {});
    const start = createStartCommand({ client: () => recorder, s3: () => s3, config: () => config, log });
    logs.length = 0;
    const result = await run(start, ['--display-name', 'missing-config']);
    expect(result.code).toBe(2);
    expect(result.error?.message).toContain(
      'Tokenize input tokenizer_config: nothing at s3://medllama-data-test/base-model/tokenizer_config.json',
    );
    expect(recorder.sent.map((c) => c.name)).not.toContain('StartPipelineExecutionCommand');
    // --skip-input-check starts anyway (StartPipelineExecution answered here, so no execution lingers in moto)
    const starting = withRecorded(client, {
      StartPipelineExecutionCommand: () => ({
        PipelineExecutionArn: 'arn:aws:sagemaker:us-east-1:1:pipeline/p/execution/e',
      }),
    });
    const skip = createStartCommand({ client: () => starting, s3: () => s3, config: () => config, log });
    expect(await run(skip, ['--display-name', 'missing-config', '--skip-input-check'])).toEqual({ code: 0 });
    expect(starting.sent.map((c) => c.name)).toEqual(['StartPipelineExecutionCommand']);
    expect(logs).toContain('inputs    not checked (--skip-input-check)');
    // a parameter-built input is checked at this execution's value
    await put('s3://medllama-data-test/base-model/tokenizer_config.json');
    const elsewhere = await run(start, [
      '--param',
      'InputDataUri=s3://medllama-data-test/elsewhere/',
      '--display-name',
      'x',
    ]);
    expect(elsewhere.error?.message).toContain('Ingest input articles: nothing at s3://medllama-data-test/elsewhere/');
  });

  test('start: sends the validated parameters and a deterministic token; the execution records them', async () => {
    const recorder = withRecorded(client, {});
    const start = createStartCommand({ client: () => recorder, s3: () => s3, config: () => config, log });
    logs.length = 0;
    const argv = [
      '--param',
      'TrainInstanceType=ml.p4d.24xlarge',
      '--param',
      'LearningRate=1e-4',
      '--display-name',
      'run-1',
    ];
    expect(await run(start, argv)).toEqual({ code: 0 });
    const arn = logs.find((l) => l.startsWith('started'))?.split(/\s+/)[1] ?? '';
    expect(arn).toMatch(/^arn:aws:sagemaker:us-east-1:\d{12}:pipeline\/medllama-dev\/execution\/\w+$/);

    const sentStart = recorder.sent.find((c) => c.name === 'StartPipelineExecutionCommand')!;
    const params = [
      { Name: 'LearningRate', Value: '1e-4' },
      { Name: 'TrainInstanceType', Value: 'ml.p4d.24xlarge' },
    ];
    expect(sentStart.input).toEqual({
      PipelineName: 'medllama-dev',
      PipelineParameters: params,
      ClientRequestToken: clientRequestToken('medllama-dev', params, 'run-1'),
      PipelineExecutionDisplayName: 'run-1',
    });
    expect(sentStart.input.ClientRequestToken).toMatch(/^[0-9a-f]{64}$/);
    const n = externalInputs(JSON.parse(deployed), resolveParameters(JSON.parse(deployed).Parameters)).length;
    expect(logs).toContain(`inputs    ${n} of ${n} found`);
    const echoed = await client.send(new ListPipelineParametersForExecutionCommand({ PipelineExecutionArn: arn }));
    expect(echoed.PipelineParameters).toEqual(params);
  });

  test('start: the token ignores parameter order and changes with the display name', () => {
    const a = validateParameters(['Epochs=2', 'SeqLen=2048'], definition.Parameters ?? []);
    const b = validateParameters(['SeqLen=2048', 'Epochs=2'], definition.Parameters ?? []);
    expect(clientRequestToken('p', a)).toBe(clientRequestToken('p', b));
    expect(clientRequestToken('p', a, 'again')).not.toBe(clientRequestToken('p', a));
  });

  test.each([
    [
      ['--param', 'TrainInstanceCount=two'],
      /--param TrainInstanceCount=two: got "two", expected an integer \(Integer\)/,
    ],
    [['--param', 'LearningRate=fast'], /--param LearningRate=fast: got "fast", expected a number \(Float\)/],
    [['--param', 'Method=qlora'], /--param Method=qlora: got "qlora", expected one of lora, full \(String\)/],
    [
      ['--param', 'ModelApprovalStatus=approved'],
      /got "approved", expected one of PendingManualApproval, Approved, Rejected/,
    ],
    [
      ['--param', 'Nope=1'],
      /--param Nope: no such pipeline parameter \(got value "1"\); expected one of .*TrainInstanceType/,
    ],
    [['--param', 'Epochs'], /--param "Epochs": expected Name=Value/],
    [['--param', 'Epochs=1', '--param', 'Epochs=2'], /--param Epochs: given twice \("1" and "2"\)/],
    [['--display-name', 'bad name'], /--display-name: got "bad name"/],
    // values the definition's types accept but a step would fail on (pipeline-steps/execution-checks.ts)
    [
      ['--param', 'LearningRate=-1'],
      /LearningRate: got "-1", expected a number >= 0 <= 1 \(0 = the method's default\)/,
    ],
    [['--param', 'TestFraction=0.7'], /TestFraction: got "0.7", expected a number >= 0 <= 0.5/],
    [
      ['--param', 'TrainInstanceType=ml.g5.huge'],
      /TrainInstanceType: ml\.g5\.huge is not a known instance type; expected one of ml\.g5\.12xlarge/,
    ],
    [
      ['--param', 'Method=full'],
      /Method full on 1 × ml\.g5\.12xlarge: about \d+(\.\d)? GiB per GPU.*ml\.p4d\.24xlarge/,
    ],
    [['--param', 'IngestInstanceCount=0'], /IngestInstanceCount: got "0", expected an integer >= 1/],
    [['--frobnicate'], /unknown option --frobnicate/],
  ])('start %j fails before any AWS call, naming parameter, value and expectation', async (argv, message) => {
    const refusing = refusingClient();
    const start = createStartCommand({ client: () => refusing, config: () => config, log });
    const result = await run(start, argv);
    expect(result.code).toBe(2);
    expect(result.error?.message).toMatch(message);
    expect(refusing.calls).toEqual([]);
  });

  test('start --definition: validates against a hand-written definition (or a DescribePipeline response)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'medllama-cli-'));
    const fixture = {
      Version: '2020-12-01',
      Parameters: [
        { Name: 'Shards', Type: 'Integer', DefaultValue: 1 },
        { Name: 'Fast', Type: 'Boolean', DefaultValue: false },
        { Name: 'Mode', Type: 'String', DefaultValue: 'a', EnumValues: ['a', 'b'] },
      ],
      Steps: [],
    };
    const plain = join(dir, 'definition.json');
    writeFileSync(plain, JSON.stringify(fixture));
    const described = join(dir, 'describe.json');
    writeFileSync(described, JSON.stringify({ PipelineName: 'x', PipelineDefinition: JSON.stringify(fixture) }));
    for (const file of [plain, described]) {
      const refusing = refusingClient();
      const start = createStartCommand({ client: () => refusing, config: () => config, log });
      const bad = await run(start, ['--definition', file, '--param', 'Fast=yes']);
      expect(bad.error?.message).toMatch(/--param Fast=yes: got "yes", expected true or false \(Boolean\)/);
      logs.length = 0;
      const ok = await run(start, ['--definition', file, '--param', 'Shards=-3', '--param', 'Mode=b', '--dry-run']);
      expect(ok).toEqual({ code: 0 });
      expect(logs).toContain('param     Mode=b');
      expect(logs).toContain('dry run: nothing sent');
      expect(refusing.calls).toEqual([]);
    }
  });

  test('status: newest execution, its steps (recorded shapes), state and parameters', async () => {
    const recorded = withRecorded(client, { ListPipelineExecutionStepsCommand: () => recordedSteps(false) });
    const status = createStatusCommand({ client: () => recorded, config: () => config, log });
    logs.length = 0;
    expect(await run(status, [])).toEqual({ code: 0 });
    expect(recorded.sent.map((c) => c.name)).toEqual([
      'ListPipelineExecutionsCommand',
      'DescribePipelineExecutionCommand',
      'ListPipelineExecutionStepsCommand',
      'ListPipelineParametersForExecutionCommand',
    ]);
    const text = logs.join('\n');
    expect(text).toMatch(
      /^execution arn:aws:sagemaker:us-east-1:\d{12}:pipeline\/medllama-dev\/execution\/\w+ \(run-1\)$/m,
    );
    expect(text).toMatch(/^state {5}Succeeded/m);
    expect(text).toMatch(
      /^ {2}Ingest +Succeeded +9m00s +arn:aws:sagemaker:.*:processing-job\/pipelines-abc123-ingest-x1y2z3$/m,
    );
    expect(text).toMatch(/^ {2}Tokenize +Succeeded +19m00s +arn:.*tokenize-x1y2z3 \(cached\)$/m);
    expect(text.indexOf('Ingest')).toBeLessThan(text.indexOf('Tokenize'));
    expect(text).toContain('progress  2 succeeded, 0 running, 0 failed of 2 started steps');
    expect(text).toContain('params    LearningRate=1e-4 TrainInstanceType=ml.p4d.24xlarge');
  });

  test('status of a failed execution shows the failing step, its reason, and exits 3', async () => {
    const arn = `arn:aws:sagemaker:us-east-1:${ACCOUNT}:pipeline/medllama-dev/execution/fail01`;
    const recorded = withRecorded(refusingClient(), {
      DescribePipelineExecutionCommand: () => ({
        PipelineExecutionArn: arn,
        PipelineExecutionStatus: 'Failed',
        FailureReason: 'Step failure: One or multiple steps failed.',
        CreationTime: new Date(Date.UTC(2026, 10, 27, 8, 0, 0)),
      }),
      ListPipelineExecutionStepsCommand: () => recordedSteps(true),
      ListPipelineParametersForExecutionCommand: () => ({ PipelineParameters: [] }),
    });
    const status = createStatusCommand({
      client: () => recorded,
      config: () => {
        throw new Error('the ARN names the region; cdk.json is not needed');
      },
      log,
    });
    logs.length = 0;
    expect(await run(status, [arn])).toEqual({ code: 3 });
    const text = logs.join('\n');
    expect(text).toContain('reason    Step failure: One or multiple steps failed.');
    expect(text).toMatch(
      /^ {2}Train +Failed +12m00s +arn:.*training-job\/pipelines-abc123-train-x1y2z3 \(2 attempts\)$/m,
    );
    expect(text).toMatch(/↳ ClientError: ResourceLimitExceeded for ml\.p4d\.24xlarge/);
    expect(text).toContain('progress  2 succeeded, 0 running, 1 failed of 3 started steps');
  });

  test('status rejects a malformed execution ARN before any AWS call', async () => {
    const refusing = refusingClient();
    const status = createStatusCommand({ client: () => refusing, config: () => config, log });
    const result = await run(status, ['arn:aws:sagemaker:us-east-1:1:pipeline/x']);
    expect(result.code).toBe(2);
    expect(result.error?.message).toMatch(
      /execution ARN: got "arn:aws:sagemaker:us-east-1:1:pipeline\/x", expected arn:aws/,
    );
    expect(refusing.calls).toEqual([]);
  });

  test('formatStatus says so when no step has started', () => {
    expect(formatStatus({ executionArn: 'e', status: 'Executing', parameters: [], steps: [] })).toEqual([
      'execution e',
      'state     Executing',
      'steps     none reported yet',
    ]);
  });

  describe('approve', () => {
    let packageArn = '';
    beforeAll(async () => {
      await client.send(new CreateModelPackageGroupCommand({ ModelPackageGroupName: 'medllama-dev' }));
      const created = await client.send(
        new CreateModelPackageCommand({
          ModelPackageGroupName: 'medllama-dev',
          ModelApprovalStatus: 'PendingManualApproval',
          CustomerMetadataProperties: { execution: 'abc123' },
          InferenceSpecification: {
            Containers: [{ Image: '763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-vllm:test' }],
            SupportedContentTypes: ['application/json'],
            SupportedResponseMIMETypes: ['application/json'],
          },
        }),
      );
      packageArn = created.ModelPackageArn ?? '';
    });

    test('approves a pending package, keeping its metadata and recording why', async () => {
      const approve = createApproveCommand({ client: () => client, log });
      logs.length = 0;
      expect(await run(approve, [packageArn, '--description', 'PubMedQA +3 points'])).toEqual({ code: 0 });
      expect(logs).toEqual([`approved  ${packageArn} (was PendingManualApproval)`]);
      const after = await client.send(new DescribeModelPackageCommand({ ModelPackageName: packageArn }));
      expect(after.ModelApprovalStatus).toBe('Approved');
      expect(after.ApprovalDescription).toBe('PubMedQA +3 points');
      expect(after.CustomerMetadataProperties).toEqual({ execution: 'abc123' });
    });

    test('approving again changes nothing (no second approval event)', async () => {
      const recorder = withRecorded(client, {});
      const result = await approveModelPackage(recorder, packageArn);
      expect(result).toEqual({ arn: packageArn, previous: 'Approved', current: 'Approved', changed: false });
      expect(recorder.sent.map((c) => c.name)).toEqual(['DescribeModelPackageCommand']);
    });

    test.each([
      [[], /expected one model package ARN, got 0 arguments/],
      [
        ['medllama-dev/1'],
        /model package ARN: got "medllama-dev\/1", expected arn:aws:sagemaker:<region>:<account>:model-package\/<group>\/<version>/,
      ],
      [[`arn:aws:sagemaker:us-east-1:${ACCOUNT}:model-package-group/medllama-dev`], /model package ARN: got/],
    ])('approve %j fails before any AWS call', async (argv, message) => {
      const refusing = refusingClient();
      const approve = createApproveCommand({ client: () => refusing, log });
      const result = await run(approve, argv);
      expect(result.code).toBe(2);
      expect(result.error?.message).toMatch(message);
      expect(refusing.calls).toEqual([]);
    });
  });

  test('moto really does not implement ListPipelineExecutionSteps (why status tests use recorded shapes)', async () => {
    await expect(
      client.send(new ListPipelineExecutionStepsCommand({ PipelineExecutionArn: 'arn:aws:sagemaker:us-east-1:1:x' })),
    ).rejects.toThrow();
  });
});
