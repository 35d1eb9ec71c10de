import type { CreateProcessingJobRequest, ProcessingInstanceType } from '@aws-sdk/client-sagemaker';
import { type Expressible, Get, type NumberValue, PropertyFile, type StringValue } from '../expressions.ts';
import { checkStepName, JobStep, type JobStepProps } from './step.ts';

/** The Arguments of a Processing step: CreateProcessingJob without the name Pipelines generates. */
export type ProcessingArguments = Expressible<Omit<CreateProcessingJobRequest, 'ProcessingJobName'>>;

export const PROCESSING_INPUT_ROOT = '/opt/ml/processing/input';
export const PROCESSING_OUTPUT_ROOT = '/opt/ml/processing/output';

export interface ProcessingInputProps {
  /** InputName; also the folder under /opt/ml/processing/input. */
  readonly name: string;
  /** S3 URI (literal or expression) to download. */
  readonly source: StringValue;
  /** @default `/opt/ml/processing/input/<name>` */
  readonly localPath?: string;
  /**
   * `ShardedByS3Key` gives each instance a disjoint share of the objects.
   * @default 'FullyReplicated'
   */
  readonly distribution?: 'FullyReplicated' | 'ShardedByS3Key';
  /** @default 'S3Prefix' */
  readonly s3DataType?: 'S3Prefix' | 'ManifestFile';
  /**
   * The container flag that receives `localPath` (e.g. `input_dir`), so runs outside SageMaker can remap it.
   * @default - no flag
   */
  readonly flag?: string;
}

export interface ProcessingOutputProps {
  /** OutputName; also the folder under /opt/ml/processing/output. */
  readonly name: string;
  /** Where SageMaker uploads the folder. */
  readonly destination: StringValue;
  /** @default `/opt/ml/processing/output/<name>` */
  readonly localPath?: string;
  /** @default - no flag */
  readonly flag?: string;
}

export interface PropertyFileProps {
  readonly name: string;
  readonly outputName: string;
  /** Relative to the output's local path. */
  readonly filePath: string;
}

export interface ProcessingStepProps extends JobStepProps {
  readonly roleArn: string;
  readonly imageUri: string;
  readonly entrypoint: readonly string[];
  /** Container arguments after the path flags of inputs/outputs. @default - none */
  readonly arguments?: readonly StringValue[];
  readonly instanceType: Expressible<ProcessingInstanceType>;
  /** @default 1 */
  readonly instanceCount?: NumberValue;
  /** @default 30 */
  readonly volumeSizeInGB?: NumberValue;
  /** @default - AWS-managed encryption of the volume */
  readonly volumeKmsKeyId?: string;
  /** @default - the bucket's default encryption */
  readonly outputKmsKeyId?: string;
  /** @default 86400 (1 day) */
  readonly maxRuntimeInSeconds?: number;
  /** @default - none */
  readonly environment?: Readonly<Record<string, StringValue>>;
  readonly inputs?: readonly ProcessingInputProps[];
  readonly outputs?: readonly ProcessingOutputProps[];
  /** @default - none */
  readonly propertyFiles?: readonly PropertyFileProps[];
}

/** A Processing step (sagemaker.md §2.1). Outputs and property files are reachable through typed handles. */
export class ProcessingStep extends JobStep {
  readonly type = 'Processing';
  readonly inputs: readonly Required<ProcessingInputProps>[];
  readonly outputs: readonly Required<ProcessingOutputProps>[];
  readonly propertyFiles: readonly PropertyFile[];

