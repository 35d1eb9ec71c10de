import type { CreateModelPackageInput, ModelApprovalStatus } from '@aws-sdk/client-sagemaker';
import { type Expressible, Join, type StringValue } from '../expressions.ts';
import { type RetryPolicy, Step, type StepProps } from './step.ts';

/**
 * The Arguments of a RegisterModel step: CreateModelPackage without ModelPackageName (generated) and
 * without CertifyForMarketplace / ModelPackageDescription-as-Description, which Pipelines rejects (sagemaker.md §2.4).
 */
export type RegisterModelArguments = Expressible<
  Omit<CreateModelPackageInput, 'ModelPackageName' | 'CertifyForMarketplace'>
>;

export interface RegisterModelStepProps extends StepProps {
  readonly modelPackageGroupName: string;
  /** @default 'PendingManualApproval' */
  readonly approvalStatus?: Expressible<ModelApprovalStatus>;
  /** Serving image URI. */
  readonly image: string;
  /** The uncompressed model folder; a trailing '/' is appended (hosting needs it for S3Prefix). */
  readonly modelData: StringValue;
  /** Serving container environment. @default - none */
  readonly environment?: Readonly<Record<string, string>>;
  readonly supportedContentTypes: readonly string[];
  readonly supportedResponseMIMETypes: readonly string[];
  readonly supportedRealtimeInferenceInstanceTypes: readonly string[];
  /**
   * The model package's CustomerMetadataProperties (CreateModelPackage: at most 50, keys 1-128 and values 1-256
   * characters of letters, digits, spaces and `_.:/=+-@`); values may be expressions such as a `Std:JsonGet`.
   * @default - none
   */
  readonly customerMetadataProperties?: Readonly<Record<string, StringValue>>;
  /** S3 URI of the statistics file registered as ModelQuality statistics. @default - no metrics */
  readonly modelQualityStatistics?: { readonly s3Uri: StringValue; readonly contentType: string };
  /** @default - Pipelines' own retries only */
  readonly retryPolicies?: readonly RetryPolicy[];
}

/** A RegisterModel step: a model package version in the group, deployable uncompressed (ModelDataSource). */
export class RegisterModelStep extends Step {
  readonly type = 'RegisterModel';
  constructor(readonly props: RegisterModelStepProps) {
    super(props);
    const metadata = Object.entries(props.customerMetadataProperties ?? {});
    if (metadata.length > 50)
      throw new Error(`${this.name}: ${metadata.length} CustomerMetadataProperties, at most 50`);
    for (const [key, value] of metadata) {
      if (!/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u.test(key) || key.startsWith('aws:')) {
        throw new Error(
          `${this.name}: CustomerMetadataProperties key "${key}" is not 1-128 letters, digits, spaces or _.:/=+-@`,
        );
      }
      if (typeof value === 'string' && !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,256}$/u.test(value)) {
        throw new Error(
          `${this.name}: CustomerMetadataProperties["${key}"] "${value}" is not 1-256 letters, digits, spaces or _.:/=+-@`,
        );
      }
    }
    if (
      !/^(arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:[a-z-]*\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)$/.test(
        props.modelPackageGroupName,
      )
    ) {
      throw new Error(`${this.name}: invalid model package group name "${props.modelPackageGroupName}"`);
    }
  }
  protected renderArguments(): RegisterModelArguments {
    const p = this.props;
    return {
      ModelPackageGroupName: p.modelPackageGroupName,
      ModelApprovalStatus: p.approvalStatus ?? 'PendingManualApproval',
      InferenceSpecification: {
        Containers: [
          {
            Image: p.image,
            ModelDataSource: {
              S3DataSource: {
                S3Uri: typeof p.modelData === 'string' ? withSlash(p.modelData) : new Join('', [p.modelData, '/']),
                S3DataType: 'S3Prefix',
                CompressionType: 'None',
              },
            },
            ...(p.environment ? { Environment: { ...p.environment } } : {}),
          },
        ],
        SupportedContentTypes: [...p.supportedContentTypes],
        SupportedResponseMIMETypes: [...p.supportedResponseMIMETypes],
        SupportedRealtimeInferenceInstanceTypes: [...p.supportedRealtimeInferenceInstanceTypes] as NonNullable<
          CreateModelPackageInput['InferenceSpecification']
        >['SupportedRealtimeInferenceInstanceTypes'],
      },
      ...(p.customerMetadataProperties ? { CustomerMetadataProperties: { ...p.customerMetadataProperties } } : {}),
      ...(p.modelQualityStatistics
        ? {
            ModelMetrics: {
              ModelQuality: {
                Statistics: {
                  ContentType: p.modelQualityStatistics.contentType,
                  S3Uri: p.modelQualityStatistics.s3Uri,
                },
              },
            },
          }
        : {}),
    };
  }
  protected override renderExtras(): Record<string, unknown> {
    return this.props.retryPolicies?.length ? { RetryPolicies: this.props.retryPolicies } : {};
  }
}

function withSlash(uri: string): string {
  return uri.endsWith('/') ? uri : `${uri}/`;
}
