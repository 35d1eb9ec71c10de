import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArnFormat, Resource, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';
import type { Construct } from 'constructs';

export interface MedLlamaPipelineProps {
  /** Pipeline name: lowercase letters, digits and "-" (it is also the prefix of its ARN). */
  readonly pipelineName: string;
  /** The pipeline definition JSON text; CDK tokens (ARNs, bucket names) embedded in it are resolved at deploy. */
  readonly definitionBody: string;
  /** The role Pipelines assumes to create the step jobs (and passes to them). */
  readonly role: iam.IRole;
  /**
   * A human-readable description.
   * @default - no description
   */
  readonly description?: string;
  /**
   * Most steps of one execution that run at the same time.
   * @default - SageMaker's default (50)
   */
  readonly maxParallelExecutionSteps?: number;
  /**
   * Largest serialized definition, in characters, that goes inline into the template as
   * `PipelineDefinitionBody`. Larger token-free definitions are uploaded as an S3 asset and referenced with
   * `PipelineDefinitionS3Location`. The CloudFormation template limit is 1 MB; the SageMaker API limit is 1,048,576.
   * @default 400_000
   */
  readonly inlineLimit?: number;
}

/**
 * A SageMaker model-building pipeline (AWS::SageMaker::Pipeline) that implements `aws-sagemaker.IPipeline`, so
 * `aws-scheduler-targets.SageMakerStartPipelineExecution` and other integrations accept it.
 * The definition is written with PascalCase `PipelineDefinitionBody` (CfnPipeline's `pipelineDefinition` is typed
 * `any`, so CDK does not convert keys: aws-cdk#25774).
 */
export class MedLlamaPipeline extends Resource implements sagemaker.IPipeline {
  readonly pipelineName: string;
  readonly pipelineArn: string;
  /** Where the definition lives in the template: `inline` or `s3`. */
  readonly definitionLocation: 'inline' | 's3';
  /** The underlying L1 resource. */
  readonly resource: sagemaker.CfnPipeline;

  constructor(scope: Construct, id: string, props: MedLlamaPipelineProps) {
    super(scope, id, { physicalName: props.pipelineName });
    if (!Token.isUnresolved(props.pipelineName) && !/^[a-z0-9](-*[a-z0-9]){0,255}$/.test(props.pipelineName)) {
      throw new Error(
        `MedLlamaPipeline: pipelineName must be lowercase letters, digits and "-" (at most 256), got "${props.pipelineName}"`,
      );
    }
    const maxParallel = props.maxParallelExecutionSteps;
    if (maxParallel !== undefined && (!Number.isInteger(maxParallel) || maxParallel < 1)) {
      throw new Error(`MedLlamaPipeline: maxParallelExecutionSteps must be a whole number >= 1, got ${maxParallel}`);
    }
    const stack = Stack.of(this);
    const body = props.definitionBody;
    const size = body.length;
    const limit = props.inlineLimit ?? 400_000;
    this.definitionLocation = size <= limit ? 'inline' : 's3';

    let pipelineDefinition: Record<string, unknown>;
    if (this.definitionLocation === 'inline') {
      pipelineDefinition = { PipelineDefinitionBody: body };
    } else {
      if (Token.isUnresolved(body)) {
        throw new Error(
          `MedLlamaPipeline: the definition is ${size} characters (over the inline limit of ${limit}) and contains ` +
            'CDK tokens, which an S3 asset cannot resolve; shrink it or make the tokens pipeline Parameters',
        );
      }
      // Read by CloudFormation's deploy role at CreatePipeline time, not by the pipeline's role.
      const asset = new s3assets.Asset(this, 'Definition', { path: writeDefinitionFile(body) });
      pipelineDefinition = { PipelineDefinitionS3Location: { Bucket: asset.s3BucketName, Key: asset.s3ObjectKey } };
    }

    this.resource = new sagemaker.CfnPipeline(this, 'Resource', {
      pipelineName: this.physicalName,
      roleArn: props.role.roleArn,
      pipelineDefinition,
      ...(props.description ? { pipelineDescription: props.description } : {}),
      // Typed `any` like pipelineDefinition, so CDK does not PascalCase it either.
      ...(maxParallel ? { parallelismConfiguration: { MaxParallelExecutionSteps: maxParallel } } : {}),
    });
    // The role's policies must exist before SageMaker validates the pipeline against them.
    const policy = props.role.node.tryFindChild('DefaultPolicy');
    if (policy) this.resource.node.addDependency(policy);
    this.pipelineName = this.getResourceNameAttribute(this.resource.ref);
    this.pipelineArn = this.getResourceArnAttribute(
      stack.formatArn({ service: 'sagemaker', resource: 'pipeline', resourceName: this.resource.ref }),
      {
        service: 'sagemaker',
        resource: 'pipeline',
        resourceName: this.physicalName,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      },
    );
  }

  get pipelineRef(): sagemaker.PipelineReference {
    return { pipelineName: this.pipelineName };
  }

  /** Lets `grantee` start executions of this pipeline. */
  grantStartPipelineExecution(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['sagemaker:StartPipelineExecution'],
      resourceArns: [this.pipelineArn],
    });
  }

  /** Lets `grantee` read this pipeline and its executions (what `medllama status` calls). */
  grantRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: [
        'sagemaker:DescribePipeline',
        'sagemaker:DescribePipelineDefinitionForExecution',
        'sagemaker:DescribePipelineExecution',
        'sagemaker:ListPipelineExecutions',
        'sagemaker:ListPipelineExecutionSteps',
        'sagemaker:ListPipelineParametersForExecution',
      ],
      resourceArns: [this.pipelineArn, `${this.pipelineArn}/execution/*`],
    });
  }
}

function writeDefinitionFile(json: string): string {
  // Content-addressed file, so the asset hash (and the S3 key) depend only on the definition.
  const dir = join(tmpdir(), 'medllama-pipeline-definitions');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${createHash('sha256').update(json).digest('hex')}.json`);
  writeFileSync(file, json);
  return file;
}
