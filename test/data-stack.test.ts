import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, test } from 'vitest';
import { DataStack } from '../lib/stacks/data-stack.ts';
import { nagFindings } from './support/nag.ts';

function synth(props: ConstructorParameters<typeof DataStack>[2] = {}) {
  const app = new App();
  const stack = new DataStack(app, 'Data', props);
  return { app, stack, template: Template.fromStack(stack) };
}

describe('DataStack', () => {
  test('creates a KMS key with rotation', () => {
    const { template } = synth();
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  test('data and artifact buckets use the KMS key, versioning, access logs and lifecycle rules', () => {
    const { template } = synth();
    const buckets = template.findResources('AWS::S3::Bucket', {
      Properties: {
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() },
              BucketKeyEnabled: true,
            },
          ],
        },
        VersioningConfiguration: { Status: 'Enabled' },
        LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: Match.anyValue() },
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            Match.objectLike({
              NoncurrentVersionExpiration: { NoncurrentDays: 30 },
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
            }),
          ]),
        },
      },
    });
    expect(Object.keys(buckets)).toHaveLength(2);
  });

  test('the access-log bucket uses SSE-S3 (S3 log delivery cannot use SSE-KMS) and expires logs', () => {
    const { template } = synth({ accessLogDays: 90 });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 90 })]) },
    });
  });

  test('every bucket blocks public access', () => {
    const { template } = synth();
    const buckets = Object.values(template.findResources('AWS::S3::Bucket'));
    expect(buckets).toHaveLength(3);
    for (const bucket of buckets) {
      expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
    }
  });

  test('every bucket policy denies requests without TLS', () => {
    const { template } = synth();
    const policies = Object.values(template.findResources('AWS::S3::BucketPolicy'));
    expect(policies).toHaveLength(3);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument.Statement).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      );
    }
  });

  test('retains buckets and key by default', () => {
    const { template } = synth();
    for (const type of ['AWS::S3::Bucket', 'AWS::KMS::Key']) {
      for (const resource of Object.values(template.findResources(type))) {
        expect(resource.DeletionPolicy).toBe('Retain');
        expect(resource.UpdateReplacePolicy).toBe('Retain');
      }
    }
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  test('retainData=false deletes buckets with their objects', () => {
    const { template } = synth({ retainData: false });
    for (const resource of Object.values(template.findResources('AWS::S3::Bucket'))) {
      expect(resource.DeletionPolicy).toBe('Delete');
    }
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 3);
  });

  test.each([true, false])('cdk-nag AwsSolutions: no unacknowledged findings (retainData=%s)', (retainData) => {
    const { app, stack } = synth({ retainData });
    expect(nagFindings(app, stack)).toEqual([]);
  });

  test('cdk-nag reports a non-compliant bucket (the check can fail)', () => {
    const { app, stack } = synth();
    new s3.Bucket(stack, 'Careless', { encryption: s3.BucketEncryption.UNENCRYPTED });
    expect(nagFindings(app, stack).join('\n')).toMatch(/AwsSolutions-S10 Data\/Careless/);
  });

  test('exports the key and bucket ARNs under stable names, and other stacks import them by name', () => {
    const { app, stack, template } = synth();
    for (const name of ['KeyArn', 'DataBucketArn', 'ArtifactBucketArn']) {
      template.hasOutput(name, { Export: { Name: `Data-${name}` } });
    }
    const consumer = new Stack(app, 'Consumer');
    const imports = stack.importInto(consumer);
    expect(stack.importInto(consumer)).toBe(imports);
    expect(consumer.resolve(imports.artifactBucket.bucketArn)).toEqual({ 'Fn::ImportValue': 'Data-ArtifactBucketArn' });
    expect(consumer.dependencies).toContain(stack);
  });

  test('fails early on invalid retention values', () => {
    expect(() => synth({ noncurrentVersionDays: 0 })).toThrow(
      'DataStack: noncurrentVersionDays must be a whole number of days >= 1, got 0',
    );
  });
});
