import { DescribeTrainingJobCommand } from '@aws-sdk/client-sagemaker';
import type { SageMakerLike } from '../aws/clients.ts';

/** Where a training job's MLflow run is (DescribeTrainingJob `MlflowConfig` and `MlflowDetails`). */
export interface MlflowRunLink {
  readonly resourceArn: string;
  readonly experimentName?: string;
  readonly runName?: string;
  readonly experimentId?: string;
  readonly runId?: string;
}

/** The MLflow run of a training job, or undefined when the job has no `MlflowConfig`. */
export async function mlflowRunOf(client: SageMakerLike, trainingJobArn: string): Promise<MlflowRunLink | undefined> {
  const name = trainingJobArn.slice(trainingJobArn.lastIndexOf('/') + 1);
  const job = await client.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
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
 * How to open the run: the AWS CLI command that makes a presigned MLflow UI URL (never the URL itself, which is a
 * login and must not land in a terminal log), and the run's page in that UI.
 */
export function formatMlflowRun(link: MlflowRunLink): string[] {
  const app = /:mlflow-app\//.test(link.resourceArn);
  const open = app
    ? `aws sagemaker create-presigned-mlflow-app-url --arn ${link.resourceArn}`
    : `aws sagemaker create-presigned-mlflow-tracking-server-url --tracking-server-name ${link.resourceArn.slice(link.resourceArn.lastIndexOf('/') + 1)}`;
  const run = link.runName ?? link.runId ?? '?';
  const where = link.experimentName ? ` of experiment ${link.experimentName}` : '';
  const page =
    link.experimentId && link.runId ? `, then the page #/experiments/${link.experimentId}/runs/${link.runId}` : '';
  return [`mlflow    run ${run}${where} in ${link.resourceArn}`, `          open: ${open}${page}`];
}
