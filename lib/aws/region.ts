// The one rule every AWS command of the CLI uses to pick its region (lib/aws/clients.ts builds the clients).
import { AWS_REGION_PATTERN } from '../config.ts';

/** Where the region came from. */
export type RegionSource =
  | '--region'
  | 'the ARN'
  | 'AWS_REGION'
  | 'AWS_DEFAULT_REGION'
  | 'cdk.json'
  | 'the AWS profile';

export interface RegionChoice {
  /** undefined: the SDK takes the region of the AWS profile (AWS_PROFILE, else `default`, in ~/.aws/config). */
  readonly region: string | undefined;
  readonly source: RegionSource;
}

export interface RegionInputs {
  /** The command's --region. */
  readonly flag?: string | undefined;
  /** The ARN the command acts on: the resource is in that ARN's region. */
  readonly arn?: string | undefined;
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** `medllama.region` as written in cdk.json; called only when nothing earlier gave a region. */
  readonly cdkJson?: () => string | undefined;
}

/** Where the region comes from when neither --region nor an ARN gives it, in order (help texts). */
export const REGION_FALLBACKS = "AWS_REGION, AWS_DEFAULT_REGION, medllama.region in cdk.json, the AWS profile's region";

/** The whole order, in words, for error messages. */
export const REGION_ORDER = `--region, the ARN's region (commands given an ARN), ${REGION_FALLBACKS}`;

/** Region of an ARN (`arn:<partition>:<service>:<region>:…`), or undefined. */
export function arnRegion(arn: string): string | undefined {
  return /^arn:[a-z-]+:[a-z0-9-]+:([a-z0-9-]+):/.exec(arn)?.[1] || undefined;
}

/** Raised for a malformed region before any AWS call; the CLI prints it like a usage error. */
export class RegionError extends Error {
  constructor(source: RegionSource, value: string) {
    super(`${source}: got ${JSON.stringify(value)}, expected an AWS region such as us-east-1`);
    this.name = 'RegionError';
  }
}

/**
 * The region for an AWS command: --region, then the ARN's region (when the command acts on an ARN), then
 * AWS_REGION, AWS_DEFAULT_REGION, then `medllama.region` in cdk.json, then the AWS profile's (left to the SDK).
 * Each value is checked, so a typo fails here rather than as an unreachable endpoint.
 */
export function resolveRegion({ flag, arn, env = process.env, cdkJson }: RegionInputs): RegionChoice {
  const candidates: [RegionSource, () => string | undefined][] = [
    ['--region', () => flag],
    ['the ARN', () => (arn ? arnRegion(arn) : undefined)],
    ['AWS_REGION', () => env.AWS_REGION],
    ['AWS_DEFAULT_REGION', () => env.AWS_DEFAULT_REGION],
    ['cdk.json', () => cdkJson?.()],
  ];
  for (const [source, read] of candidates) {
    const region = read();
    if (region === undefined || region === '') continue;
    if (!AWS_REGION_PATTERN.test(region)) throw new RegionError(source, region);
    return { region, source };
  }
  return { region: undefined, source: 'the AWS profile' };
}

/** `us-east-1 (from cdk.json)`, or the profile's, for log lines. */
export function describeRegion(choice: RegionChoice): string {
  if (choice.region === undefined) {
    const profile = process.env.AWS_PROFILE ? ` (AWS_PROFILE=${process.env.AWS_PROFILE})` : '';
    return `the AWS profile's region${profile}`;
  }
  return `${choice.region} (from ${choice.source === 'cdk.json' ? 'medllama.region in cdk.json' : choice.source})`;
}
