import { z } from 'zod';

/**
 * The configuration of one container step, defined once here and used on both sides:
 * - TypeScript: the step builders render it into ContainerArguments (processing) or
 *   HyperParameters (training), validating literal values against the schema at synth time;
 * - Python: `npm run gen:schemas` writes `containers/medllama/schemas/<step>.schema.json`, and the
 *   entry point validates what it parsed against that file (medllama/config.py).
 * Keys are snake_case and are exactly the Python flags and SageMaker hyperparameter names.
 * Path flags (`--input_dir` …) are not part of it: they default to the SageMaker container paths.
 */
export interface StepConfig<S extends z.ZodObject = z.ZodObject> {
  /** Python module under `medllama.` that runs the step, e.g. `ingest`. */
  readonly step: string;
  readonly description: string;
  readonly schema: S;
}

export function defineStepConfig<S extends z.ZodObject>(step: string, description: string, schema: S): StepConfig<S> {
  if (!/^[a-z][a-z_]*$/.test(step)) throw new Error(`defineStepConfig: step must be a snake_case module name, got "${step}"`);
  for (const key of Object.keys(schema.shape)) {
    if (!/^[a-z][a-z0-9_]*$/.test(key)) {
      throw new Error(`defineStepConfig(${step}): field "${key}" must be snake_case (it is a Python flag and a hyperparameter name)`);
    }
  }
  return { step, description, schema };
}

/** The JSON Schema (draft 2020-12) that the Python entry point validates against. */
export function toJsonSchema(config: StepConfig): Record<string, unknown> {
  const generated = z.toJSONSchema(config.schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'throw' });
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `medllama/${config.step}.schema.json`,
    title: `medllama.${config.step} configuration`,
    description: `${config.description} Generated from pipeline-steps/configs by \`npm run gen:schemas\`; do not edit.`,
    ...Object.fromEntries(Object.entries(generated).filter(([k]) => k !== '$schema')),
  };
}
