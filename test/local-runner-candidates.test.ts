// The definition's own QualityGate → Register | QualityGateFailed, run by the local runner on an evaluation.json that
// medllama.evaluate's assembly wrote (test/fixtures/runner/evaluation_step.py): a merged candidate chosen is the
// folder registered, with metadata naming it; no candidate passing fails with every candidate's failing checks.
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildMedLlamaPipeline, STEP_NAMES } from '../pipeline-steps/definition.ts';
import { runPipeline } from '../pipeline-steps/local/runner.ts';
import type { JsonObject, PipelineDefinition, StepDefinition } from '../pipeline-steps/local/types.ts';
import { PLACEHOLDER_OPTIONS } from './pipeline-options.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const python = existsSync(join(repo, '.venv', 'bin', 'python')) ? join(repo, '.venv', 'bin', 'python') : 'python3';
const CODE = 's3://test-code/runner';
const CANDIDATES = 's3://medllama-local-artifacts/candidates/r/MergeBack';

/** The real definition's QualityGate (with its Register and Fail), after a stand-in Evaluate with the same outputs. */
function definition(scenario: 'merged' | 'none'): PipelineDefinition {
  const real = buildMedLlamaPipeline(PLACEHOLDER_OPTIONS).toJSON() as unknown as PipelineDefinition;
  const gate = real.Steps.find((s) => s.Name === STEP_NAMES.qualityGate)!;
  const evaluate: StepDefinition = {
    Name: STEP_NAMES.evaluate,
    Type: 'Processing',
    Arguments: {
      AppSpecification: {
        ImageUri: 'unused-locally',
        ContainerEntrypoint: ['python3', '/opt/ml/processing/input/code/evaluation_step.py'],
        ContainerArguments: [
          '--scenario',
          scenario,
          '--candidates_uri',
          CANDIDATES,
          '--output_dir',
          '/opt/ml/processing/output/evaluation',
        ],
      },
      ProcessingResources: { ClusterConfig: { InstanceCount: 1, InstanceType: 'ml.m5.xlarge', VolumeSizeInGB: 30 } },
      ProcessingInputs: [
        {
          InputName: 'code',
          AppManaged: false,
          S3Input: {
            S3Uri: `${CODE}/evaluation_step.py`,
            LocalPath: '/opt/ml/processing/input/code',
            S3DataType: 'S3Prefix',
          },
        },
      ],
      ProcessingOutputConfig: {
        Outputs: [
          {
            OutputName: 'evaluation',
            AppManaged: false,
            S3Output: {
              S3Uri: 's3://medllama-local-artifacts/evaluation/r/Evaluate',
              LocalPath: '/opt/ml/processing/output/evaluation',
              S3UploadMode: 'EndOfJob',
            },
          },
        ],
      },
      RoleArn: 'arn:aws:iam::111122223333:role/R',
    },
    PropertyFiles: [{ PropertyFileName: 'EvaluationReport', OutputName: 'evaluation', FilePath: 'evaluation.json' }],
  } as unknown as StepDefinition;
  return { ...real, Steps: [evaluate, gate] };
}

async function run(scenario: 'merged' | 'none') {
  const dir = mkdtempSync(join(tmpdir(), 'medllama-candidates-'));
  mkdirSync(join(dir, 'runs'));
  return runPipeline({
    definition: definition(scenario),
    runsDir: join(dir, 'runs'),
    runId: scenario,
    python,
    mounts: { [CODE]: join(repo, 'test', 'fixtures', 'runner') },
  });
}

describe('local runner: the gate picks a candidate', () => {
  it('registers the chosen merged folder, with metadata naming it and its bounds', async () => {
    const { state, runDir } = await run('merged');
    expect(state.failureReason).toBeUndefined();
    expect(state.order).toEqual(['Evaluate', 'QualityGate', 'Register']);
    const entry = JSON.parse(
      readFileSync(join(runDir, state.steps.Register!.properties!.RegistryEntry as string), 'utf8'),
    ) as { ModelDataLocal: Record<string, string>; Arguments: JsonObject };
    expect(entry.ModelDataLocal['container-0']).toBe('s3/medllama-local-artifacts/candidates/r/MergeBack/slerp-t0.5');
    const container = (entry.Arguments.InferenceSpecification as { Containers: JsonObject[] }).Containers[0]!;
    expect(container.ModelDataSource).toMatchObject({ S3DataSource: { S3Uri: `${CANDIDATES}/slerp-t0.5/` } });
    expect(entry.Arguments.CustomerMetadataProperties).toEqual({
      Candidate: 'slerp-t0.5',
      CandidateMethod: 'slerp t=0.5',
      PerplexityImprovementLower: '0.06',
      PubMedQADeltaLower: '-0.03',
      GeneralRegressionUpper: '0.02',
      CandidatesEvaluated: 'tuned slerp-t0.5',
    });
  });

  it('fails with every candidate’s failing checks when none passes', async () => {
    const { state } = await run('none');
    expect(state.status).toBe('Failed');
    expect(state.order).toEqual(['Evaluate', 'QualityGate', 'QualityGateFailed']);
    const message = state.steps.QualityGateFailed!.failureReason!;
    expect(message).toMatch(/^Quality gate failed: no candidate passed \(showing slerp-t0\.5\): /);
    expect(message).toContain('): tuned: pubmedqa_delta lower bound -0.1 >= -0.04');
    expect(message).toContain('general_regression upper bound 0.05 <= 0.03');
    expect(message).toContain('| slerp-t0.5: perplexity_improvement lower bound 0.01 >= 0.05');
  });
});
