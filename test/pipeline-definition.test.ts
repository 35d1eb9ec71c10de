import { beforeAll, describe, expect, test } from 'vitest';
import {
  buildMedLlamaPipeline,
  GATE_SUMMARY_PATH,
  type MedLlamaPipelineOptions,
  STEP_NAMES,
} from '../pipeline-steps/definition.ts';
import type { Json } from '../pipeline-steps/expressions.ts';
import { dataVolumes } from '../pipeline-steps/sizing.ts';
import { formatIssues, loadServiceModel, type ServiceModel, validateDefinition } from '../pipeline-steps/validate.ts';
import { PLACEHOLDER_OPTIONS } from './pipeline-options.ts';
import { jsonGetPaths } from './support/definition.ts';

type Obj = Record<string, unknown> & { Arguments: Record<string, unknown> };

const json = () => buildMedLlamaPipeline(PLACEHOLDER_OPTIONS).toJSON() as { Steps: Obj[]; Parameters: Obj[] } & Obj;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const step = (def: { Steps: Obj[] }, name: string): Obj => {
  const all: Obj[] = [];
  const visit = (list: Obj[]) => {
    for (const s of list) {
      all.push(s);
      if (s.Type === 'Condition') visit([...(s.Arguments.IfSteps as Obj[]), ...(s.Arguments.ElseSteps as Obj[])]);
    }
  };
  visit(def.Steps);
  const found = all.find((s) => s.Name === name);
  if (!found) throw new Error(`no step ${name}`);
  return found;
};

