import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTAINERS_DIR } from './containers.ts';
import { ExecutionVariables, type StringValue } from './expressions.ts';

/**
 * Experiment tracking in SageMaker's managed MLflow (docs/tracking.md). One MLflow run per pipeline execution,
 * named after the execution id, in an experiment named after the pipeline:
 * - Train's `MlflowConfig` names that run, so SageMaker links the training job to it (DescribeTrainingJob
 *   `MlflowDetails`);
 * - every container step gets MLflow's own environment variables, and `medllama/tracking.py` logs through them;
 * - a tuning step's trials each log to a run of their own under the execution's.
 */

/** The ARN of an MLflow App or tracking server (API model `MlFlowResourceArn`, narrowed to the two kinds). */
export const MLFLOW_RESOURCE_ARN = /^arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:mlflow-(app|tracking-server)\/.+$/;

/** The environment variables medllama/tracking.py reads (MLflow's two, and the run's name). */
export const TRACKING_ENV = {
  trackingUri: 'MLFLOW_TRACKING_URI',
  experimentName: 'MLFLOW_EXPERIMENT_NAME',
  runName: 'MEDLLAMA_MLFLOW_RUN_NAME',
  parentRunName: 'MEDLLAMA_MLFLOW_PARENT_RUN_NAME',
} as const;

/** The experiment: the pipeline's name. */
export const MLFLOW_EXPERIMENT_NAME = ExecutionVariables.PIPELINE_NAME;
/** The run: the execution id. */
export const MLFLOW_RUN_NAME = ExecutionVariables.PIPELINE_EXECUTION_ID;

/**
 * Which run a step logs to:
 * - `job`: a run named after its own job. The cached data steps: an execution id in their environment would differ
 *   every execution and so change their cache key.
 * - `execution`: the execution's run (Train, Evaluate).
 * - `trial`: a tuning step's trials, each a run of its own named after its training job (SageMaker's
 *   `TRAINING_JOB_NAME`) under the execution's run. `HyperParameterTrainingJobDefinition` has no `MlflowConfig`,
 *   but it has `Environment`.
 */
export type TrackedRun = 'job' | 'execution' | 'trial';

/** The environment of a step that logs to MLflow (medllama/tracking.py reads it). */
export function trackingEnvironment(resourceArn: string | undefined, run: TrackedRun): Record<string, StringValue> {
  if (!resourceArn) return {};
  return {
    [TRACKING_ENV.trackingUri]: resourceArn,
    [TRACKING_ENV.experimentName]: MLFLOW_EXPERIMENT_NAME,
    ...(run === 'execution' ? { [TRACKING_ENV.runName]: MLFLOW_RUN_NAME } : {}),
    ...(run === 'trial' ? { [TRACKING_ENV.parentRunName]: MLFLOW_RUN_NAME } : {}),
  };
}

/** A Training job's `MlflowConfig` (CreateTrainingJob): the execution's run in the pipeline's experiment. */
export interface MlflowConfigProps {
  readonly resourceArn: string;
  readonly experimentName: StringValue;
  readonly runName: StringValue;
}

export function mlflowConfig(resourceArn: string): MlflowConfigProps {
  return { resourceArn, experimentName: MLFLOW_EXPERIMENT_NAME, runName: MLFLOW_RUN_NAME };
}

/** The MLflow calls the jobs make: `containers/medllama/mlflow_actions.json` (owned by medllama/tracking.py). */
export const MLFLOW_ACTIONS_PATH = join(CONTAINERS_DIR, 'medllama', 'mlflow_actions.json');

/** The IAM actions (`sagemaker-mlflow:<Call>`) a role needs to log as the jobs do. */
export function mlflowActions(path = MLFLOW_ACTIONS_PATH): string[] {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { tracker?: unknown; platform?: unknown };
  const calls = [raw.tracker, raw.platform].flatMap((list) => (Array.isArray(list) ? list : []));
  if (!calls.length || calls.some((c) => typeof c !== 'string' || !/^[A-Z][A-Za-z]+$/.test(c)))
    throw new Error(`${path}: expected "tracker" and "platform" lists of MLflow API names, got ${JSON.stringify(raw)}`);
  return calls.map((c) => `sagemaker-mlflow:${c}`);
}
