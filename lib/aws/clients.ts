import type { S3Client } from '@aws-sdk/client-s3';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';

/** What the CLI needs from an SDK client: `send`. Tests pass a moto-backed client or recorded responses. */
export type SageMakerLike = Pick<SageMakerClient, 'send'>;
/** The same for S3. */
export type S3Like = Pick<S3Client, 'send'>;

export interface ClientOptions {
  /**
   * From `resolveRegion` (lib/aws/region.ts), so every command picks it the same way.
   * @default - the AWS profile's (the SDK's own lookup)
   */
  readonly region?: string | undefined;
  /**
   * Endpoint override (a moto server in tests).
   * @default - the SDK's (AWS_ENDPOINT_URL_SAGEMAKER / AWS_ENDPOINT_URL, else the regional endpoint)
   */
  readonly endpoint?: string;
}

/** A SageMaker client with a bounded retry budget, so a CLI call fails in seconds rather than hanging. */
export function sageMakerClient(options: ClientOptions = {}): SageMakerClient {
  return new SageMakerClient({
    maxAttempts: 4,
    ...(options.region ? { region: options.region } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
  });
}

/**
 * Turns off the AWS SDK's NodeVersionSupportWarning in this process, through the environment variable the SDK
 * reads for exactly that (aws/aws-sdk-js-v3 issue #7983). The warning (8 lines on stderr, on every AWS command
 * under Node 20) is about SDK releases after January 2027 needing Node 22; this project pins its SDK versions,
 * so it is noise for a CLI user. Called by bin/medllama.ts before any client exists (the SDK checks once, when
 * the first client is built); a value the user set, e.g. `false` to see the warning, is kept.
 */
export function quietSdkNodeVersionWarning(env: NodeJS.ProcessEnv = process.env): void {
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}