describe('MedLlama pipeline definition', () => {
  test('matches the committed file snapshot', async () => {
    await expect(`${JSON.stringify(json(), null, 2)}\n`).toMatchFileSnapshot('__snapshots__/pipeline-definition.json');
  });

  test('synth twice gives byte-identical JSON (no timestamps, no random names)', () => {
    expect(buildMedLlamaPipeline(PLACEHOLDER_OPTIONS).toString()).toBe(
      buildMedLlamaPipeline(PLACEHOLDER_OPTIONS).toString(),
    );
    expect(JSON.stringify(json())).not.toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:/);
  });

  test('definition size stays well under the 100 KB inline threshold', () => {
    const bytes = Buffer.byteLength(buildMedLlamaPipeline(PLACEHOLDER_OPTIONS).toString());
    const tuned = Buffer.byteLength(
      buildMedLlamaPipeline({ ...PLACEHOLDER_OPTIONS, tuning: true, spot: true }).toString(),
    );
    console.log(`pipeline definition: ${bytes} bytes compact (${tuned} with tuning + spot)`);
    expect(bytes).toBeLessThan(100 * 1024);
    expect(tuned).toBeLessThan(100 * 1024);
  });

  test('top level is what Pipeline.definition() emits', () => {
    const def = json();
    expect(Object.keys(def)).toEqual(['Version', 'Metadata', 'Parameters', 'PipelineExperimentConfig', 'Steps']);
    expect(def.Version).toBe('2020-12-01');
    expect(def.PipelineExperimentConfig).toEqual({
      ExperimentName: { Get: 'Execution.PipelineName' },
      TrialName: { Get: 'Execution.PipelineExecutionId' },
    });
  });

  test('steps: names, types, If/Else inline only', () => {
    const def = json();
    expect(def.Steps.map((s) => [s.Name, s.Type])).toEqual([
      ['Ingest', 'Processing'],
      ['Dedup', 'Processing'],
      ['Tokenize', 'Processing'],
      ['Train', 'Training'],
      ['MergeBack', 'Processing'],
      ['Evaluate', 'Processing'],
      ['QualityGate', 'Condition'],
    ]);
    const gate = step(def, STEP_NAMES.qualityGate);
    expect((gate.Arguments.IfSteps as Obj[]).map((s) => s.Name)).toEqual(['Register']);
    expect((gate.Arguments.ElseSteps as Obj[]).map((s) => s.Name)).toEqual(['QualityGateFailed']);
    expect(def.Steps.map((s) => s.Name)).not.toContain('Register');
  });

  test('caching on the data steps, retries on every job step', () => {
    const def = json();
    for (const name of ['Ingest', 'Dedup', 'Tokenize']) {
      expect(step(def, name).CacheConfig).toEqual({ Enabled: true, ExpireAfter: 'P30D' });
    }
    for (const name of ['Train', 'MergeBack', 'Evaluate']) expect(step(def, name)).not.toHaveProperty('CacheConfig');
    for (const name of ['Ingest', 'Dedup', 'Tokenize', 'Train', 'MergeBack', 'Evaluate']) {
      const types = (step(def, name).RetryPolicies as { ExceptionType: string[] }[]).flatMap((p) => p.ExceptionType);
      expect(types).toEqual([
        'Step.SERVICE_FAULT',
        'Step.THROTTLING',
        'SageMaker.CAPACITY_ERROR',
        'SageMaker.RESOURCE_LIMIT',
      ]);
    }
  });

  test('steps are wired through Get handles, never string-built S3 paths', () => {
    const text = JSON.stringify(json());
    expect(text).toContain('"Get":"Steps.Ingest.ProcessingOutputConfig.Outputs[\'ingest\'].S3Output.S3Uri"');
    expect(text).toContain('"Get":"Steps.Dedup.ProcessingOutputConfig.Outputs[\'dedup\'].S3Output.S3Uri"');
    expect(text).toContain('"Get":"Steps.Tokenize.ProcessingOutputConfig.Outputs[\'tokenize\'].S3Output.S3Uri"');
    expect(text).toContain('"Get":"Steps.Train.ModelArtifacts.S3ModelArtifacts"');
    expect(text).toContain('"Get":"Steps.Evaluate.PropertyFiles.EvaluationReport"');
  });

  test('processing steps: code input, entry script, explicit path flags', () => {
    const ingest = step(json(), 'Ingest').Arguments as {
      AppSpecification: { ContainerEntrypoint: string[]; ContainerArguments: unknown[]; ImageUri: string };
    };
    expect(ingest.AppSpecification.ContainerEntrypoint).toEqual(['python3', '/opt/ml/processing/input/code/ingest.py']);
    expect(ingest.AppSpecification.ImageUri).toContain('huggingface-pytorch-training');
    const args = ingest.AppSpecification.ContainerArguments;
    expect(args.slice(0, 4)).toEqual([
      '--input_dir',
      '/opt/ml/processing/input/articles',
      '--output_dir',
      '/opt/ml/processing/output/ingest',
    ]);
    expect(args).toContain('--decontam_pmids');
    expect(args[args.indexOf('--decontam_pmids') + 1]).toBe('/opt/ml/processing/input/decontam/pqal_all_pmids.txt');
    expect(args[args.indexOf('--licenses') + 1]).toEqual({ Get: 'Parameters.Licenses' });
  });

  test('a .tar.gz code URI is unpacked by the entry point before the script runs', () => {
    const def = buildMedLlamaPipeline({
      ...PLACEHOLDER_OPTIONS,
      codeUri: 's3://b-code/x/sourcedir.tar.gz',
    }).toJSON() as {
      Steps: Obj[];
    };
    const app = step(def, 'Dedup').Arguments.AppSpecification as { ContainerEntrypoint: string[] };
    expect(app.ContainerEntrypoint[0]).toBe('/bin/sh');
    expect(app.ContainerEntrypoint[2]).toContain('tar -xzf /opt/ml/processing/input/code/sourcedir.tar.gz');
    expect(app.ContainerEntrypoint[2]).toContain('exec python3 dedup.py "$@"');
  });

  test('train: HF framework hyperparameters, uncompressed output, metrics from the train step', () => {
    const train = step(json(), 'Train').Arguments as Record<string, Record<string, unknown>>;
    expect(train.HyperParameters).toMatchObject({
      sagemaker_program: '"train.py"',
      sagemaker_submit_directory: `"${PLACEHOLDER_OPTIONS.trainingCodeUri}"`,
      sagemaker_container_log_level: '20',
      sagemaker_region: '"us-east-1"',
      sagemaker_torch_distributed_enabled: 'true',
      method: { Get: 'Parameters.Method' },
      lora_r: { 'Std:Join': { On: '', Values: [{ Get: 'Parameters.LoraRank' }] } },
      lr_scheduler: '"cosine"',
    });
    expect(train.OutputDataConfig).toMatchObject({ CompressionType: 'NONE', KmsKeyId: PLACEHOLDER_OPTIONS.kmsKeyArn });
    expect(train.EnableNetworkIsolation).toBe(false);
    expect(train.EnableInterContainerTrafficEncryption).toBe(true); // multi-instance FSDP/DDP traffic
    expect(train).not.toHaveProperty('EnableManagedSpotTraining');
    expect((train.AlgorithmSpecification.MetricDefinitions as { Name: string }[]).map((m) => m.Name)).toContain(
      'validation:loss',
    );
    expect((train.InputDataConfig as unknown as { ChannelName: string }[]).map((c) => c.ChannelName)).toEqual([
      'train',
      'validation',
      'replay',
      'base_model',
    ]);
  });

  test('replay: Tokenize gets ReplayDataUri as an argument (it may be empty); Train reads its replay split', () => {
    const def = json();
    const args = step(def, 'Tokenize').Arguments.AppSpecification as { ContainerArguments: unknown[] };
    const at = args.ContainerArguments.indexOf('--replay_uri');
    expect(args.ContainerArguments[at + 1]).toEqual({ Get: 'Parameters.ReplayDataUri' });
    const train = step(def, 'Train').Arguments;
    const replay = (train.InputDataConfig as unknown as Obj[]).find((c) => c.ChannelName === 'replay');
    expect(JSON.stringify(replay)).toContain(
      '"Steps.Tokenize.ProcessingOutputConfig.Outputs[\'tokenize\'].S3Output.S3Uri"},"replay"',
    );
    expect((train.HyperParameters as Obj).replay_fraction).toEqual({
      'Std:Join': { On: '', Values: [{ Get: 'Parameters.ReplayFraction' }] },
    });
  });

  test('spot is synth-time: MaxWait + checkpoints only when on', () => {
    const spot = buildMedLlamaPipeline({ ...PLACEHOLDER_OPTIONS, spot: true }).toJSON() as { Steps: Obj[] };
    const args = step(spot, 'Train').Arguments;
    expect(args).toMatchObject({
      EnableManagedSpotTraining: true,
      StoppingCondition: { MaxRuntimeInSeconds: 432000, MaxWaitTimeInSeconds: 864000 },
      CheckpointConfig: { LocalPath: '/opt/ml/checkpoints' },
    });
    expect(JSON.stringify(json())).not.toContain('MaxWaitTimeInSeconds');
  });

  describe('merge-back candidates', () => {
    const inputs = (def: { Steps: Obj[] }, name: string) =>
      step(def, name).Arguments.ProcessingInputs as { InputName: string; S3Input: { S3Uri: unknown } }[];
    const candidatesOutput = {
      Get: "Steps.MergeBack.ProcessingOutputConfig.Outputs['candidates'].S3Output.S3Uri",
    };
    const report = { Get: 'Steps.Evaluate.PropertyFiles.EvaluationReport' };

    test('MergeBack reads the base and the tuned model and builds MergeCandidates on MergeInstanceType', () => {
      const def = json();
      const merge = step(def, STEP_NAMES.mergeBack).Arguments;
      const byName = Object.fromEntries(inputs(def, 'MergeBack').map((i) => [i.InputName, i.S3Input.S3Uri]));
      expect(byName.tuned_model).toEqual({ Get: 'Steps.Train.ModelArtifacts.S3ModelArtifacts' });
      expect(byName.base_model).toBe(PLACEHOLDER_OPTIONS.baseModel.s3Uri);
      const args = merge.AppSpecification as { ContainerArguments: unknown[] };
      const at = args.ContainerArguments.indexOf('--candidates');
      expect(args.ContainerArguments[at + 1]).toEqual({ Get: 'Parameters.MergeCandidates' });
      const resources = (merge.ProcessingResources as { ClusterConfig: Record<string, unknown> }).ClusterConfig;
      expect(resources.InstanceType).toEqual({ Get: 'Parameters.MergeInstanceType' });
      expect(resources.VolumeKmsKeyId).toBe(PLACEHOLDER_OPTIONS.kmsKeyArn);
      expect((merge.ProcessingOutputConfig as Record<string, unknown>).KmsKeyId).toBe(PLACEHOLDER_OPTIONS.kmsKeyArn);
      const params = Object.fromEntries(def.Parameters.map((p) => [p.Name, p.DefaultValue]));
      expect(params.MergeCandidates).toBe('slerp:t=0.5');
      expect(params.MergeInstanceType).toBe('ml.r5.2xlarge');
    });

    test('Evaluate gets the candidates and where each lives; Register registers the chosen one', () => {
      const def = json();
      const evalInputs = Object.fromEntries(inputs(def, 'Evaluate').map((i) => [i.InputName, i.S3Input.S3Uri]));
      expect(evalInputs.candidates).toEqual(candidatesOutput);
      const evalArgs = (step(def, 'Evaluate').Arguments.AppSpecification as { ContainerArguments: unknown[] })
        .ContainerArguments;
      const arg = (flag: string) => evalArgs[evalArgs.indexOf(flag) + 1];
      expect(arg('--candidates_uri')).toEqual(candidatesOutput);
      expect(arg('--tuned_model_uri')).toEqual({ Get: 'Steps.Train.ModelArtifacts.S3ModelArtifacts' });
      expect(arg('--candidates_dir')).toBe('/opt/ml/processing/input/candidates');
      const register = step(def, STEP_NAMES.register).Arguments as {
        InferenceSpecification: { Containers: { ModelDataSource: { S3DataSource: { S3Uri: unknown } } }[] };
        CustomerMetadataProperties: Record<string, unknown>;
      };
      expect(register.InferenceSpecification.Containers[0]!.ModelDataSource.S3DataSource.S3Uri).toEqual({
        'Std:Join': {
          On: '',
          Values: [{ 'Std:JsonGet': { PropertyFile: report, Path: 'gate.chosen_model_data' } }, '/'],
        },
      });
      expect(register.CustomerMetadataProperties.Candidate).toEqual({
        'Std:JsonGet': { PropertyFile: report, Path: 'gate.metadata.candidate' },
      });
      expect(Object.keys(register.CustomerMetadataProperties)).toEqual([
        'Candidate',
        'CandidateMethod',
        'PerplexityImprovementLower',
        'PubMedQADeltaLower',
        'GeneralRegressionUpper',
        'CandidatesEvaluated',
      ]);
    });

    test('with tuning, MergeBack and Evaluate read the best training job', () => {
      const def = buildMedLlamaPipeline({ ...PLACEHOLDER_OPTIONS, tuning: true }).toJSON() as { Steps: Obj[] };
      const tuned = inputs(def, 'MergeBack').find((i) => i.InputName === 'tuned_model')!.S3Input.S3Uri;
      expect(tuned).toEqual(inputs(def, 'Evaluate').find((i) => i.InputName === 'tuned_model')!.S3Input.S3Uri);
    });
  });

  describe('JumpStart base model', () => {
    const js = {
      kind: 'jumpstart',
      acceptEula: true,
      s3Uri: 's3://jumpstart-private-cache-prod-us-east-1/meta-training/x.tar.gz',
    } as const;
    const staged = { Get: 'Steps.StageBaseModel.ModelArtifacts.S3ModelArtifacts' };
    const jsDef = (extra: Partial<typeof PLACEHOLDER_OPTIONS> = {}) =>
      buildMedLlamaPipeline({ ...PLACEHOLDER_OPTIONS, baseModel: js, ...extra }).toJSON() as {
        Steps: Obj[];
        Parameters: Obj[];
      };
    const input = (def: { Steps: Obj[] }, stepName: string, name: string) =>
      (step(def, stepName).Arguments.ProcessingInputs as Obj[]).find((i) => i.InputName === name) as unknown as {
        S3Input: { S3Uri: unknown; LocalPath: string };
      };

    test('StageBaseModel: a cached CPU Training step, the only one reading the gated archive (with the EULA)', () => {
      const def = jsDef();
      expect(def.Steps.map((s) => s.Name)).toEqual([STEP_NAMES.stageBaseModel, ...json().Steps.map((s) => s.Name)]);
      const stage = step(def, STEP_NAMES.stageBaseModel);
      expect(stage.Type).toBe('Training');
      expect(stage.CacheConfig).toEqual({ Enabled: true, ExpireAfter: 'P30D' });
      expect(stage.Arguments).toMatchObject({
        AlgorithmSpecification: { TrainingInputMode: 'File' },
        HyperParameters: {
          model_type: '"llama"',
          sagemaker_program: '"stage_base_model.py"',
          sagemaker_submit_directory: `"${PLACEHOLDER_OPTIONS.trainingCodeUri}"`,
          sagemaker_region: '"us-east-1"',
        },
        InputDataConfig: [
          {
            ChannelName: 'base_model',
            ContentType: 'application/x-sagemaker-model',
            CompressionType: 'None',
            InputMode: 'File',
            DataSource: {
              S3DataSource: { S3Uri: js.s3Uri, S3DataType: 'S3Prefix', ModelAccessConfig: { AcceptEula: true } },
            },
          },
        ],
        OutputDataConfig: {
          S3OutputPath: `s3://${PLACEHOLDER_OPTIONS.artifactBucket}/training`,
          CompressionType: 'NONE',
          KmsKeyId: PLACEHOLDER_OPTIONS.kmsKeyArn,
        },
        ResourceConfig: {
          InstanceType: 'ml.m5.2xlarge',
          InstanceCount: 1,
          VolumeSizeInGB: 100,
          VolumeKmsKeyId: PLACEHOLDER_OPTIONS.kmsKeyArn,
        },
      });
      expect(stage.Arguments.HyperParameters).not.toHaveProperty('sagemaker_torch_distributed_enabled');
      // Nothing varies per execution, so the cache hits on every later run.
      expect(JSON.stringify(stage.Arguments)).not.toContain('Execution.');
      // The gated URI and the EULA appear in StageBaseModel only.
      const others = def.Steps.filter((s) => s.Name !== STEP_NAMES.stageBaseModel);
      expect(JSON.stringify(others)).not.toContain('jumpstart-private-cache');
      expect(JSON.stringify(others)).not.toContain('ModelAccessConfig');
    });

    test('Tokenize, Train and Evaluate read the staged folder (Tokenize only its tokenizer.json)', () => {
      const def = jsDef();
      expect(input(def, 'Tokenize', 'tokenizer').S3Input.S3Uri).toEqual({
        'Std:Join': { On: '/', Values: [staged, 'tokenizer.json'] },
      });
      const channel = (step(def, 'Train').Arguments.InputDataConfig as Obj[]).find(
        (c) => c.ChannelName === 'base_model',
      );
      expect(channel).toEqual({
        ChannelName: 'base_model',
        DataSource: {
          S3DataSource: { S3DataType: 'S3Prefix', S3Uri: staged, S3DataDistributionType: 'FullyReplicated' },
        },
        CompressionType: 'None',
        InputMode: 'File',
      });
      expect(input(def, 'Evaluate', 'base_model').S3Input.S3Uri).toEqual(staged);
      // A tokenizer given explicitly wins (and is not the staged folder).
      const own = jsDef({ tokenizerUri: 's3://medllama-data-111122223333/tokenizer/' });
      expect(input(own, 'Tokenize', 'tokenizer').S3Input.S3Uri).toBe('s3://medllama-data-111122223333/tokenizer/');
      // Tuning: the staged folder is the tuning jobs' channel too.
      const tuned = jsDef({ tuning: true, spot: true });
      const tuningChannels = (
        step(tuned, 'Train').Arguments.TrainingJobDefinition as { InputDataConfig: { DataSource: unknown }[] }
      ).InputDataConfig;
      expect(JSON.stringify(tuningChannels)).toContain('Steps.StageBaseModel.ModelArtifacts.S3ModelArtifacts');
    });

    test('the definition validates against the SageMaker API model (plain, spot + tuning, no KMS key)', () => {
      for (const extra of [{}, { tuning: true, spot: true }, { kmsKeyArn: undefined }]) {
        expect(formatIssues(validateDefinition(jsDef(extra) as unknown as Json))).toBe('');
      }
      const noKms = step(jsDef({ kmsKeyArn: undefined }), STEP_NAMES.stageBaseModel).Arguments;
      expect(JSON.stringify(noKms)).not.toContain('KmsKeyId');
    });

    test('an S3 base model keeps the definition without StageBaseModel', () => {
      const names = json().Steps.map((s) => s.Name);
      expect(names).toEqual(['Ingest', 'Dedup', 'Tokenize', 'Train', 'MergeBack', 'Evaluate', 'QualityGate']);
      expect(JSON.stringify(json())).not.toContain('StageBaseModel');
      // Only the tokenizer.json of the folder, never its 13 GB of weights.
      expect(input(json(), 'Tokenize', 'tokenizer').S3Input.S3Uri).toBe(
        `${PLACEHOLDER_OPTIONS.baseModel.s3Uri}tokenizer.json`,
      );
    });
  });

  test('evaluate: GPU default, EvaluationReport property file', () => {
    const def = json();
    const evaluate = step(def, 'Evaluate');
    expect(evaluate.PropertyFiles).toEqual([
      { PropertyFileName: 'EvaluationReport', OutputName: 'evaluation', FilePath: 'evaluation.json' },
    ]);
    const p = def.Parameters.find((x) => x.Name === 'EvaluateInstanceType');
    expect(p?.DefaultValue).toBe('ml.g5.2xlarge');
  });

  test('register: vLLM serving env, ModelQuality = evaluation.json, approval from the parameter', () => {
    const args = step(json(), 'Register').Arguments as Record<string, unknown>;
    expect(args).toMatchObject({
      ModelPackageGroupName: 'medllama-llama2-7b',
      ModelApprovalStatus: { Get: 'Parameters.ModelApprovalStatus' },
      InferenceSpecification: {
        Containers: [
          {
            Environment: {
              SM_VLLM_MAX_MODEL_LEN: '4096',
              SM_VLLM_DTYPE: 'bfloat16',
              SM_VLLM_SERVED_MODEL_NAME: 'medllama',
            },
            ModelDataSource: { S3DataSource: { CompressionType: 'None', S3DataType: 'S3Prefix' } },
          },
        ],
      },
      ModelMetrics: {
        ModelQuality: {
          Statistics: {
            ContentType: 'application/json',
            S3Uri: {
              'Std:Join': {
                On: '/',
                Values: [
                  { Get: "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri" },
                  'evaluation.json',
                ],
              },
            },
          },
        },
      },
    });
    const image = (args.InferenceSpecification as { Containers: { Image: string }[] }).Containers[0]!.Image;
    expect(image).toContain('/huggingface-vllm:');
  });

  test('evaluate: benchmarks and general text are passed explicitly; sizes come from parameters', () => {
    const args = (step(json(), 'Evaluate').Arguments.AppSpecification as { ContainerArguments: unknown[] })
      .ContainerArguments;
    const flag = (name: string) => args[args.indexOf(`--${name}`) + 1];
    expect(flag('benchmarks_dir')).toBe('/opt/ml/processing/input/benchmarks');
    expect(flag('general_dir')).toBe('/opt/ml/processing/input/general');
    const joined = (p: string) => ({ 'Std:Join': { On: '', Values: [{ Get: `Parameters.${p}` }] } });
    expect(flag('seq_len')).toEqual(joined('SeqLen'));
    expect(flag('max_test_documents')).toEqual(joined('EvalMaxTestDocuments'));
    expect(flag('bootstrap_samples')).toEqual(joined('EvalBootstrapSamples'));
    expect(flag('pubmedqa_limit')).toEqual(joined('PubMedQALimit'));
    expect(flag('max_new_tokens')).toEqual(joined('EvalMaxNewTokens'));
    // The general-text set is required: without it the regression is not measured and the gate could never pass.
    const { generalTextUri: _, ...noGeneral } = PLACEHOLDER_OPTIONS;
    expect(() => buildMedLlamaPipeline(noGeneral as MedLlamaPipelineOptions)).toThrow(
      /generalTextUri: missing; the quality gate measures the general-text regression and fails without it/,
    );
  });

  test('dedup split fractions and train accumulation are parameters with production defaults', () => {
    const def = json();
    const args = (step(def, 'Dedup').Arguments.AppSpecification as { ContainerArguments: unknown[] })
      .ContainerArguments;
    const flag = (name: string) => args[args.indexOf(`--${name}`) + 1];
    expect(flag('validation_fraction')).toEqual({
      'Std:Join': { On: '', Values: [{ Get: 'Parameters.ValidationFraction' }] },
    });
    expect(flag('test_fraction')).toEqual({ 'Std:Join': { On: '', Values: [{ Get: 'Parameters.TestFraction' }] } });
    const hp = (step(def, 'Train').Arguments as { HyperParameters: Record<string, unknown> }).HyperParameters;
    expect(hp.max_eval_blocks).toEqual({ 'Std:Join': { On: '', Values: [{ Get: 'Parameters.MaxEvalBlocks' }] } });
    expect(hp.gradient_accumulation_steps).toEqual({
      'Std:Join': { On: '', Values: [{ Get: 'Parameters.GradientAccumulationSteps' }] },
    });
    const defaults = Object.fromEntries(def.Parameters.map((p) => [p.Name, p.DefaultValue]));
    expect(defaults).toMatchObject({
      ValidationFraction: 0.01,
      TestFraction: 0.01,
      GradientAccumulationSteps: 8,
      MaxEvalBlocks: 0,
      EvalMaxTestDocuments: 0,
      EvalBootstrapSamples: 10000,
      PubMedQALimit: 0,
      EvalMaxNewTokens: 128,
    });
  });

  test('gate thresholds default to the values recommended in docs/evaluation.md', () => {
    const defaults = Object.fromEntries(json().Parameters.map((p) => [p.Name, p.DefaultValue]));
    expect(defaults).toMatchObject({
      MinPerplexityImprovement: 0.05,
      MinPubMedQADelta: -0.04,
      MaxGeneralRegression: 0.03,
    });
  });

  test('the fail message is the gate summary (every check, bound, threshold and what was not computed)', () => {
    const fail = step(json(), 'QualityGateFailed');
    expect(jsonGetPaths(fail.Arguments)).toEqual([GATE_SUMMARY_PATH]);
    expect(fail.Arguments.ErrorMessage).toMatchObject({
      'Std:Join': { On: '', Values: ['Quality gate failed: ', {}] },
    });
  });

  test('evaluation.json contract: the QualityGate requires every check computed and compares the bounds', () => {
    const gate = step(json(), 'QualityGate');
    expect(jsonGetPaths(gate.Arguments.Conditions)).toEqual([
      'gate.checks_computed',
      'gate.perplexity_improvement_lower',
      'gate.pubmedqa_delta_lower',
      'gate.general_regression_upper',
    ]);
    const conditions = gate.Arguments.Conditions as { Type: string; RightValue: unknown }[];
    expect(conditions.map((c) => [c.Type, c.RightValue])).toEqual([
      ['Equals', 1],
      ['GreaterThanOrEqualTo', { Get: 'Parameters.MinPerplexityImprovement' }],
      ['GreaterThanOrEqualTo', { Get: 'Parameters.MinPubMedQADelta' }],
      ['LessThanOrEqualTo', { Get: 'Parameters.MaxGeneralRegression' }],
    ]);
  });

  test('Evaluate receives the same threshold Parameters the QualityGate compares with', () => {
    const args = (step(json(), 'Evaluate').Arguments.AppSpecification as { ContainerArguments: unknown[] })
      .ContainerArguments;
    const flag = (name: string) => args[args.indexOf(`--${name}`) + 1];
    const joined = (p: string) => ({ 'Std:Join': { On: '', Values: [{ Get: `Parameters.${p}` }] } });
    expect(flag('min_perplexity_improvement')).toEqual(joined('MinPerplexityImprovement'));
    expect(flag('min_pubmedqa_delta')).toEqual(joined('MinPubMedQADelta'));
    expect(flag('max_general_regression')).toEqual(joined('MaxGeneralRegression'));
  });

  test('tuning replaces Train with a Bayesian Tuning step whose best job feeds Evaluate and Register', () => {
    const def = buildMedLlamaPipeline({ ...PLACEHOLDER_OPTIONS, tuning: true }).toJSON() as {
      Steps: Obj[];
      Parameters: Obj[];
    };
    const train = step(def, 'Train');
    expect(train.Type).toBe('Tuning');
    expect(train.Arguments).toMatchObject({
      HyperParameterTuningJobConfig: {
        Strategy: 'Bayesian',
        HyperParameterTuningJobObjective: { Type: 'Minimize', MetricName: 'validation:loss' },
        ResourceLimits: {
          MaxNumberOfTrainingJobs: { Get: 'Parameters.MaxTuningJobs' },
          MaxParallelTrainingJobs: { Get: 'Parameters.MaxParallelTuningJobs' },
        },
      },
    });
    const staticHp = (train.Arguments.TrainingJobDefinition as { StaticHyperParameters: Record<string, unknown> })
      .StaticHyperParameters;
    for (const tuned of ['learning_rate', 'per_device_train_batch_size', 'lora_r'])
      expect(staticHp).not.toHaveProperty(tuned);
    const names = def.Parameters.map((p) => p.Name);
    expect(names).not.toContain('LearningRate');
    expect(names).toContain('MaxTuningJobs');
    const tunedInput = (step(def, 'Evaluate').Arguments.ProcessingInputs as Obj[]).find(
      (i) => i.InputName === 'tuned_model',
    );
    expect(JSON.stringify(tunedInput)).toContain('Steps.Train.BestTrainingJob.TrainingJobName');
    expect(validateDefinition(def as unknown as Json)).toEqual([]);
  });

  test('fails early on bad options, naming the field', () => {
    expect(() => buildMedLlamaPipeline({ ...PLACEHOLDER_OPTIONS, dataBucket: 's3://x' })).toThrow(
      /dataBucket: got "s3:\/\/x"/,
    );
    expect(() => buildMedLlamaPipeline({ ...PLACEHOLDER_OPTIONS, benchmarksUri: 'pubmedqa/' })).toThrow(
      /benchmarksUri/,
    );
    expect(() => buildMedLlamaPipeline({ ...PLACEHOLDER_OPTIONS, region: 'xx-none-1' })).toThrow(/"xx-none-1"/);
  });
});

