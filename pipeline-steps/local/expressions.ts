/**
 * Resolves pipeline expressions the way SageMaker Pipelines does at execution time:
 * `{"Get": "Parameters.X" | "Execution.X" | "Steps.<name>.<property path>"}`, `{"Std:Join": {On, Values}}`,
 * `{"Std:JsonGet": {PropertyFile | S3Uri, Path}}` (shapes: research notes sagemaker.md §1.3), and the
 * Condition step's conditions (§2.3).
 */
import { EXECUTION_VARIABLE_NAMES } from '../expressions.ts';
import type { Json, JsonObject, ParameterDefinition, ParameterValue, StepProperties } from './types.ts';

export class ExpressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpressionError';
  }
}

export interface ResolveContext {
  readonly parameters: Readonly<Record<string, ParameterValue>>;
  /** Execution variables (PipelineExecutionId, PipelineName, …). */
  readonly execution: Readonly<Record<string, string>>;
  /** The properties of a step that has finished, or undefined when it has not (yet) run. */
  stepProperties(step: string): StepProperties | undefined;
  /** The parsed JSON of a step's PropertyFile. */
  readPropertyFile(step: string, propertyFile: string): Json;
  /** The parsed JSON of an S3 object (for `Std:JsonGet` with `S3Uri`). */
  readS3Json(uri: string): Json;
}

export const EXECUTION_VARIABLES = EXECUTION_VARIABLE_NAMES;

