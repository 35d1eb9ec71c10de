/**
 * Pipeline expressions, serialized exactly as the SageMaker Python SDK emits them
 * (../shared/research/sagemaker.md §1.3): `{"Get": path}`, `{"Std:Join": {On, Values}}`,
 * `{"Std:JsonGet": {PropertyFile: {"Get": "Steps.<step>.PropertyFiles.<name>"}, Path}}`.
 * Every expression is an object with `toJSON()`, so `JSON.stringify` of a step's arguments renders it.
 */

/** A JSON value as it appears in the definition. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** What an expression evaluates to at execution time ('Unknown' when the service decides, e.g. a step property). */
export type ValueType = 'String' | 'Integer' | 'Float' | 'Boolean' | 'Unknown';

export abstract class Expression {
  abstract readonly valueType: ValueType;
  abstract toJSON(): Json;
}

/** A literal or an expression: what a scalar argument may hold. */
export type Scalar = string | number | boolean | Expression;
/** A string-valued argument: a literal string or an expression evaluating to a string. */
export type StringValue = string | Expression;
/** A number-valued argument. */
export type NumberValue = number | Expression;

/**
 * A request type with every scalar leaf widened to also accept an {@link Expression}: the shape of step
 * Arguments (`Expressible<Omit<CreateTrainingJobRequest, 'TrainingJobName'>>`).
 */
export type Expressible<T> = T extends string | number | boolean
  ? T | Expression
  : T extends Date
    ? T
    : T extends readonly (infer U)[]
      ? Expressible<U>[]
      : T extends object
        ? { [K in keyof T]: Expressible<T[K]> }
        : T;

/** `{"Get": path}`: a parameter, an execution variable or a step property. */
export class Get extends Expression {
  constructor(
    readonly path: string,
    readonly valueType: ValueType = 'Unknown',
  ) {
    super();
    if (!path) throw new Error('Get: path must not be empty');
  }
  toJSON(): Json {
    return { Get: this.path };
  }
}

/** `{"Std:Join": {"On": on, "Values": [...]}}`: string concatenation at execution time. */
export class Join extends Expression {
  readonly valueType = 'String';
  constructor(
    readonly on: string,
    readonly values: readonly Scalar[],
  ) {
    super();
    if (values.length === 0) throw new Error('Join: give at least one value');
  }
  toJSON(): Json {
    return { 'Std:Join': { On: this.on, Values: this.values.map(renderValue) } };
  }
}

/**
 * A PropertyFile of a processing step (step-level `PropertyFiles` entry). As an expression it is the
 * reference `{"Get": "Steps.<step>.PropertyFiles.<name>"}` that {@link JsonGet} reads.
 */
export class PropertyFile extends Expression {
  readonly valueType = 'Unknown';
  constructor(
    readonly stepName: string,
    readonly name: string,
    readonly outputName: string,
    readonly filePath: string,
  ) {
    super();
  }
  /** A JSON path inside the file, e.g. `gate.perplexity_improvement`. */
  get(path: string, valueType: ValueType = 'Float'): JsonGet {
    return new JsonGet(this, path, valueType);
  }
  toJSON(): Json {
    return { Get: `Steps.${this.stepName}.PropertyFiles.${this.name}` };
  }
  toDefinition(): Json {
    return { PropertyFileName: this.name, OutputName: this.outputName, FilePath: this.filePath };
  }
}

/** `{"Std:JsonGet": {"PropertyFile": {"Get": ...}, "Path": path}}`. */
export class JsonGet extends Expression {
  constructor(
    readonly propertyFile: PropertyFile,
    readonly path: string,
    readonly valueType: ValueType = 'Float',
  ) {
    super();
    if (!path) throw new Error(`JsonGet on ${propertyFile.name}: path must not be empty`);
  }
  toJSON(): Json {
    return { 'Std:JsonGet': { PropertyFile: this.propertyFile.toJSON(), Path: this.path } };
  }
}

const PARAMETER_NAME = /^[A-Za-z0-9\-_]{1,64}$/;

export interface ParameterProps<T> {
  /** Shown in the console when starting an execution. */
  readonly description?: string;
  /** The value used when an execution does not set the parameter. */
  readonly defaultValue: T;
}

/** A pipeline parameter; as an expression `{"Get": "Parameters.<name>"}`. */
export abstract class Parameter<T extends string | number | boolean> extends Get {
  abstract readonly type: 'String' | 'Integer' | 'Float' | 'Boolean';
  readonly defaultValue: T;
  readonly description?: string;
  constructor(
    readonly name: string,
    props: ParameterProps<T>,
    valueType: ValueType,
  ) {
    super(`Parameters.${name}`, valueType);
    if (!PARAMETER_NAME.test(name)) {
      throw new Error(`Parameter name "${name}" must match ${PARAMETER_NAME.source}`);
    }
    this.defaultValue = props.defaultValue;
    this.description = props.description;
  }
  /** The entry of the definition's `Parameters` list. */
  toDefinition(): Json {
    return {
      Name: this.name,
      Type: this.type,
      DefaultValue: this.defaultValue,
      ...(this.description ? { Description: this.description } : {}),
    };
  }
}

