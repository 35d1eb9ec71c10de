import { z } from 'zod';
import { asString, Expression, Parameter, type StringValue } from '../expressions.ts';

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
  if (!/^[a-z][a-z_]*$/.test(step))
    throw new Error(`defineStepConfig: step must be a snake_case module name, got "${step}"`);
  for (const key of Object.keys(schema.shape)) {
    if (!/^[a-z][a-z0-9_]*$/.test(key)) {
      throw new Error(
        `defineStepConfig(${step}): field "${key}" must be snake_case (it is a Python flag and a hyperparameter name)`,
      );
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

// ---------------------------------------------------------------------------------------------------------------
// Rendering a step config into the pipeline definition (ContainerArguments or HyperParameters).

/** A value of one config field in the definition: a literal (validated at synth time) or an expression. */
export type ConfigFieldValue<T> = T | Expression;
/** Values for some fields of a step config; the others take the schema default. */
export type ConfigValues<S extends z.ZodObject> = { [K in keyof z.input<S>]?: ConfigFieldValue<z.input<S>[K]> };

/** A configuration error found while building the definition; names the step, field, value and expectation. */
export class StepConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StepConfigError';
  }
}

function issueText(error: z.ZodError): string {
  return error.issues.map((i) => i.message).join('; ');
}

/**
 * The value of every field of `config`, in schema order: the given value, else the schema default; fields
 * without either are left out. Literals are validated with the field's schema; a Parameter's default value
 * is validated too (a comma-separated String default for a list field is split first). Throws
 * {@link StepConfigError} naming step, field, value and what was expected.
 */
export function resolveConfigValues<S extends z.ZodObject>(
  config: StepConfig<S>,
  values: ConfigValues<S> = {},
): [string, unknown][] {
  const shape = config.schema.shape as Record<string, z.ZodType>;
  const unknown = Object.keys(values).filter((k) => !(k in shape));
  if (unknown.length) {
    throw new StepConfigError(
      `${config.step}: unknown config field(s) ${unknown.join(', ')}; known fields: ${Object.keys(shape).join(', ')}`,
    );
  }
  const out: [string, unknown][] = [];
  for (const [key, field] of Object.entries(shape)) {
    const given = (values as Record<string, unknown>)[key];
    if (given instanceof Expression) {
      checkParameterDefault(config.step, key, field, given);
      out.push([key, given]);
      continue;
    }
    const parsed = field.safeParse(given);
    if (!parsed.success) {
      const got = given === undefined ? 'nothing (the field has no default)' : JSON.stringify(given);
      throw new StepConfigError(`${config.step}: field ${key}: got ${got}, expected ${issueText(parsed.error)}`);
    }
    if (parsed.data !== undefined && parsed.data !== null) out.push([key, parsed.data]);
  }
  return out;
}

function checkParameterDefault(step: string, key: string, field: z.ZodType, expr: Expression): void {
  if (!(expr instanceof Parameter)) return;
  const value: unknown = expr.defaultValue;
  if (field.safeParse(value).success) return;
  if (typeof value === 'string') {
    const items = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (field.safeParse(items).success) return;
  }
  const error = field.safeParse(value).error;
  throw new StepConfigError(
    `${step}: field ${key}: parameter ${expr.name} has default ${JSON.stringify(value)}, expected ${error ? issueText(error) : 'a valid value'}`,
  );
}

function literalString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/**
 * Processing ContainerArguments for a config: `['--key', value, …]` in schema order. Lists are JSON arrays,
 * booleans `true`/`false`; numeric/boolean expressions are wrapped in `Std:Join` (SDK convention).
 * Path flags are not part of a config; the processing step puts them first.
 */
export function renderContainerArguments<S extends z.ZodObject>(
  config: StepConfig<S>,
  values: ConfigValues<S> = {},
): StringValue[] {
  return resolveConfigValues(config, values).flatMap(([key, value]) => [
    `--${key}`,
    value instanceof Expression ? asString(value) : literalString(value),
  ]);
}

/**
 * Training HyperParameters for a config, JSON-encoded as SageMaker framework estimators do (`json.dumps`: strings
 * carry quotes, numbers and booleans do not); String expressions are passed as they are, numeric/boolean
 * expressions wrapped in `Std:Join` with `On: ""`.
 *
 * The training toolkit json-decodes each value and hands it to the program through `mapping.to_cmd_args`, which
 * writes a decoded list with Python's `str()` (`['q_proj', 'k_proj']`). So a list is sent as one JSON string of
 * comma-separated items (`"q_proj,k_proj"`), which decodes to that plain text; items must not contain commas.
 * test/sagemaker-handoff.test.ts runs every Training/Tuning step of the definition through the toolkit itself.
 */
export function renderHyperParameters<S extends z.ZodObject>(
  config: StepConfig<S>,
  values: ConfigValues<S> = {},
): Record<string, StringValue> {
  return Object.fromEntries(
    resolveConfigValues(config, values).map(([key, value]) => [
      key,
      value instanceof Expression ? asString(value) : JSON.stringify(hyperparameterValue(config.step, key, value)),
    ]),
  );
}

function hyperparameterValue(step: string, key: string, value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  const items = value.map((v) => literalString(v));
  const bad = items.find((v) => v.includes(',') || v === '');
  if (bad !== undefined) {
    throw new StepConfigError(
      `${step}: field ${key}: list item ${JSON.stringify(bad)} cannot travel as a hyperparameter ` +
        '(lists are sent comma-separated, so items must be non-empty and contain no comma)',
    );
  }
  return items.join(',');
}
