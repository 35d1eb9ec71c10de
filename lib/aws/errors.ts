// Turns the AWS SDK's set-up failures (no credentials, an expired token, no region) into one message that says
// what to do. bin/medllama.ts prints it instead of the SDK's one-liner; other errors pass through unchanged.
import { REGION_ORDER } from './region.ts';

export type AwsSetupProblem = 'no-credentials' | 'sso-expired' | 'expired' | 'rejected' | 'no-region';

const EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired']);
const REJECTED = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidSignatureException',
]);

/** The error and its `cause` chain (commands wrap SDK errors with context). */
function chain(err: unknown): { name: string; message: string }[] {
  const out: { name: string; message: string }[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur && depth < 5; depth++) {
    const e = cur as { name?: unknown; message?: unknown; cause?: unknown };
    out.push({ name: String(e.name ?? ''), message: String(e.message ?? '') });
    cur = e.cause;
  }
  return out;
}

/** Which set-up problem `err` is, or undefined for any other error. */
export function classifyAwsError(err: unknown): AwsSetupProblem | undefined {
  for (const { name, message } of chain(err)) {
    if (/^Region is missing/.test(message)) return 'no-region';
    if (/SSO session .*(expired|invalid)|aws sso login|Token is expired/i.test(message)) return 'sso-expired';
    if (name === 'CredentialsProviderError' || /Could not load credentials/.test(message)) return 'no-credentials';
    if (EXPIRED.has(name)) return 'expired';
    if (REJECTED.has(name)) return 'rejected';
  }
  return undefined;
}

export interface AwsHintContext {
  /** How to check the command without AWS (its --dry-run), when it has such a mode. */
  readonly withoutAws?: string | undefined;
  /** @default process.env.AWS_PROFILE */
  readonly profile?: string | undefined;
}

const HEADLINE: Record<AwsSetupProblem, string> = {
  'no-credentials': 'no AWS credentials found',
  'sso-expired': 'your AWS SSO session has expired',
  expired: 'your AWS credentials have expired',
  rejected: 'AWS rejected the credentials (unknown access key, or a signature that does not match)',
  'no-region': 'no AWS region',
};

function whatToDo(problem: AwsSetupProblem, profile: string | undefined): string[] {
  const named = profile ? `--profile ${profile}` : '--profile <name>';
  switch (problem) {
    case 'no-credentials':
      return [
        'use a profile you have: export AWS_PROFILE=<name> (`aws configure list-profiles` lists them)',
        'or create one: `aws configure` (access keys) or `aws configure sso` (IAM Identity Center)',
        `with IAM Identity Center, sign in first: \`aws sso login ${named}\``,
      ];
    case 'sso-expired':
      return [`sign in again: \`aws sso login ${named}\``];
    case 'expired':
      return [
        `IAM Identity Center: \`aws sso login ${named}\``,
        'temporary keys in the environment (AWS_SESSION_TOKEN): get new ones, or unset them to use AWS_PROFILE',
      ];
    case 'rejected':
      return [
        'check which credentials are used: `aws sts get-caller-identity` (with the same AWS_PROFILE)',
        'fix or replace the keys (`aws configure`), or unset AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY to use a profile',
      ];
    case 'no-region':
      return [
        'give --region <region>, or export AWS_REGION=<region>',
        'or set medllama.region in cdk.json, or a region in your profile (`aws configure set region <region>`)',
      ];
  }
}

/**
 * The message for an AWS set-up failure, or undefined when `err` is something else. One paragraph: what is
 * wrong (with the SDK's own words), what to run, where the region comes from, and how to check the command without
 * AWS when it can.
 */
export function explainAwsError(err: unknown, ctx: AwsHintContext = {}): string | undefined {
  const problem = classifyAwsError(err);
  if (!problem) return undefined;
  const sdk = (chain(err).at(-1)?.message.split('\n')[0] ?? '').replace(/\.$/, '');
  const profile = 'profile' in ctx ? ctx.profile : process.env.AWS_PROFILE;
  return [
    `${HEADLINE[problem]}${sdk ? ` (AWS SDK: ${sdk})` : ''}.`,
    ...whatToDo(problem, profile).map((line) => `  - ${line}`),
    '  The region comes from the first of:',
    `    ${REGION_ORDER}.`,
    ...(ctx.withoutAws ? [`  Without AWS, ${ctx.withoutAws}.`] : []),
  ].join('\n');
}