describe('validation against the SageMaker API model (botocore service-2.json)', () => {
  let model: ServiceModel;
  beforeAll(() => {
    model = loadServiceModel();
  });
  const issues = (def: unknown) => validateDefinition(def as Json, model);

  test('accepts the definition (default, spot, tuning)', () => {
    console.log(`service model: ${model.source}`);
    for (const options of [
      PLACEHOLDER_OPTIONS,
      { ...PLACEHOLDER_OPTIONS, spot: true },
      { ...PLACEHOLDER_OPTIONS, tuning: true, spot: true },
    ]) {
      const found = issues(buildMedLlamaPipeline(options).toJSON());
      expect(formatIssues(found)).toBe('');
    }
  });

  test('rejects an unknown member', () => {
    const def = clone(json());
    step(def, 'Train').Arguments.ResourceConfig = {
      ...(step(def, 'Train').Arguments.ResourceConfig as object),
      GpuCount: 8,
    };
    expect(formatIssues(issues(def))).toMatch(
      /Train: Arguments\.ResourceConfig\.GpuCount: unknown member of ResourceConfig/,
    );
  });

  test('rejects a missing required member', () => {
    const def = clone(json());
    delete step(def, 'Evaluate').Arguments.RoleArn;
    expect(formatIssues(issues(def))).toMatch(/Evaluate: Arguments\.RoleArn: missing required member/);
    const def2 = clone(json());
    delete (step(def2, 'Train').Arguments.OutputDataConfig as Record<string, unknown>).S3OutputPath;
    expect(formatIssues(issues(def2))).toMatch(/OutputDataConfig\.S3OutputPath: missing required/);
  });

  test('rejects a bad enum value, also through a parameter default', () => {
    const def = clone(json());
    (step(def, 'Train').Arguments.OutputDataConfig as Record<string, unknown>).CompressionType = 'None';
    expect(formatIssues(issues(def))).toMatch(/OutputDataConfig\.CompressionType: "None" is not one of GZIP, NONE/);
    const def2 = clone(json());
    def2.Parameters.find((p) => p.Name === 'TrainInstanceType')!.DefaultValue = 'ml.g5.13xlarge';
    expect(formatIssues(issues(def2))).toMatch(/parameter TrainInstanceType value "ml.g5.13xlarge".*not one of/);
  });

  test('rejects a dangling Get (step, output, property file, parameter)', () => {
    const text = JSON.stringify(json());
    const broken = (from: string, to: string) => issues(JSON.parse(text.split(from).join(to)));
    expect(formatIssues(broken("Outputs['tokenize']", "Outputs['tokens']"))).toMatch(
      /step Tokenize has no output tokens/,
    );
    expect(formatIssues(broken('Steps.Train.ModelArtifacts', 'Steps.Training.ModelArtifacts'))).toMatch(
      /no step named Training/,
    );
    expect(formatIssues(broken('PropertyFiles.EvaluationReport', 'PropertyFiles.Report'))).toMatch(
      /no property file Report/,
    );
    expect(formatIssues(broken('Parameters.SeqLen"', 'Parameters.SequenceLength"'))).toMatch(
      /no parameter SequenceLength/,
    );
    expect(formatIssues(broken('ModelArtifacts.S3ModelArtifacts', 'ModelArtifacts.S3Uri'))).toMatch(
      /has no property S3Uri/,
    );
  });

  test('rejects a parameter of the wrong type, generated names and Pipelines-denied members', () => {
    const def = clone(json());
    (step(def, 'Train').Arguments.ResourceConfig as Record<string, unknown>).InstanceCount = {
      Get: 'Parameters.Method',
    };
    step(def, 'Dedup').Arguments.ProcessingJobName = 'fixed-name';
    step(def, 'Register').Arguments.CertifyForMarketplace = false;
    const text = formatIssues(issues(def));
    expect(text).toMatch(/parameter Method is String, the field expects integer/);
    expect(text).toMatch(/ProcessingJobName: Pipelines generates this name/);
    expect(text).toMatch(/CertifyForMarketplace: rejected by SageMaker Pipelines/);
  });

  test('rejects bad step-level members: retry policy, step name, property file output', () => {
    const def = clone(json());
    (step(def, 'Ingest').RetryPolicies as Record<string, unknown>[])[0]!.ExpireAfterMin = 10;
    step(def, 'Dedup').Name = 'Dedup step';
    (step(def, 'Evaluate').PropertyFiles as Record<string, unknown>[])[0]!.OutputName = 'report';
    const text = formatIssues(issues(def));
    expect(text).toMatch(/exactly one of MaxAttempts and ExpireAfterMin/);
    expect(text).toMatch(/invalid step name "Dedup step"/);
    expect(text).toMatch(/no processing output named report/);
  });
});

