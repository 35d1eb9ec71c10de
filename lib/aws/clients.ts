import { SageMakerClient } from '@aws-sdk/client-sagemaker';

/** What the CLI needs from an SDK client: `send`. Tests pass a moto-backed client or recorded responses. */
export type SageMakerLike = Pick<SageMakerClient, 'send'>;

export interface ClientOptions {
  /** @default - the SDK's (AWS_REGION, profile) */
  readonly region?: string;
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

/** Region of an ARN (`arn:<partition>:<service>:<region>:…`), or undefined. */
export function arnRegion(arn: string): string | undefined {
  return /^arn:[a-z-]+:[a-z0-9-]+:([a-z0-9-]+):/.exec(arn)?.[1];
}