function isObject(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Whether `v` is a one-key expression object (`Get`, `Std:Join`, `Std:JsonGet`). */
export function isExpression(v: Json): boolean {
  if (!isObject(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && ['Get', 'Std:Join', 'Std:JsonGet'].includes(keys[0]!);
}

type PathToken = string | number;

/**
 * Splits a property path such as `ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri` or
 * `gate.pubmedqa_delta` / `a[0].b` into tokens. Bracketed numbers are indexes; quoted strings are keys.
 */
export function parsePath(path: string): PathToken[] {
  const tokens: PathToken[] = [];
  let i = path.startsWith('$.') ? 2 : path === '$' ? 1 : 0;
  let name = '';
  const flush = () => {
    if (name) tokens.push(name);
    name = '';
  };
  while (i < path.length) {
    const c = path[i]!;
    if (c === '.') {
      flush();
      i++;
    } else if (c === '[') {
      flush();
      const close = path.indexOf(']', i);
      if (close < 0) throw new ExpressionError(`unclosed "[" in path "${path}"`);
      const inner = path.slice(i + 1, close).trim();
      if (/^\d+$/.test(inner)) tokens.push(Number(inner));
      else if (/^'.*'$|^".*"$/.test(inner)) tokens.push(inner.slice(1, -1));
      else throw new ExpressionError(`bad index [${inner}] in path "${path}" (use [0] or ['name'])`);
      i = close + 1;
    } else {
      name += c;
      i++;
    }
  }
  flush();
  return tokens;
}

/** Keys SageMaker uses to index a list of named things with `['name']` (e.g. `Outputs['train']`). */
const NAME_KEYS = ['OutputName', 'MetricName', 'ChannelName', 'InputName', 'Name'];

/** Follows `tokens` into `root`; returns undefined when any part is missing. */
export function walkPath(root: Json, tokens: PathToken[]): Json | undefined {
  let cur: Json | undefined = root;
  for (const t of tokens) {
    if (cur === undefined || cur === null) return undefined;
    if (typeof t === 'number') {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[t];
    } else if (Array.isArray(cur)) {
      cur = cur.find((item) => isObject(item) && NAME_KEYS.some((k) => item[k] === t));
    } else if (isObject(cur)) {
      cur = Object.hasOwn(cur, t) ? cur[t] : undefined;
    } else {
      return undefined;
    }
  }
  return cur;
}

/** `Steps.<name>.<rest>` → [name, rest]; step names match ^[A-Za-z0-9\-_]{1,64}$. */
function splitStepRef(ref: string): [string, string] {
  const m = /^Steps\.([A-Za-z0-9_-]{1,64})(?:\.(.+))?$/.exec(ref);
  if (!m) throw new ExpressionError(`bad step reference "${ref}" (expected Steps.<StepName>.<property>)`);
  return [m[1]!, m[2] ?? ''];
}

export function resolveGet(ref: string, ctx: ResolveContext): Json {
  if (typeof ref !== 'string') throw new ExpressionError(`Get expects a string, got ${JSON.stringify(ref)}`);
  if (ref.startsWith('Parameters.')) {
    const name = ref.slice('Parameters.'.length);
    if (!Object.hasOwn(ctx.parameters, name)) {
      throw new ExpressionError(`Get ${ref}: the definition has no parameter "${name}"`);
    }
    return ctx.parameters[name]!;
  }
  if (ref.startsWith('Execution.')) {
    const name = ref.slice('Execution.'.length);
    const value = ctx.execution[name];
    if (value === undefined) {
      throw new ExpressionError(`Get ${ref}: unknown execution variable (known: ${EXECUTION_VARIABLES.join(', ')})`);
    }
    return value;
  }
  if (ref.startsWith('Steps.')) {
    const [step, rest] = splitStepRef(ref);
    if (rest.startsWith('PropertyFiles.')) {
      throw new ExpressionError(`Get ${ref}: a PropertyFile can only be read through Std:JsonGet`);
    }
    const props = ctx.stepProperties(step);
    if (!props) throw new ExpressionError(`Get ${ref}: step "${step}" has not run (yet)`);
    const value = walkPath(props, parsePath(rest));
    if (value === undefined) {
      throw new ExpressionError(`Get ${ref}: step "${step}" has no property "${rest}"`);
    }
    return value;
  }
  throw new ExpressionError(`Get ${ref}: expected Parameters.*, Execution.* or Steps.*`);
}

/** String form of a value inside `Std:Join` (numbers as written, booleans lowercase). */
export function joinString(v: Json, where: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new ExpressionError(`${where}: cannot join ${JSON.stringify(v)}`);
}

function resolveJsonGet(arg: Json, ctx: ResolveContext): Json {
  if (!isObject(arg) || typeof arg.Path !== 'string') {
    throw new ExpressionError(`Std:JsonGet expects {PropertyFile | S3Uri, Path}, got ${JSON.stringify(arg)}`);
  }
  const hasFile = arg.PropertyFile !== undefined;
  const hasUri = arg.S3Uri !== undefined;
  if (hasFile === hasUri) throw new ExpressionError('Std:JsonGet needs exactly one of PropertyFile and S3Uri');
  let doc: Json;
  let source: string;
  if (hasFile) {
    const pf = arg.PropertyFile;
    const ref = isObject(pf) && typeof pf.Get === 'string' ? pf.Get : undefined;
    if (!ref)
      throw new ExpressionError(`Std:JsonGet PropertyFile must be {"Get": "Steps.<step>.PropertyFiles.<name>"}`);
    const [step, rest] = splitStepRef(ref);
    const m = /^PropertyFiles\.([A-Za-z0-9_-]+)$/.exec(rest);
    if (!m) throw new ExpressionError(`Std:JsonGet: "${ref}" is not Steps.<step>.PropertyFiles.<name>`);
    doc = ctx.readPropertyFile(step, m[1]!);
    source = ref;
  } else {
    const uri = resolveValue(arg.S3Uri as Json, ctx);
    if (typeof uri !== 'string') throw new ExpressionError(`Std:JsonGet S3Uri resolved to ${JSON.stringify(uri)}`);
    doc = ctx.readS3Json(uri);
    source = uri;
  }
  const value = walkPath(doc, parsePath(arg.Path));
  if (value === undefined) throw new ExpressionError(`Std:JsonGet: path "${arg.Path}" not found in ${source}`);
  return value;
}

/** Resolves every expression inside `value` (recursively); plain JSON is returned as is. */
export function resolveValue(value: Json, ctx: ResolveContext): Json {
  if (Array.isArray(value)) return value.map((v) => resolveValue(v, ctx));
  if (!isObject(value)) return value;
  if (isExpression(value)) {
    if ('Get' in value) return resolveGet(value.Get as string, ctx);
    if ('Std:Join' in value) {
      const join = value['Std:Join'];
      if (!isObject(join) || !Array.isArray(join.Values)) {
        throw new ExpressionError(`Std:Join expects {On, Values: [...]}, got ${JSON.stringify(join)}`);
      }
      const on = join.On === undefined ? '' : joinString(join.On, 'Std:Join On');
      return join.Values.map((v) => joinString(resolveValue(v, ctx), 'Std:Join')).join(on);
    }
    return resolveJsonGet(value['Std:JsonGet']!, ctx);
  }
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) out[k] = resolveValue(v, ctx);
  return out;
}

/** Every step named in a `Get: Steps.<name>…` inside `value` (including PropertyFile references). */
export function stepReferences(value: Json | undefined, into: Set<string> = new Set()): Set<string> {
  if (value === undefined || value === null || typeof value !== 'object') return into;
  if (Array.isArray(value)) {
    for (const v of value) stepReferences(v, into);
    return into;
  }
  if (typeof value.Get === 'string' && value.Get.startsWith('Steps.')) into.add(splitStepRef(value.Get)[0]);
  for (const v of Object.values(value)) stepReferences(v, into);
  return into;
}

// ---------------------------------------------------------------------------------------------------
// Parameters

/** Parses and checks one parameter value against its definition (type, EnumValues). */
export function coerceParameter(def: ParameterDefinition, raw: string | number | boolean): ParameterValue {
  const text = String(raw).trim();
  const bad = (expected: string) =>
    new ExpressionError(`parameter ${def.Name}: got ${JSON.stringify(raw)}, expected ${expected}`);
  let value: ParameterValue;
  switch (def.Type) {
    case 'Integer':
      if (!/^[+-]?\d+$/.test(text)) throw bad('an integer');
      value = Number(text);
      break;
    case 'Float':
      if (text === '' || !Number.isFinite(Number(text))) throw bad('a number');
      value = Number(text);
      break;
    case 'Boolean':
      if (!/^(true|false)$/i.test(text)) throw bad('true or false');
      value = text.toLowerCase() === 'true';
      break;
    case 'String':
      value = String(raw);
      break;
    default:
      throw new ExpressionError(`parameter ${def.Name}: unknown type ${JSON.stringify(def.Type)}`);
  }
  if (def.EnumValues && !def.EnumValues.includes(String(value))) {
    throw bad(`one of ${def.EnumValues.map((v) => JSON.stringify(v)).join(', ')}`);
  }
  return value;
}

/** The execution's parameter values: defaults, then overrides; unknown names and bad values are errors. */
export function resolveParameters(
  defs: readonly ParameterDefinition[],
  overrides: Readonly<Record<string, string | number | boolean>> = {},
): Record<string, ParameterValue> {
  const byName = new Map(defs.map((d) => [d.Name, d]));
  for (const name of Object.keys(overrides)) {
    if (!byName.has(name)) {
      const known = [...byName.keys()].sort().join(', ') || '(none)';
      throw new ExpressionError(`unknown parameter "${name}"; the definition's parameters are: ${known}`);
    }
  }
  const out: Record<string, ParameterValue> = {};
  for (const def of defs) {
    const given = Object.hasOwn(overrides, def.Name) ? overrides[def.Name] : def.DefaultValue;
    if (given === undefined) {
      throw new ExpressionError(`parameter ${def.Name} has no default value; pass --param ${def.Name}=<value>`);
    }
    out[def.Name] = coerceParameter(def, given);
  }
  return out;
}

/** Parses `Name=Value` strings (from `--param`). */
export function parseParamAssignments(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new ExpressionError(`--param expects Name=Value, got "${item}"`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Conditions

function comparable(v: Json, where: string): number | string {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const n = Number(v);
    return v.trim() !== '' && Number.isFinite(n) ? n : v;
  }
  if (typeof v === 'boolean') return String(v);
  throw new ExpressionError(`${where}: cannot compare ${JSON.stringify(v)}`);
}

function numeric(v: Json, where: string): number {
  const c = comparable(v, where);
  if (typeof c !== 'number') throw new ExpressionError(`${where}: expected a number, got ${JSON.stringify(v)}`);
  return c;
}

/** One evaluated condition, for logs and the report. */
export interface ConditionTrace {
  readonly type: string;
  readonly left?: Json;
  readonly right?: Json;
  readonly result: boolean;
  /** Why the result is what it is when that is not plain arithmetic (a null operand). */
  readonly note?: string;
}

/** The note of a comparison that a null operand decided. */
export const NULL_OPERAND_NOTE = 'null operand: unknown, so the condition does not hold';

/**
 * A condition's truth: true, false, or unknown (null) when a compared value is a JSON null. evaluation.json writes an
 * uncomputed metric as null; such a comparison is unknown, `Not` of unknown is unknown, `Or` is true only when some
 * branch is true, and an unknown condition does not hold. So nothing that was not measured can make a gate pass,
 * whichever way the conditions are written (SQL's three-valued logic).
 */
type Truth = boolean | null;

function compare(type: string, left: Json, right: Json): boolean {
  if (type === 'Equals') return comparable(left, type) === comparable(right, type);
  const l = numeric(left, `${type} LeftValue`);
  const r = numeric(right, `${type} RightValue`);
  if (type === 'GreaterThan') return l > r;
  if (type === 'GreaterThanOrEqualTo') return l >= r;
  return type === 'LessThan' ? l < r : l <= r;
}

function truthOf(cond: Json, ctx: ResolveContext, trace: ConditionTrace[]): Truth {
  if (!isObject(cond) || typeof cond.Type !== 'string') {
    throw new ExpressionError(`a condition must be an object with a Type, got ${JSON.stringify(cond)}`);
  }
  const type = cond.Type;
  const record = (truth: Truth, left?: Json, right?: Json) => {
    trace.push({ type, left, right, result: truth === true, ...(truth === null ? { note: NULL_OPERAND_NOTE } : {}) });
    return truth;
  };
  switch (type) {
    case 'Equals':
    case 'GreaterThan':
    case 'GreaterThanOrEqualTo':
    case 'LessThan':
    case 'LessThanOrEqualTo': {
      for (const side of ['LeftValue', 'RightValue'] as const) {
        if (cond[side] === undefined) throw new ExpressionError(`${type}: the condition has no ${side}`);
      }
      const left = resolveValue(cond.LeftValue!, ctx);
      const right = resolveValue(cond.RightValue!, ctx);
      if (left === null || right === null) return record(null, left, right);
      return record(compare(type, left, right), left, right);
    }
    case 'In': {
      const q = resolveValue(cond.QueryValue ?? null, ctx);
      const values = resolveValue(cond.Values ?? null, ctx);
      if (!Array.isArray(values)) throw new ExpressionError('In: Values must be a list');
      if (q === null) return record(null, q, values);
      const cq = comparable(q, 'In');
      return record(
        values.some((v) => v !== null && comparable(v, 'In') === cq),
        q,
        values,
      );
    }
    case 'Not': {
      const inner = truthOf(cond.Condition ?? null, ctx, trace);
      return record(inner === null ? null : !inner);
    }
    case 'Or': {
      if (!Array.isArray(cond.Conditions)) throw new ExpressionError('Or: Conditions must be a list');
      const parts = cond.Conditions.map((c) => truthOf(c, ctx, trace));
      return record(parts.includes(true) ? true : parts.includes(null) ? null : false);
    }
    default:
      throw new ExpressionError(`unknown condition type "${type}"`);
  }
}

/**
 * Evaluates one condition (Equals, GreaterThan[OrEqualTo], LessThan[OrEqualTo], In, Not, Or): true only when it
 * holds; a comparison with a null operand is unknown and does not hold (see {@link Truth}).
 */
export function evaluateCondition(cond: Json, ctx: ResolveContext, trace: ConditionTrace[] = []): boolean {
  return truthOf(cond, ctx, trace) === true;
}

/** The Condition step's `Conditions` are ANDed. */
export function evaluateConditions(conds: Json, ctx: ResolveContext, trace: ConditionTrace[] = []): boolean {
  if (!Array.isArray(conds)) throw new ExpressionError('Condition step: Arguments.Conditions must be a list');
  return conds.map((c) => evaluateCondition(c, ctx, trace)).every(Boolean);
}
