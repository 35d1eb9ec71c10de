/**
 * The pipeline builder (pipeline-steps/) is pure and validates its inputs as literal names and URIs, so the stack
 * hands it placeholders that pass those checks, then swaps each placeholder in the serialized JSON for the CDK token
 * it stands for (role ARN, bucket names, key ARN, asset bucket). A string with tokens embedded renders as
 * `Fn::Join` in the template, so no `Fn::Sub` escaping of the definition is needed.
 */
export const PLACEHOLDERS = {
  /**
   * The code bundle's object key. CDK names file assets `<hash><extname>`, so the bundle lands as `<hash>.gz`
   * (not `.tar.gz`); the builder sees a `.tar.gz` name (it unpacks archives with that suffix) and the real key
   * replaces it everywhere it appears: the S3 URI and the `tar -xzf` of the processing entry point.
   */
  codeKey: 'medllama-placeholder-code.tar.gz',
  roleArn: 'arn:aws:iam::000000000000:role/medllama-placeholder-role',
  dataBucket: 'medllama-placeholder-data-bucket',
  artifactBucket: 'medllama-placeholder-artifact-bucket',
  kmsKeyArn: 'arn:aws:kms:us-east-1:000000000000:key/medllama-placeholder-key',
  codeBucket: 'medllama-placeholder-code-bucket',
  /** The MLflow App the PipelineStack creates (pipeline-steps/tracking.ts MLFLOW_RESOURCE_ARN accepts it). */
  mlflowArn: 'arn:aws:sagemaker:us-east-1:000000000000:mlflow-app/app-medllama-placeholder-mlflow',
} as const;

export type PlaceholderValues = { readonly [K in keyof typeof PLACEHOLDERS]: string };

/** Replaces every placeholder in `json` with its value; throws if a placeholder-like string is left over. */
export function substitutePlaceholders(json: string, values: PlaceholderValues): string {
  let out = json;
  for (const key of Object.keys(PLACEHOLDERS) as (keyof typeof PLACEHOLDERS)[]) {
    out = out.split(PLACEHOLDERS[key]).join(values[key]);
  }
  const left = /medllama-placeholder-[a-z-]+/.exec(out);
  if (left) throw new Error(`pipeline definition: unknown placeholder "${left[0]}" left after substitution`);
  return out;
}

/** A pipeline Parameter as it appears in the definition's `Parameters`. */
export interface DefinitionParameter {
  readonly Name: string;
  readonly Type: 'String' | 'Integer' | 'Float' | 'Boolean';
  DefaultValue?: string | number | boolean;
  readonly EnumValues?: string[];
  readonly Description?: string;
}

/**
 * Sets the `DefaultValue` of named Parameters (the deploy config's instance types, counts and thresholds), checking
 * each exists and has the value's type; a renamed parameter then fails synth instead of being silently ignored.
 */
export function setParameterDefaults(
  definition: { Parameters?: DefinitionParameter[] },
  defaults: Record<string, string | number | boolean>,
): void {
  const byName = new Map((definition.Parameters ?? []).map((p) => [p.Name, p]));
  for (const [name, value] of Object.entries(defaults)) {
    const param = byName.get(name);
    if (!param) {
      throw new Error(`pipeline definition has no Parameter "${name}" (known: ${[...byName.keys()].join(', ')})`);
    }
    const ok =
      param.Type === 'String'
        ? typeof value === 'string'
        : param.Type === 'Boolean'
          ? typeof value === 'boolean'
          : typeof value === 'number' && (param.Type === 'Float' || Number.isInteger(value));
    if (!ok) throw new Error(`Parameter ${name}: default ${JSON.stringify(value)} is not a ${param.Type}`);
    if (param.EnumValues && !param.EnumValues.includes(String(value))) {
      throw new Error(
        `Parameter ${name}: default ${JSON.stringify(value)} is not one of ${param.EnumValues.join(', ')}`,
      );
    }
    param.DefaultValue = value;
  }
}
