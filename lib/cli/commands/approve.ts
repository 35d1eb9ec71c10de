import { DescribeModelPackageCommand, UpdateModelPackageCommand } from '@aws-sdk/client-sagemaker';
import { type SageMakerLike, sageMakerClient } from '../../aws/clients.ts';
import { resolveRegion } from '../../aws/region.ts';
import { type CliCommand, UsageError } from '../command.ts';
import { parseOptions, regionOption } from '../options.ts';

const usage = `usage: medllama approve MODEL_PACKAGE_ARN [--description TEXT] [--region REGION]

Approves a registered model package version (UpdateModelPackage, ModelApprovalStatus=Approved). The approval
event starts the serving stack's deployment to the real-time endpoint.`;

const options = [
  { name: 'description', value: 'TEXT', description: 'why it was approved (stored as ApprovalDescription)' },
  regionOption("the ARN's region"),
] as const;

const MODEL_PACKAGE_ARN = /^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package\/[a-zA-Z0-9-]{1,63}\/\d+$/;

export interface ApproveResult {
  readonly arn: string;
  readonly previous: string;
  readonly current: string;
  readonly changed: boolean;
}

/**
 * Sets a model package's approval status to Approved. Sends the approval description and the package's existing
 * customer metadata with the update, so an implementation that resets omitted fields (moto does) keeps them; an
 * already approved package is left untouched (no duplicate approval event).
 */
export async function approveModelPackage(
  client: SageMakerLike,
  arn: string,
  description = 'Approved with medllama approve',
): Promise<ApproveResult> {
  const before = await client.send(new DescribeModelPackageCommand({ ModelPackageName: arn }));
  const previous = before.ModelApprovalStatus ?? 'Unset';
  if (previous === 'Approved') return { arn, previous, current: previous, changed: false };
  const metadata = before.CustomerMetadataProperties;
  await client.send(
    new UpdateModelPackageCommand({
      ModelPackageArn: arn,
      ModelApprovalStatus: 'Approved',
      ApprovalDescription: description,
      ...(metadata && Object.keys(metadata).length ? { CustomerMetadataProperties: metadata } : {}),
    }),
  );
  const after = await client.send(new DescribeModelPackageCommand({ ModelPackageName: arn }));
  const current = after.ModelApprovalStatus ?? 'Unset';
  if (current !== 'Approved')
    throw new Error(`${arn}: approval status is ${current} after the update, expected Approved`);
  return { arn, previous, current, changed: true };
}

export interface ApproveDeps {
  readonly client: (region: string | undefined) => SageMakerLike;
  readonly log: (line: string) => void;
}

const defaultDeps: ApproveDeps = {
  client: (region) => sageMakerClient({ region }),
  log: (line) => console.log(line),
};

export function createApproveCommand(deps: ApproveDeps = defaultDeps): CliCommand {
  return {
    name: 'approve',
    summary: 'approve a registered model package (triggers deployment)',
    usage,
    options,
    async run(argv: string[]): Promise<number> {
      const { values, positionals } = parseOptions(argv, options, { positionals: true });
      if (positionals.length !== 1) {
        throw new UsageError(`expected one model package ARN, got ${positionals.length} arguments`);
      }
      const arn = positionals[0]!;
      if (!MODEL_PACKAGE_ARN.test(arn)) {
        throw new UsageError(
          `model package ARN: got ${JSON.stringify(arn)}, expected arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>`,
        );
      }
      if (values.description !== undefined && values.description.length > 1024) {
        throw new UsageError(`--description: got ${values.description.length} characters, expected at most 1024`);
      }
      const { region } = resolveRegion({ flag: values.region, arn });
      const result = await approveModelPackage(deps.client(region), arn, values.description);
      deps.log(result.changed ? `approved  ${arn} (was ${result.previous})` : `unchanged ${arn} is already Approved`);
      return 0;
    },
  };
}

export const command = createApproveCommand();
