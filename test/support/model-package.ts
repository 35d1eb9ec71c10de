/** A model package version registered in a (moto) SageMaker model package group, as the Register step makes one. */
import { CreateModelPackageCommand, type SageMakerClient, UpdateModelPackageCommand } from '@aws-sdk/client-sagemaker';

export const SERVING_IMAGE = '763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-vllm:0.25.1';

/** Registers a package version (pending, as the pipeline does) and approves it unless `approved` is false. */
export async function registerPackage(sm: SageMakerClient, group: string, approved = true): Promise<string> {
  const { ModelPackageArn } = await sm.send(
    new CreateModelPackageCommand({
      ModelPackageGroupName: group,
      ModelApprovalStatus: 'PendingManualApproval',
      InferenceSpecification: {
        Containers: [{ Image: SERVING_IMAGE }],
        SupportedContentTypes: ['application/json'],
        SupportedResponseMIMETypes: ['application/json'],
      },
    }),
  );
  if (!ModelPackageArn) throw new Error('CreateModelPackage returned no ModelPackageArn');
  if (approved) await sm.send(new UpdateModelPackageCommand({ ModelPackageArn, ModelApprovalStatus: 'Approved' }));
  return ModelPackageArn;
}
