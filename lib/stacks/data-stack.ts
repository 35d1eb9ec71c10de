import { CfnOutput, Duration, Fn, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

/** What other stacks import from the DataStack, by stable export name (see {@link DataStack.importInto}). */
export interface DataStackImports {
  readonly key: kms.IKey;
  readonly dataBucket: s3.IBucket;
  readonly artifactBucket: s3.IBucket;
}

export interface DataStackProps extends StackProps {
  /**
   * Keep the buckets and the key when the stack is deleted.
   * @default true - data and models outlive the stack
   */
  readonly retainData?: boolean;
  /**
   * Days after which non-current object versions expire in the data and artifact buckets.
   * @default 30
   */
  readonly noncurrentVersionDays?: number;
  /**
   * Days S3 server access logs are kept.
   * @default 365
   */
  readonly accessLogDays?: number;
}

/**
 * The stateful half of MedLlama: one customer-managed KMS key and three buckets.
 * - `dataBucket`: corpora and every intermediate dataset (ingest, dedup, tokenize outputs).
 * - `artifactBucket`: code bundles, checkpoints, model weights, evaluation reports.
 * - `accessLogBucket`: S3 server access logs of the other two.
 * All block public access, refuse non-TLS requests, and are versioned.
 */
export class DataStack extends Stack {
  readonly key: kms.Key;
  readonly dataBucket: s3.Bucket;
  readonly artifactBucket: s3.Bucket;
  readonly accessLogBucket: s3.Bucket;
  private readonly imported = new Map<Construct, DataStackImports>();

  constructor(scope: Construct, id: string, props: DataStackProps = {}) {
    super(scope, id, props);
    const retainData = props.retainData ?? true;
    const noncurrentVersionDays = props.noncurrentVersionDays ?? 30;
    const accessLogDays = props.accessLogDays ?? 365;
    for (const [name, value] of Object.entries({ noncurrentVersionDays, accessLogDays })) {
      if (!Number.isInteger(value) || value < 1) {
        throw new Error(`DataStack: ${name} must be a whole number of days >= 1, got ${value}`);
      }
    }
    const removalPolicy = retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.key = new kms.Key(this, 'Key', {
      description: 'MedLlama: data, artifacts, logs and notifications',
      enableKeyRotation: true,
      removalPolicy,
    });

    // S3 server access logging can only deliver to a bucket with SSE-S3 default encryption (not SSE-KMS).
    this.accessLogBucket = new s3.Bucket(this, 'AccessLogBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [
        {
          id: 'expire-access-logs',
          expiration: Duration.days(accessLogDays),
          noncurrentVersionExpiration: Duration.days(1),
        },
      ],
      removalPolicy,
      autoDeleteObjects: !retainData,
    });
    Validations.of(this.accessLogBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access-log bucket itself; logging it into itself would loop.',
    });

    const kmsBucket = (id: string, logPrefix: string) =>
      new s3.Bucket(this, id, {
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        versioned: true,
        serverAccessLogsBucket: this.accessLogBucket,
        serverAccessLogsPrefix: logPrefix,
        lifecycleRules: [
          {
            id: 'expire-noncurrent-and-incomplete',
            noncurrentVersionExpiration: Duration.days(noncurrentVersionDays),
            abortIncompleteMultipartUploadAfter: Duration.days(7),
          },
        ],
        removalPolicy,
        autoDeleteObjects: !retainData,
      });
    this.dataBucket = kmsBucket('DataBucket', 'data/');
    this.artifactBucket = kmsBucket('ArtifactBucket', 'artifacts/');

    if (!retainData) acknowledgeAutoDeleteProvider(this);

    for (const [name, value] of Object.entries({
      KeyArn: this.key.keyArn,
      DataBucketArn: this.dataBucket.bucketArn,
      ArtifactBucketArn: this.artifactBucket.bucketArn,
    })) {
      new CfnOutput(this, name, { value, exportName: this.exportName(name) });
    }
  }

  private exportName(name: string): string {
    return `${this.stackName}-${name}`;
  }

  /**
   * The key and buckets as seen from another stack, through stable, named exports (not CDK's generated
   * cross-stack exports): names that do not change with logical ids keep the stacks independently updatable,
   * and let cdk-nag acknowledgments in the importing stack name the exact resource.
   */
  importInto(scope: Construct): DataStackImports {
    const existing = this.imported.get(scope);
    if (existing) return existing;
    const key = kms.Key.fromKeyArn(scope, 'ImportedKey', Fn.importValue(this.exportName('KeyArn')));
    const bucket = (id: string, exportSuffix: string) =>
      s3.Bucket.fromBucketAttributes(scope, id, {
        bucketArn: Fn.importValue(this.exportName(exportSuffix)),
        encryptionKey: key,
      });
    Stack.of(scope).addStackDependency(this, 'imports the key and buckets');
    const imports: DataStackImports = {
      key,
      dataBucket: bucket('ImportedDataBucket', 'DataBucketArn'),
      artifactBucket: bucket('ImportedArtifactBucket', 'ArtifactBucketArn'),
    };
    this.imported.set(scope, imports);
    return imports;
  }
}

/** The auto-delete custom resource exists only with retainData=false; its Lambda is CDK's own. */
function acknowledgeAutoDeleteProvider(stack: Stack): void {
  const provider = stack.node.tryFindChild('Custom::S3AutoDeleteObjectsCustomResourceProvider');
  if (!provider) return;
  Validations.of(provider).acknowledge(
    {
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        'CDK-provided auto-delete handler (only with retainData=false); its basic-execution role is fixed by CDK.',
    },
    {
      id: 'AwsSolutions-L1',
      reason: 'CDK-provided auto-delete handler (only with retainData=false); CDK picks its runtime.',
    },
  );
}
