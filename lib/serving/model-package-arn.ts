/**
 * Model package version ARNs: `arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>`
 * (SageMaker writes the group name in lower case there). The deploy Lambda only ever deploys an ARN that parses
 * and names this deployment's account, region and group.
 */
import type { DeploySettings } from './deploy-settings.ts';

export interface ModelPackageRef {
  readonly arn: string;
  readonly region: string;
  readonly account: string;
  /** As written in the ARN (lower case). */
  readonly group: string;
  readonly version: number;
}

const ARN =
  /^arn:aws(?:-cn|-us-gov)?:sagemaker:([a-z]{2}(?:-[a-z]+)+-\d+):(\d{12}):model-package\/([a-z0-9](?:-*[a-z0-9]){0,62})\/([1-9]\d{0,8})$/;

/** The parts of a model package version ARN, or undefined when it is not one. */
export function parseModelPackageArn(arn: string): ModelPackageRef | undefined {
  const m = ARN.exec(arn);
  return m ? { arn, region: m[1], account: m[2], group: m[3], version: Number(m[4]) } : undefined;
}

/** Why `ref` is not a version of this deployment's group in its account and region; undefined when it is. */
export function notOurs(ref: ModelPackageRef, settings: DeploySettings): string | undefined {
  if (ref.account !== settings.accountId)
    return `model package ${ref.arn} is in account ${ref.account}, not ${settings.accountId}`;
  if (ref.region !== settings.region)
    return `model package ${ref.arn} is in region ${ref.region}, not ${settings.region}`;
  if (ref.group !== settings.modelPackageGroupName.toLowerCase())
    return `model package ${ref.arn} is in group ${ref.group}, not ${settings.modelPackageGroupName}`;
  return undefined;
}
