import { z } from 'zod';

/**
 * The deploy-time configuration of MedLlama, read once in `bin/app.ts` from the `medllama` key of the
 * CDK context (`cdk.json`, or `-c medllama='{"stage":"prod"}'`). Everything a user changes per pipeline
 * execution is a pipeline Parameter instead (see pipeline-steps/parameters.ts); this holds what must be
 * fixed when the stacks are synthesized.
 */
export const MedLlamaConfigSchema = z
  .object({
    /** Short name of the deployment; prefixes stack names so several stages can share an account. */
    stage: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,15}$/, 'lowercase letters, digits and "-", starting with a letter, at most 16 characters')
      .default('dev'),
    /** Target account. Unset: environment-agnostic stacks (synth needs no credentials). */
    account: z
      .string()
      .regex(/^\d{12}$/, 'a 12-digit AWS account id')
      .optional(),
    /** Target region; also picks the ECR account of the Hugging Face images. */
    region: z
      .string()
      .regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/, 'an AWS region such as us-east-1')
      .default('us-east-1'),
    /** Keep buckets and the KMS key when the stack is deleted (recommended for anything but throw-away dev). */
    retainData: z.boolean().default(true),
    /** Days after which non-current object versions in the data and artifact buckets expire. */
    noncurrentVersionDays: z.number().int().min(1).max(3650).default(30),
    /** Days S3 server access logs are kept. */
    accessLogDays: z.number().int().min(1).max(3650).default(365),
  })
  .strict();

export type MedLlamaConfig = z.infer<typeof MedLlamaConfigSchema>;

/** A configuration error that names the field, the value given and what was expected. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid MedLlama configuration (cdk.json context "medllama"):\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = raw;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** Formats a zod error as `medllama.<field>: got <value>, expected <what>` lines. */
export function describeIssues(error: z.ZodError, raw: unknown, prefix = 'medllama'): string[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const where = [prefix, ...issue.path.map(String)].join('.');
      return `${where}: unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}; expected only known fields`;
    }
    const field = [prefix, ...issue.path.map(String)].join('.');
    const got = valueAt(raw, issue.path);
    return `${field}: got ${got === undefined ? 'nothing' : JSON.stringify(got)}, expected ${issue.message}`;
  });
}

/** Parses and validates the raw context value, filling defaults. Throws {@link ConfigError} on any problem. */
export function parseConfig(raw: unknown): MedLlamaConfig {
  const input = raw ?? {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError([`medllama: got ${JSON.stringify(raw)}, expected an object`]);
  }
  const result = MedLlamaConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigError(describeIssues(result.error, input));
  return result.data;
}
