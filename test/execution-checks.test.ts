import { describe, expect, test } from 'vitest';
import { DEMO_MODELS } from '../lib/cli/commands/local-run.ts';
import { buildMedLlamaPipeline } from '../pipeline-steps/definition.ts';
import { executionProblems } from '../pipeline-steps/execution-checks.ts';
import { PLACEHOLDER_OPTIONS } from './pipeline-options.ts';

const defaults = () => {
  const def = buildMedLlamaPipeline({ ...PLACEHOLDER_OPTIONS, tuning: true }).toJSON() as {
    Parameters: { Name: string; DefaultValue?: string | number }[];
  };
  return Object.fromEntries(def.Parameters.map((p) => [p.Name, p.DefaultValue!]));
};

describe('execution checks (start, the local runner, the CDK config)', () => {
  test('the definition’s defaults and each demo’s values pass; every demo runs Evaluate on the CPU', () => {
    expect(executionProblems(defaults())).toEqual([]);
    for (const model of Object.values(DEMO_MODELS)) {
      expect(executionProblems({ ...defaults(), ...model.parameters }), model.id).toEqual([]);
      // the definition's default is cuda, which stops Evaluate at once on a machine without a GPU
      expect(model.parameters.EvaluateDevice, model.id).toBe('cpu');
    }
  });

  test.each([
    [{ LearningRate: -1 }, 'LearningRate: got -1'],
    [{ ValidationFraction: 0.5, TestFraction: 0.5 }, 'ValidationFraction + TestFraction: got 0.5 + 0.5 = 1'],
    [{ TrainInstanceCount: 0 }, 'TrainInstanceCount: got 0, expected an integer >= 1 <= 16'],
    [{ MaxSteps: 0 }, 'MaxSteps: got 0, expected -1'],
    [{ SeqLen: 4096.5 }, 'SeqLen: got 4096.5, expected an integer'],
    [{ EvaluateInstanceType: 'ml.m5.4xlarge' }, 'EvaluateInstanceType: ml.m5.4xlarge has no GPU'],
    [{ DedupInstanceType: 'ml.p4d.24xlarge2' }, 'DedupInstanceType: ml.p4d.24xlarge2 is not a known instance type'],
    [{ TrainInstanceType: 'ml.r5.4xlarge' }, 'TrainInstanceType: ml.r5.4xlarge is not used for training jobs here'],
    [{ Method: 'full' }, 'Method full on 1 × ml.g5.12xlarge'],
    [{ ReplayFraction: 0.6 }, 'ReplayFraction: got 0.6, expected a number >= 0 <= 0.5 (0 = no replay)'],
    [{ ReplayFraction: -0.01 }, 'ReplayFraction: got -0.01, expected a number >= 0'],
    [
      { MergeCandidates: 'slerp:t=0.5 sleep:t=1' },
      `MergeCandidates: got "slerp:t=0.5 sleep:t=1": candidate 'sleep:t=1': unknown method 'sleep'`,
    ],
    [
      { MergeCandidates: Array.from({ length: 30 }, (_, i) => `linear:t=0.${i + 10}`).join(' ') },
      'MergeCandidates: got 419 characters, expected at most 256',
    ],
    [{ MergeCandidates: 'ties:weight=2' }, "candidate 'ties:weight=2': weight=2, expected a number in [0, 1]"],
    [{ MergeInstanceType: 'ml.g5.2xlarge2' }, 'MergeInstanceType: ml.g5.2xlarge2 is not a known instance type'],
    [
      { ReplayDataUri: 'bucket/replay/' },
      `ReplayDataUri: got "bucket/replay/", expected an s3://bucket/prefix URI of the replay corpus, or '' for none`,
    ],
  ])('%j is refused with the parameter, the value and what is allowed', (change, message) => {
    const problems = executionProblems({ ...defaults(), ...change });
    expect(problems.join('\n')).toContain(message);
  });

  test('replay: none by default (ReplayDataUri empty, ReplayFraction 0.01), 0 and a prefix are allowed', () => {
    expect(defaults()).toMatchObject({ ReplayDataUri: '', ReplayFraction: 0.01 });
    const replay = { ReplayDataUri: 's3://my-data/replay/general/', ReplayFraction: 0 };
    expect(executionProblems({ ...defaults(), ...replay })).toEqual([]);
  });

  test('full fine-tuning passes where it fits', () => {
    expect(executionProblems({ ...defaults(), Method: 'full', TrainInstanceType: 'ml.p4d.24xlarge' })).toEqual([]);
    expect(executionProblems({ ...defaults(), Method: 'full', TrainInstanceCount: 2 })).toEqual([]);
  });
});