  constructor(readonly props: ProcessingStepProps) {
    super(props);
    this.inputs = (props.inputs ?? []).map((i) => ({
      localPath: `${PROCESSING_INPUT_ROOT}/${i.name}`,
      distribution: 'FullyReplicated',
      s3DataType: 'S3Prefix',
      flag: '',
      ...i,
    }));
    this.outputs = (props.outputs ?? []).map((o) => ({
      localPath: `${PROCESSING_OUTPUT_ROOT}/${o.name}`,
      flag: '',
      ...o,
    }));
    unique(
      this.name,
      'input',
      this.inputs.map((i) => i.name),
    );
    unique(
      this.name,
      'output',
      this.outputs.map((o) => o.name),
    );
    for (const n of [...this.inputs.map((i) => i.name), ...this.outputs.map((o) => o.name)]) {
      checkStepName(n, `${this.name}: input/output name`);
    }
    this.propertyFiles = (props.propertyFiles ?? []).map((p) => {
      if (!this.outputs.some((o) => o.name === p.outputName)) {
        throw new Error(
          `${this.name}: property file ${p.name} reads output "${p.outputName}", which the step does not have ` +
            `(outputs: ${this.outputs.map((o) => o.name).join(', ') || 'none'})`,
        );
      }
      return new PropertyFile(this.name, p.name, p.outputName, p.filePath);
    });
  }

  /** `Steps.<name>.ProcessingOutputConfig.Outputs['<output>'].S3Output.S3Uri` */
  output(name: string): Get {
    if (!this.outputs.some((o) => o.name === name)) {
      throw new Error(`${this.name} has no output "${name}" (outputs: ${this.outputs.map((o) => o.name).join(', ')})`);
    }
    return new Get(`Steps.${this.name}.ProcessingOutputConfig.Outputs['${name}'].S3Output.S3Uri`, 'String');
  }

  propertyFile(name: string): PropertyFile {
    const file = this.propertyFiles.find((p) => p.name === name);
    if (!file) throw new Error(`${this.name} has no property file "${name}"`);
    return file;
  }

  /** The path flags (`--input_dir /opt/ml/processing/input/x` …) followed by the step's own arguments. */
  containerArguments(): StringValue[] {
    const flags: StringValue[] = [];
    for (const io of [...this.inputs, ...this.outputs]) {
      if (io.flag) flags.push(`--${io.flag}`, io.localPath);
    }
    return [...flags, ...(this.props.arguments ?? [])];
  }

  protected renderArguments(): ProcessingArguments {
    const p = this.props;
    const args = this.containerArguments();
    return {
      ProcessingResources: {
        ClusterConfig: {
          InstanceType: p.instanceType,
          InstanceCount: p.instanceCount ?? 1,
          VolumeSizeInGB: p.volumeSizeInGB ?? 30,
          ...(p.volumeKmsKeyId ? { VolumeKmsKeyId: p.volumeKmsKeyId } : {}),
        },
      },
      AppSpecification: {
        ImageUri: p.imageUri,
        ContainerEntrypoint: [...p.entrypoint],
        ...(args.length ? { ContainerArguments: args } : {}),
      },
      RoleArn: p.roleArn,
      ...(this.inputs.length
        ? {
            ProcessingInputs: this.inputs.map((i) => ({
              InputName: i.name,
              AppManaged: false,
              S3Input: {
                S3Uri: i.source,
                LocalPath: i.localPath,
                S3DataType: i.s3DataType,
                S3InputMode: 'File' as const,
                S3DataDistributionType: i.distribution,
                S3CompressionType: 'None' as const,
              },
            })),
          }
        : {}),
      ...(this.outputs.length
        ? {
            ProcessingOutputConfig: {
              Outputs: this.outputs.map((o) => ({
                OutputName: o.name,
                AppManaged: false,
                S3Output: { S3Uri: o.destination, LocalPath: o.localPath, S3UploadMode: 'EndOfJob' as const },
              })),
              ...(p.outputKmsKeyId ? { KmsKeyId: p.outputKmsKeyId } : {}),
            },
          }
        : {}),
      StoppingCondition: { MaxRuntimeInSeconds: p.maxRuntimeInSeconds ?? 86_400 },
      ...(p.environment ? { Environment: { ...p.environment } } : {}),
    };
  }

  protected override renderExtras(): Record<string, unknown> {
    return {
      ...super.renderExtras(),
      ...(this.propertyFiles.length ? { PropertyFiles: this.propertyFiles.map((f) => f.toDefinition()) } : {}),
    };
  }
}

function unique(step: string, what: string, names: readonly string[]): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new Error(`${step}: duplicate ${what} name "${n}"`);
    seen.add(n);
  }
}
