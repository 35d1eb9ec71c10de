import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';
import { acknowledgeWildcards } from './nag-acknowledge.ts';

/** Key prefix of the MLflow artifact store in the artifact bucket. */
export const MLFLOW_ARTIFACT_PREFIX = 'mlflow/';

export interface MlflowAppProps {
  /** The App's name (1-256 letters, digits and '-'; not part of its ARN). */
  readonly name: string;
  /** Where MLflow keeps run artifacts: `s3://<bucket>/mlflow/`. */
  readonly artifactBucket: s3.IBucket;
  /** The bucket's key. */
  readonly key: kms.IKey;
}

/**
 * A serverless SageMaker MLflow App (`AWS::SageMaker::MlflowApp`) with the role it uses to reach its artifact store.
 * Least privilege: that role reads, writes and lists only `mlflow/` in the artifact bucket, with the bucket's key.
 * CreateMlflowApp's documentation suggests AmazonS3FullAccess; this narrower role is what the App needs for an
 * artifact store in one bucket (not yet exercised on AWS: docs/tracking.md).
 */
export class MlflowApp extends Construct {
  readonly app: sagemaker.CfnMlflowApp;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: MlflowAppProps) {
    super(scope, id);
    if (!/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$/.test(props.name)) {
      throw new Error(`MlflowApp: name "${props.name}" is not 1-256 letters, digits and '-' (starting with one)`);
    }
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: `MedLlama: the MLflow App ${props.name} reads and writes its artifact store`,
    });
    const objects = props.artifactBucket.arnForObjects(`${MLFLOW_ARTIFACT_PREFIX}*`);
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ArtifactStoreObjects',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
        resources: [objects],
      }),
    );
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ArtifactStoreList',
        actions: ['s3:ListBucket', 's3:GetBucketLocation'],
        resources: [props.artifactBucket.bucketArn],
      }),
    );
    props.key.grant(this.role, 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey');
    acknowledgeWildcards(this.role.node.findChild('DefaultPolicy'), {
      ArtifactStoreObjects: `MLflow names artifact objects by experiment and run id under ${MLFLOW_ARTIFACT_PREFIX} at run time.`,
    });

    this.app = new sagemaker.CfnMlflowApp(this, 'Resource', {
      name: props.name,
      artifactStoreUri: props.artifactBucket.s3UrlForObject(MLFLOW_ARTIFACT_PREFIX),
      roleArn: this.role.roleArn,
      modelRegistrationMode: 'AutoModelRegistrationDisabled',
    });
    this.app.node.addDependency(this.role);
  }

  /** `arn:aws:sagemaker:<region>:<account>:mlflow-app/<id>` */
  get arn(): string {
    return this.app.attrArn;
  }
}