export class ParameterString extends Parameter<string> {
  readonly type = 'String';
  readonly enumValues?: readonly string[];
  constructor(name: string, props: ParameterProps<string> & { readonly enumValues?: readonly string[] }) {
    super(name, props, 'String');
    this.enumValues = props.enumValues;
    if (props.enumValues && !props.enumValues.includes(props.defaultValue)) {
      throw new Error(
        `Parameter ${name}: default "${props.defaultValue}" is not one of its EnumValues ${JSON.stringify(props.enumValues)}`,
      );
    }
  }
  override toDefinition(): Json {
    const base = super.toDefinition() as Record<string, Json>;
    return this.enumValues ? { ...base, EnumValues: [...this.enumValues] } : base;
  }
}

export class ParameterInteger extends Parameter<number> {
  readonly type = 'Integer';
  constructor(name: string, props: ParameterProps<number>) {
    super(name, props, 'Integer');
    if (!Number.isInteger(props.defaultValue)) {
      throw new Error(`Parameter ${name}: default must be an integer, got ${props.defaultValue}`);
    }
  }
}

export class ParameterFloat extends Parameter<number> {
  readonly type = 'Float';
  constructor(name: string, props: ParameterProps<number>) {
    super(name, props, 'Float');
    if (!Number.isFinite(props.defaultValue)) {
      throw new Error(`Parameter ${name}: default must be a finite number, got ${props.defaultValue}`);
    }
  }
}

export class ParameterBoolean extends Parameter<boolean> {
  readonly type = 'Boolean';
  constructor(name: string, props: ParameterProps<boolean>) {
    super(name, props, 'Boolean');
  }
}

export type AnyParameter = ParameterString | ParameterInteger | ParameterFloat | ParameterBoolean;

/** The names of the execution variables (`{"Get": "Execution.<name>"}`; SDKv2 workflow/execution_variables.py). */
export const EXECUTION_VARIABLE_NAMES = [
  'StartDateTime',
  'CurrentDateTime',
  'PipelineName',
  'PipelineArn',
  'PipelineExecutionId',
  'PipelineExecutionArn',
  'TrainingJobName',
  'ProcessingJobName',
] as const;

/** Execution variables as expressions. */
export const ExecutionVariables = {
  START_DATETIME: new Get('Execution.StartDateTime', 'String'),
  CURRENT_DATETIME: new Get('Execution.CurrentDateTime', 'String'),
  PIPELINE_NAME: new Get('Execution.PipelineName', 'String'),
  PIPELINE_ARN: new Get('Execution.PipelineArn', 'String'),
  PIPELINE_EXECUTION_ID: new Get('Execution.PipelineExecutionId', 'String'),
  PIPELINE_EXECUTION_ARN: new Get('Execution.PipelineExecutionArn', 'String'),
  TRAINING_JOB_NAME: new Get('Execution.TrainingJobName', 'String'),
  PROCESSING_JOB_NAME: new Get('Execution.ProcessingJobName', 'String'),
} as const;

/** Renders a literal or expression to its definition JSON. */
export function renderValue(value: Scalar): Json {
  return value instanceof Expression ? value.toJSON() : value;
}

/**
 * A value for a string field (ContainerArguments, HyperParameters, Environment). Numbers and booleans
 * become strings; an Integer/Float/Boolean expression is wrapped in `Std:Join` with `On: ""`, as the SDK does.
 */
export function asString(value: Scalar): StringValue {
  if (value instanceof Expression) {
    return value.valueType === 'String' ? value : new Join('', [value]);
  }
  return typeof value === 'string' ? value : String(value);
}

/** Renders any structure holding expressions to plain JSON (deep, via `toJSON`). */
export function toJson(value: unknown): Json {
  return JSON.parse(JSON.stringify(value)) as Json;
}

/** Every expression object reachable from `value` (arrays, plain objects, Join values). */
export function collectExpressions(value: unknown, out: Expression[] = []): Expression[] {
  if (value instanceof Join) {
    out.push(value);
    for (const v of value.values) collectExpressions(v, out);
  } else if (value instanceof JsonGet) {
    out.push(value, value.propertyFile);
  } else if (value instanceof Expression) {
    out.push(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collectExpressions(v, out);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) collectExpressions(v, out);
  }
  return out;
}