describe('data at corpus scale (what SageMaker copies onto each volume)', () => {
  interface ProcessingArgs {
    ProcessingInputs: { InputName: string; S3Input: Record<string, unknown> }[];
    AppSpecification: { ContainerArguments: unknown[] };
    ProcessingResources: { ClusterConfig: { VolumeSizeInGB: number } };
  }
  const argsOf = (def: { Steps: Obj[] }, name: string) => step(def, name).Arguments as unknown as ProcessingArgs;
  const ingestOf = (def: { Steps: Obj[] }) => argsOf(def, 'Ingest');
  const inputs = (args: ProcessingArgs) => args.ProcessingInputs.map((i) => i.InputName);

  test('staged XML: each Ingest instance gets its share (ShardedByS3Key) and processes all of it', () => {
    const ingest = ingestOf(json());
    const articles = ingest.ProcessingInputs.find((i) => i.InputName === 'articles');
    expect(articles?.S3Input).toMatchObject({ S3DataDistributionType: 'ShardedByS3Key', S3InputMode: 'File' });
    const args = ingest.AppSpecification.ContainerArguments;
    expect(args.slice(args.indexOf('--input_sharded'), args.indexOf('--input_sharded') + 2)).toEqual([
      '--input_sharded',
      'true',
    ]);
    // one extraction worker per vCPU, as `plan` assumes (the step's default; the definition does not cap it)
    expect(args[args.indexOf('--workers') + 1]).toBe('0');
    // every flag once (argparse would take the last of two)
    const flags = args.filter((a): a is string => typeof a === 'string' && a.startsWith('--'));
    expect(flags.length).toBe(new Set(flags).size);
  });

  test('the public PMC bucket is read by the step, never declared as a File input', () => {
    const def = buildMedLlamaPipeline({
      ...PLACEHOLDER_OPTIONS,
      ingestSource: 'pmc-open-data',
      inputDataUri: 's3://pmc-oa-opendata/',
    }).toJSON() as { Steps: Obj[] };
    const ingest = ingestOf(def);
    expect(inputs(ingest)).toEqual(['code', ...(PLACEHOLDER_OPTIONS.decontamPmidsUri ? ['decontam'] : [])]);
    expect(JSON.stringify(ingest.ProcessingInputs)).not.toContain('pmc-oa-opendata');
    const args = ingest.AppSpecification.ContainerArguments;
    const at = args.indexOf('--input_mode');
    expect(args.slice(at, at + 4)).toEqual(['--input_mode', 's3', '--s3_uri', { Get: 'Parameters.InputDataUri' }]);
    expect(args[args.indexOf('--input_sharded') + 1]).toBe('false');
  });

  test('volumes hold each step’s inputs and outputs for the corpus (sizing.ts), smaller without copied XML', () => {
    const volume = (def: { Steps: Obj[] }, name: string) =>
      argsOf(def, name).ProcessingResources.ClusterConfig.VolumeSizeInGB;
    const full = json();
    const staged = dataVolumes({ ingestReadsS3: false });
    expect(['Ingest', 'Dedup', 'Tokenize'].map((n) => volume(full, n))).toEqual([
      staged.ingest,
      staged.dedup,
      staged.tokenize,
    ]);
    // 5.6 M articles: 118 KB of XML and 33 KB of documents each, plus 25 % headroom
    expect(staged.ingest).toBe(Math.ceil((5_600_000 * (118_000 + 33_000) * 1.25) / 1e9));
    expect(staged.tokenize).toBeGreaterThan(staged.dedup / 2);
    const open = buildMedLlamaPipeline({ ...PLACEHOLDER_OPTIONS, ingestSource: 'pmc-open-data' }).toJSON() as {
      Steps: Obj[];
    };
    expect(volume(open, 'Ingest')).toBeLessThan(staged.ingest / 3);
    const small = buildMedLlamaPipeline({ ...PLACEHOLDER_OPTIONS, corpusArticles: 1000 }).toJSON() as {
      Steps: Obj[];
    };
    expect(['Ingest', 'Dedup', 'Tokenize'].map((n) => volume(small, n))).toEqual([50, 50, 50]);
    expect(() => dataVolumes({ articles: 0, ingestReadsS3: true })).toThrow(/positive integer/);
  });
});
