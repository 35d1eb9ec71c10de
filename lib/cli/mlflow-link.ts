import { DescribeTrainingJobCommand, type DescribeTrainingJobCommandOutput } from '@aws-sdk/client-sagemaker';
import { MLFLOW_RESOURCE_ARN, TRACKING_ENV } from '../../pipeline-steps/tracking.ts';
import type { SageMakerLike } from '../aws/clients.ts';

/** Where an execution's MLflow run is: the App (or tracking server), the experiment, the run. */
export interface MlflowRunLink {
  readonly resourceArn: string;
  readonly experimentName?: string;
  readonly runName?: string;
  readonly experimentId?: string;
  readonly runId?: string;
}

/** The run a training job logs to: its `MlflowConfig` and `MlflowDetails` (DescribeTrainingJob); none without one. */
export function mlflowRunOfJob(
  job: Pick<DescribeTrainingJobCommandOutput, 'MlflowConfig' | 'MlflowDetails'>,
): MlflowRunLink | undefined {
  const config = job.MlflowConfig;
  if (!config?.MlflowResourceArn) return undefined;
  return {
    resourceArn: config.MlflowResourceArn,
    ...(config.MlflowExperimentName ? { experimentName: config.MlflowExperimentName } : {}),
    ...(config.MlflowRunName ? { runName: config.MlflowRunName } : {}),
    ...(job.MlflowDetails?.MlflowExperimentId ? { experimentId: job.MlflowDetails.MlflowExperimentId } : {}),
    ...(job.MlflowDetails?.MlflowRunId ? { runId: job.MlflowDetails.MlflowRunId } : {}),
  };
}

/**
 * The run a job of the execution logged to, from its environment as SageMaker ran it (DescribeProcessingJob or
 * DescribeTrainingJob `Environment`, with the definition's expressions resolved): Evaluate's names the execution's
 * run also when Train was a tuning step. None when the job did not log to an App's execution run.
 */
export function mlflowRunOfEnvironment(environment: Record<string, string> | undefined): MlflowRunLink | undefined {
  const arn = environment?.[TRACKING_ENV.trackingUri];
  const run = environment?.[TRACKING_ENV.runName];
  if (!arn || !MLFLOW_RESOURCE_ARN.test(arn) || !run) return undefined;
  const experiment = environment?.[TRACKING_ENV.experimentName];
  return { resourceArn: arn, runName: run, ...(experiment ? { experimentName: experiment } : {}) };
}

/** The MLflow run of a training job, or undefined when the job has no `MlflowConfig`. */
export async function mlflowRunOf(client: SageMakerLike, trainingJobArn: string): Promise<MlflowRunLink | undefined> {
  const name = trainingJobArn.slice(trainingJobArn.lastIndexOf('/') + 1);
  return mlflowRunOfJob(await client.send(new DescribeTrainingJobCommand({ TrainingJobName: name })));
}

/**
 * How to open the run: the AWS CLI command that makes a presigned MLflow UI URL (never the URL itself, which is a
 * login and must not land in a terminal log), and the run's page in that UI when its ids are known.
 */
export function describeMlflowRun(link: MlflowRunLink): { run: string; open: string; page?: string } {
  const app = /:mlflow-app\//.test(link.resourceArn);
  const open = app
    ? `aws sagemaker create-presigned-mlflow-app-url --arn ${link.resourceArn}`
    : `aws sagemaker create-presigned-mlflow-tracking-server-url --tracking-server-name ${link.resourceArn.slice(link.resourceArn.lastIndexOf('/') + 1)}`;
  const where = link.experimentName ? ` of experiment ${link.experimentName}` : '';
  return {
    run: `run ${link.runName ?? link.runId ?? '?'}${where} in ${link.resourceArn}`,
    open,
    ...(link.experimentId && link.runId ? { page: `#/experiments/${link.experimentId}/runs/${link.runId}` } : {}),
  };
}

/** The two lines `medllama status` prints for the run. */
export function formatMlflowRun(link: MlflowRunLink): string[] {
  const { run, open, page } = describeMlflowRun(link);
  return [`mlflow    ${run}`, `          open: ${open}${page ? `, then the page ${page}` : ''}`];
}
