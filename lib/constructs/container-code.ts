import { AssetHashType } from 'aws-cdk-lib';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { buildCodeBundle, writeCodeBundle } from '../private/code-bundle.ts';

export interface ContainerCodeProps {
  /** The `containers/` folder (the `medllama` package, entry scripts, requirements.txt). */
  readonly root: string;
}

/**
 * The container code as one deterministic `sourcedir.tar.gz`-style S3 asset, keyed by the hash of its content:
 * the training toolkit's `sagemaker_submit_directory` and the processing steps' code input both point at it, so
 * unchanged code keeps the same URI and SageMaker Pipelines step caching keeps hitting.
 */
export class ContainerCode extends Construct {
  /** `s3://<asset bucket>/<hash>.tar.gz` (a token until deploy). */
  readonly s3Uri: string;
  /** The CDK asset bucket (a token). */
  readonly bucketName: string;
  /** `<hash>.tar.gz`. */
  readonly objectKey: string;
  /** sha256 of the uncompressed tar. */
  readonly hash: string;
  /** Archive members, in order. */
  readonly files: string[];
  private readonly asset: s3assets.Asset;

  constructor(scope: Construct, id: string, props: ContainerCodeProps) {
    super(scope, id);
    const bundle = buildCodeBundle({ root: props.root });
    this.hash = bundle.hash;
    this.files = bundle.files;
    this.asset = new s3assets.Asset(this, 'Asset', {
      path: writeCodeBundle(bundle),
      assetHash: bundle.hash,
      assetHashType: AssetHashType.CUSTOM,
    });
    this.s3Uri = this.asset.s3ObjectUrl;
    this.bucketName = this.asset.s3BucketName;
    this.objectKey = this.asset.s3ObjectKey;
  }
}
