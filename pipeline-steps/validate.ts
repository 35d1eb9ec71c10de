import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { EXECUTION_VARIABLE_NAMES, type Json } from './expressions.ts';

/**
 * Offline validation of a pipeline definition against the SageMaker API model (botocore `service-2.json`),
 * the way SDKv2 `_argument_validation.py` does for top-level keys, but deep: every step's Arguments are
 * walked along the input shape of the API call it wraps (minus the names Pipelines generates), checking
 * unknown members, missing required members, enum values, string patterns and lengths, number ranges.
 * Wherever a scalar is expected, an expression (`Get`, `Std:Join`, `Std:JsonGet`) is accepted, and is
 * itself checked: every `Get` must name a declared parameter, a known execution variable, or an existing
 * step and a property its Describe* response has (processing outputs and property files by name).
 */

interface Shape {
  readonly type:
    | 'structure'
    | 'list'
    | 'map'
    | 'string'
    | 'integer'
    | 'long'
    | 'float'
    | 'double'
    | 'boolean'
    | 'timestamp'
    | 'blob';
  readonly members?: Record<string, { readonly shape: string }>;
  readonly required?: readonly string[];
  readonly member?: { readonly shape: string };
  readonly key?: { readonly shape: string };
  readonly value?: { readonly shape: string };
  readonly enum?: readonly string[];
  readonly pattern?: string;
  readonly min?: number;
  readonly max?: number;
}

export interface ServiceModel {
  readonly operations: Record<string, { readonly input?: { readonly shape: string } }>;
  readonly shapes: Record<string, Shape>;
  /** Where it was loaded from. */
  readonly source: string;
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Candidate locations of botocore's SageMaker model: the project venv, then ../shared/reference. */
export function serviceModelCandidates(root = repoRoot): string[] {
  const out: string[] = [];
  const lib = join(root, '.venv', 'lib');
  if (existsSync(lib)) {
    for (const py of readdirSync(lib)
      .filter((d) => d.startsWith('python3'))
      .sort()) {
      const dir = join(lib, py, 'site-packages', 'botocore', 'data', 'sagemaker', '2017-07-24');
      out.push(join(dir, 'service-2.json.gz'), join(dir, 'service-2.json'));
    }
  }
  const ref = join(process.env.MEDLLAMA_SHARED_DIR || join(root, '..', 'shared'), 'reference');
  if (existsSync(ref)) {
    for (const f of readdirSync(ref)
      .filter((f) => /sagemaker-2017-07-24\.service-2\.json(\.gz)?$/.test(f))
      .sort()) {
      out.push(join(ref, f));
    }
  }
  return out;
}

export function loadServiceModel(path?: string): ServiceModel {
  const candidates = path ? [path] : serviceModelCandidates();
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new Error(`botocore SageMaker service model not found; looked in:\n  ${candidates.join('\n  ') || '(none)'}`);
  }
  const bytes = readFileSync(found);
  const text = found.endsWith('.gz') ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
  const parsed = JSON.parse(text) as Omit<ServiceModel, 'source'>;
  return { operations: parsed.operations, shapes: parsed.shapes, source: found };
}

export interface ValidationIssue {
  /** Step name, or `(definition)`. */
  readonly step: string;
  /** JSON path inside the step, e.g. `Arguments.ResourceConfig.InstanceType`. */
  readonly path: string;
  readonly message: string;
}

/** What each step type wraps: its API input shape and the members Pipelines fills in (names) or rejects. */
const STEP_API: Record<string, { input: string; generated: string[]; denied: string[]; describe: string }> = {
  Processing: {
    input: 'CreateProcessingJobRequest',
    generated: ['ProcessingJobName'],
    denied: [],
    describe: 'DescribeProcessingJobResponse',
  },
  Training: {
    input: 'CreateTrainingJobRequest',
    generated: ['TrainingJobName'],
    denied: [],
    describe: 'DescribeTrainingJobResponse',
  },
  Tuning: {
    input: 'CreateHyperParameterTuningJobRequest',
    generated: ['HyperParameterTuningJobName'],
    denied: [],
    describe: 'DescribeHyperParameterTuningJobResponse',
  },
  RegisterModel: {
    input: 'CreateModelPackageInput',
    generated: ['ModelPackageName'],
    denied: ['CertifyForMarketplace', 'Description'],
    describe: 'DescribeModelPackageOutput',
  },
};

const STEP_MEMBERS: Record<string, readonly string[]> = {
  Processing: ['PropertyFiles', 'RetryPolicies', 'CacheConfig'],
  Training: ['RetryPolicies', 'CacheConfig'],
  Tuning: ['RetryPolicies', 'CacheConfig'],
  RegisterModel: ['RetryPolicies'],
  Condition: [],
  Fail: [],
};
const COMMON_STEP_MEMBERS = ['Name', 'Type', 'Arguments', 'DependsOn', 'DisplayName', 'Description'];
const NAME = /^[A-Za-z0-9\-_]{1,64}$/;
const EXECUTION_VARIABLES: ReadonlySet<string> = new Set(EXECUTION_VARIABLE_NAMES);
const RETRY_TYPES = new Set([
  'Step.SERVICE_FAULT',
  'Step.THROTTLING',
  'SageMaker.JOB_INTERNAL_ERROR',
  'SageMaker.CAPACITY_ERROR',
  'SageMaker.RESOURCE_LIMIT',
]);
const COMPARISONS = new Set(['Equals', 'GreaterThan', 'GreaterThanOrEqualTo', 'LessThan', 'LessThanOrEqualTo']);

type JsonObject = { [key: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isExpression(v: Json | undefined): v is JsonObject {
  if (!isObject(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && ['Get', 'Std:Join', 'Std:JsonGet'].includes(keys[0]!);
}

interface StepInfo {
  readonly def: JsonObject;
  readonly type: string;
  readonly outputs: Set<string>;
  readonly propertyFiles: Set<string>;
  readonly metrics: Set<string>;
}

interface ParameterInfo {
  readonly type: string;
  readonly defaultValue?: Json;
  readonly enumValues?: string[];
}

const patternCache = new Map<string, RegExp | null>();
function compilePattern(pattern: string): RegExp | null {
  if (!patternCache.has(pattern)) {
    let re: RegExp | null = null;
    try {
      re = new RegExp(`^(?:${pattern})$`, 'u');
    } catch {
      re = null; // a Java-only construct: skip rather than guess
    }
    patternCache.set(pattern, re);
  }
  return patternCache.get(pattern) ?? null;
}

class Validator {
  readonly issues: ValidationIssue[] = [];
  readonly steps = new Map<string, StepInfo>();
  readonly parameters = new Map<string, ParameterInfo>();
  private step = '(definition)';

  constructor(readonly model: ServiceModel) {}

  report(path: string, message: string): void {
    this.issues.push({ step: this.step, path, message });
  }

  run(def: Json): void {
    if (!isObject(def)) {
      this.report('', 'the definition must be a JSON object');
      return;
    }
    for (const key of Object.keys(def)) {
      if (!['Version', 'Metadata', 'Parameters', 'PipelineExperimentConfig', 'Steps'].includes(key)) {
        this.report(key, 'unknown top-level member');
      }
    }
    if (def.Version !== '2020-12-01')
      this.report('Version', `expected "2020-12-01", got ${JSON.stringify(def.Version)}`);
    this.collectParameters(def.Parameters);
    const steps = Array.isArray(def.Steps) ? def.Steps : [];
    if (!Array.isArray(def.Steps) || steps.length === 0) this.report('Steps', 'expected a non-empty list of steps');
    const all: JsonObject[] = [];
    const flatten = (list: Json[], where: string) => {
      for (const s of list) {
        if (!isObject(s)) {
          this.report(where, 'a step must be an object');
          continue;
        }
        all.push(s);
        if (s.Type === 'Condition' && isObject(s.Arguments)) {
          for (const branch of ['IfSteps', 'ElseSteps']) {
            const nested = s.Arguments[branch];
            if (Array.isArray(nested)) flatten(nested, `${String(s.Name)}.Arguments.${branch}`);
          }
        }
      }
    };
    flatten(steps, 'Steps');
    for (const s of all) this.collectStep(s);
    if (isObject(def.PipelineExperimentConfig)) {
      for (const [k, v] of Object.entries(def.PipelineExperimentConfig)) {
        if (!['ExperimentName', 'TrialName'].includes(k))
          this.report(`PipelineExperimentConfig.${k}`, 'unknown member');
        else this.checkScalar(v, `PipelineExperimentConfig.${k}`);
      }
    }
    for (const s of all) {
      this.step = String(s.Name);
      this.checkStep(s);
    }
  }

  private collectParameters(list: Json | undefined): void {
    if (list === undefined) return;
    if (!Array.isArray(list)) {
      this.report('Parameters', 'expected a list');
      return;
    }
    list.forEach((p, i) => {
      const where = `Parameters[${i}]`;
      if (!isObject(p)) {
        this.report(where, 'expected an object');
        return;
      }
      const name = typeof p.Name === 'string' ? p.Name : '';
      for (const k of Object.keys(p)) {
        if (!['Name', 'Type', 'DefaultValue', 'EnumValues', 'Description'].includes(k))
          this.report(`${where}.${k}`, 'unknown member');
      }
      if (!NAME.test(name)) this.report(`${where}.Name`, `invalid parameter name ${JSON.stringify(p.Name)}`);
      if (this.parameters.has(name)) this.report(`${where}.Name`, `duplicate parameter ${name}`);
      const type = String(p.Type);
      if (!['String', 'Integer', 'Float', 'Boolean'].includes(type))
        this.report(`${where}.Type`, `unknown type ${type}`);
      const d = p.DefaultValue;
      const okDefault =
        d === undefined ||
        (type === 'String' && typeof d === 'string') ||
        (type === 'Integer' && Number.isInteger(d)) ||
        (type === 'Float' && typeof d === 'number') ||
        (type === 'Boolean' && typeof d === 'boolean');
      if (!okDefault) this.report(`${where}.DefaultValue`, `${JSON.stringify(d)} is not a ${type}`);
      let enumValues: string[] | undefined;
      if (p.EnumValues !== undefined) {
        if (type !== 'String' || !Array.isArray(p.EnumValues))
          this.report(`${where}.EnumValues`, 'only String parameters take EnumValues (a list)');
        else {
          enumValues = p.EnumValues.map(String);
          if (typeof d === 'string' && !enumValues.includes(d))
            this.report(`${where}.DefaultValue`, `"${d}" is not in EnumValues`);
        }
      }
      this.parameters.set(name, { type, defaultValue: d, enumValues });
    });
  }

  private collectStep(s: JsonObject): void {
    const name = String(s.Name);
    const type = String(s.Type);
    const args = isObject(s.Arguments) ? s.Arguments : {};
    const outputs = new Set<string>();
    const outputConfig = args.ProcessingOutputConfig;
    if (isObject(outputConfig) && Array.isArray(outputConfig.Outputs)) {
      for (const o of outputConfig.Outputs)
        if (isObject(o) && typeof o.OutputName === 'string') outputs.add(o.OutputName);
    }
    const propertyFiles = new Set<string>();
    if (Array.isArray(s.PropertyFiles)) {
      for (const f of s.PropertyFiles)
        if (isObject(f) && typeof f.PropertyFileName === 'string') propertyFiles.add(f.PropertyFileName);
    }
    const metrics = new Set<string>();
    const algo = isObject(args.AlgorithmSpecification)
      ? args.AlgorithmSpecification
      : isObject(args.TrainingJobDefinition) && isObject(args.TrainingJobDefinition.AlgorithmSpecification)
        ? args.TrainingJobDefinition.AlgorithmSpecification
        : undefined;
    if (algo && Array.isArray(algo.MetricDefinitions)) {
      for (const m of algo.MetricDefinitions) if (isObject(m) && typeof m.Name === 'string') metrics.add(m.Name);
    }
    this.step = name;
    if (!NAME.test(name)) this.report('Name', `invalid step name ${JSON.stringify(s.Name)}`);
    if (this.steps.has(name)) this.report('Name', `duplicate step name ${name}`);
    this.steps.set(name, { def: s, type, outputs, propertyFiles, metrics });
  }

  private checkStep(s: JsonObject): void {
    const type = String(s.Type);
    const allowed = STEP_MEMBERS[type];
    if (!allowed) {
      this.report('Type', `unsupported step type ${JSON.stringify(s.Type)}`);
      return;
    }
    for (const key of Object.keys(s)) {
      if (!COMMON_STEP_MEMBERS.includes(key) && !allowed.includes(key))
        this.report(key, `not a member of a ${type} step`);
    }
    if (s.DisplayName !== undefined && !NAME.test(String(s.DisplayName)))
      this.report('DisplayName', 'invalid display name');
    if (s.DependsOn !== undefined) {
      if (!Array.isArray(s.DependsOn)) this.report('DependsOn', 'expected a list of step names');
      else
        for (const d of s.DependsOn)
          if (!this.steps.has(String(d))) this.report('DependsOn', `no step named ${JSON.stringify(d)}`);
    }
    if (s.RetryPolicies !== undefined) this.checkRetryPolicies(s.RetryPolicies);
    if (s.CacheConfig !== undefined) this.checkCacheConfig(s.CacheConfig);
    if (s.PropertyFiles !== undefined) this.checkPropertyFiles(s);
    const args = s.Arguments;
    if (!isObject(args)) {
      this.report('Arguments', 'expected an object');
      return;
    }
    const api = STEP_API[type];
    if (api) {
      for (const denied of api.denied)
        if (denied in args) this.report(`Arguments.${denied}`, 'rejected by SageMaker Pipelines');
      for (const generated of api.generated) {
        if (generated in args) this.report(`Arguments.${generated}`, 'Pipelines generates this name; leave it out');
      }
      this.checkShape(args, api.input, 'Arguments', new Set(api.generated));
    } else if (type === 'Condition') {
      for (const k of Object.keys(args))
        if (!['Conditions', 'IfSteps', 'ElseSteps'].includes(k)) this.report(`Arguments.${k}`, 'unknown member');
      if (!Array.isArray(args.Conditions) || args.Conditions.length === 0)
        this.report('Arguments.Conditions', 'expected a non-empty list');
      else
        args.Conditions.forEach((c, i) => {
          this.checkCondition(c, `Arguments.Conditions[${i}]`);
        });
    } else if (type === 'Fail') {
      for (const k of Object.keys(args)) if (k !== 'ErrorMessage') this.report(`Arguments.${k}`, 'unknown member');
      if (args.ErrorMessage !== undefined) this.checkScalar(args.ErrorMessage, 'Arguments.ErrorMessage');
    }
  }

  private checkRetryPolicies(list: Json): void {
    if (!Array.isArray(list)) {
      this.report('RetryPolicies', 'expected a list');
      return;
    }
    list.forEach((p, i) => {
      const where = `RetryPolicies[${i}]`;
      if (!isObject(p)) {
        this.report(where, 'expected an object');
        return;
      }
      for (const k of Object.keys(p)) {
        if (!['ExceptionType', 'IntervalSeconds', 'BackoffRate', 'MaxAttempts', 'ExpireAfterMin'].includes(k))
          this.report(`${where}.${k}`, 'unknown member');
      }
      if (!Array.isArray(p.ExceptionType) || p.ExceptionType.length === 0)
        this.report(`${where}.ExceptionType`, 'expected a non-empty list');
      else
        for (const t of p.ExceptionType)
          if (!RETRY_TYPES.has(String(t)))
            this.report(`${where}.ExceptionType`, `unknown exception type ${JSON.stringify(t)}`);
      if ('MaxAttempts' in p === 'ExpireAfterMin' in p)
        this.report(where, 'give exactly one of MaxAttempts and ExpireAfterMin');
    });
  }

  private checkCacheConfig(c: Json): void {
    if (!isObject(c) || typeof c.Enabled !== 'boolean') {
      this.report('CacheConfig', 'expected {Enabled: boolean, ExpireAfter}');
      return;
    }
    if (c.Enabled && typeof c.ExpireAfter !== 'string')
      this.report('CacheConfig.ExpireAfter', 'required when caching is enabled');
  }

  private checkPropertyFiles(s: JsonObject): void {
    const info = this.steps.get(String(s.Name))!;
    if (!Array.isArray(s.PropertyFiles)) {
      this.report('PropertyFiles', 'expected a list');
      return;
    }
    s.PropertyFiles.forEach((f, i) => {
      if (!isObject(f)) {
        this.report(`PropertyFiles[${i}]`, 'expected an object');
        return;
      }
      for (const k of ['PropertyFileName', 'OutputName', 'FilePath']) {
        if (typeof f[k] !== 'string') this.report(`PropertyFiles[${i}].${k}`, 'required string');
      }
      if (typeof f.OutputName === 'string' && !info.outputs.has(f.OutputName)) {
        this.report(`PropertyFiles[${i}].OutputName`, `no processing output named ${f.OutputName}`);
      }
    });
  }

  private checkCondition(c: Json, where: string): void {
    if (!isObject(c)) {
      this.report(where, 'expected an object');
      return;
    }
    const type = String(c.Type);
    if (COMPARISONS.has(type)) {
      for (const k of Object.keys(c))
        if (!['Type', 'LeftValue', 'RightValue'].includes(k)) this.report(`${where}.${k}`, 'unknown member');
      for (const side of ['LeftValue', 'RightValue']) {
        if (c[side] === undefined) this.report(`${where}.${side}`, 'missing');
        else this.checkScalar(c[side], `${where}.${side}`);
      }
    } else if (type === 'In') {
      if (c.QueryValue === undefined || !Array.isArray(c.Values)) this.report(where, 'In needs QueryValue and Values');
      else {
        this.checkScalar(c.QueryValue, `${where}.QueryValue`);
        c.Values.forEach((v, i) => {
          this.checkScalar(v, `${where}.Values[${i}]`);
        });
      }
    } else if (type === 'Not') {
      this.checkCondition(c.Condition ?? null, `${where}.Condition`);
    } else if (type === 'Or') {
      if (!Array.isArray(c.Conditions)) this.report(`${where}.Conditions`, 'expected a list');
      else
        c.Conditions.forEach((x, i) => {
          this.checkCondition(x, `${where}.Conditions[${i}]`);
        });
    } else {
      this.report(`${where}.Type`, `unknown condition type ${JSON.stringify(c.Type)}`);
    }
  }

  /** A literal scalar or a valid expression. */
  private checkScalar(v: Json, where: string): void {
    if (isExpression(v)) {
      this.checkExpression(v, where);
      return;
    }
    if (v === null || typeof v === 'object')
      this.report(where, `expected a scalar or an expression, got ${JSON.stringify(v)}`);
  }

  private checkExpression(e: JsonObject, where: string, shape?: Shape): void {
    if ('Get' in e) {
      this.checkGet(e.Get, where, shape);
      return;
    }
    if ('Std:Join' in e) {
      const j = e['Std:Join'];
      if (!isObject(j) || typeof j.On !== 'string' || !Array.isArray(j.Values)) {
        this.report(where, 'Std:Join needs {On: string, Values: list}');
        return;
      }
      for (const k of Object.keys(j))
        if (!['On', 'Values'].includes(k)) this.report(`${where}.Std:Join.${k}`, 'unknown member');
      j.Values.forEach((v, i) => {
        this.checkScalar(v, `${where}.Std:Join.Values[${i}]`);
      });
      return;
    }
    const g = e['Std:JsonGet'];
    if (!isObject(g) || typeof g.Path !== 'string' || !g.Path) {
      this.report(where, 'Std:JsonGet needs a Path');
      return;
    }
    const hasFile = g.PropertyFile !== undefined;
    const hasUri = g.S3Uri !== undefined;
    if (hasFile === hasUri) {
      this.report(where, 'Std:JsonGet needs exactly one of PropertyFile and S3Uri');
      return;
    }
    if (hasUri) {
      this.checkScalar(g.S3Uri!, `${where}.Std:JsonGet.S3Uri`);
      return;
    }
    const file = g.PropertyFile;
    const path = isObject(file) && typeof file.Get === 'string' ? file.Get : '';
    const m = /^Steps\.([^.]+)\.PropertyFiles\.([^.]+)$/.exec(path);
    if (!m) {
      this.report(where, `Std:JsonGet PropertyFile must be {"Get": "Steps.<step>.PropertyFiles.<name>"}`);
      return;
    }
    const step = this.steps.get(m[1]!);
    if (!step) {
      this.report(where, `Std:JsonGet refers to a missing step ${m[1]}`);
      return;
    }
    if (!step.propertyFiles.has(m[2]!)) this.report(where, `step ${m[1]} has no property file ${m[2]}`);
  }

  private checkGet(path: Json, where: string, shape?: Shape): void {
    if (typeof path !== 'string') {
      this.report(where, 'Get needs a string path');
      return;
    }
    const [root, rest] = [path.slice(0, path.indexOf('.')), path.slice(path.indexOf('.') + 1)];
    if (root === 'Parameters') {
      const p = this.parameters.get(rest);
      if (!p) {
        this.report(where, `Get ${path}: no parameter ${rest}`);
        return;
      }
      if (shape) this.checkParameterFits(p, rest, shape, where);
      return;
    }
    if (root === 'Execution') {
      if (!EXECUTION_VARIABLES.has(rest)) this.report(where, `Get ${path}: unknown execution variable`);
      return;
    }
    if (root !== 'Steps') {
      this.report(where, `Get ${path}: must start with Parameters., Execution. or Steps.`);
      return;
    }
    const stepName = rest.split('.')[0]!;
    const step = this.steps.get(stepName);
    if (!step) {
      this.report(where, `Get ${path}: no step named ${stepName}`);
      return;
    }
    const property = rest.slice(stepName.length + 1);
    if (step.type === 'Condition') {
      if (property !== 'Outcome') this.report(where, `Get ${path}: a Condition step only has Outcome`);
      return;
    }
    const out = /^ProcessingOutputConfig\.Outputs\['([^']+)'\]\.S3Output\.S3Uri$/.exec(property);
    if (out) {
      if (!step.outputs.has(out[1]!)) this.report(where, `Get ${path}: step ${stepName} has no output ${out[1]}`);
      return;
    }
    const pf = /^PropertyFiles\.(.+)$/.exec(property);
    if (pf) {
      if (!step.propertyFiles.has(pf[1]!))
        this.report(where, `Get ${path}: step ${stepName} has no property file ${pf[1]}`);
      return;
    }
    const metric = /^FinalMetricDataList\['([^']+)'\]\.Value$/.exec(property);
    if (metric && !step.metrics.has(metric[1]!)) {
      this.report(where, `Get ${path}: step ${stepName} has no metric definition ${metric[1]}`);
      return;
    }
    const api = STEP_API[step.type];
    if (!api) {
      this.report(where, `Get ${path}: a ${step.type} step has no properties`);
      return;
    }
    this.checkPropertyPath(path, property, api.describe, where);
  }

  /** Walks `A.B[0].C['key']` along the Describe* response shape. */
  private checkPropertyPath(full: string, property: string, describe: string, where: string): void {
    let shape = this.model.shapes[describe];
    const tokens = property.match(/[^.[\]]+|\[[^\]]*\]/g) ?? [];
    for (const token of tokens) {
      if (!shape) break;
      if (token.startsWith('[')) {
        if (shape.type === 'list') shape = this.model.shapes[shape.member!.shape];
        else if (shape.type === 'map') shape = this.model.shapes[shape.value!.shape];
        else {
          this.report(where, `Get ${full}: ${token} indexes a ${shape.type}`);
          return;
        }
        continue;
      }
      const member = shape.type === 'structure' ? shape.members?.[token] : undefined;
      if (!member) {
        this.report(where, `Get ${full}: ${describe} has no property ${token} here`);
        return;
      }
      shape = this.model.shapes[member.shape];
    }
  }

  private checkParameterFits(p: ParameterInfo, name: string, shape: Shape, where: string): void {
    const numeric = ['integer', 'long', 'float', 'double'].includes(shape.type);
    const fits =
      (shape.type === 'string' && p.type === 'String') ||
      (numeric && (p.type === 'Integer' || (p.type === 'Float' && !['integer', 'long'].includes(shape.type)))) ||
      (shape.type === 'boolean' && p.type === 'Boolean');
    if (!fits) {
      this.report(where, `parameter ${name} is ${p.type}, the field expects ${shape.type}`);
      return;
    }
    // The default (and every EnumValue) must be a valid value of the field.
    for (const v of [p.defaultValue, ...(p.enumValues ?? [])]) {
      if (v !== undefined) this.checkLiteral(v, shape, `${where} (parameter ${name} value ${JSON.stringify(v)})`);
    }
  }

  private checkLiteral(v: Json, shape: Shape, where: string): void {
    switch (shape.type) {
      case 'string': {
        if (typeof v !== 'string') {
          this.report(where, `expected a string, got ${JSON.stringify(v)}`);
          return;
        }
        if (shape.enum && !shape.enum.includes(v)) {
          this.report(
            where,
            `${JSON.stringify(v)} is not one of ${shape.enum.length > 12 ? `${shape.enum.length} allowed values` : shape.enum.join(', ')}`,
          );
          return;
        }
        if (shape.min !== undefined && v.length < shape.min) this.report(where, `shorter than ${shape.min} characters`);
        if (shape.max !== undefined && v.length > shape.max) this.report(where, `longer than ${shape.max} characters`);
        const re = shape.pattern ? compilePattern(shape.pattern) : null;
        if (re && !re.test(v)) this.report(where, `${JSON.stringify(v)} does not match ${shape.pattern}`);
        return;
      }
      case 'integer':
      case 'long':
        if (!Number.isInteger(v)) {
          this.report(where, `expected an integer, got ${JSON.stringify(v)}`);
          return;
        }
        break;
      case 'float':
      case 'double':
        if (typeof v !== 'number') {
          this.report(where, `expected a number, got ${JSON.stringify(v)}`);
          return;
        }
        break;
      case 'boolean':
        if (typeof v !== 'boolean') this.report(where, `expected a boolean, got ${JSON.stringify(v)}`);
        return;
      default:
        return;
    }
    const n = v as number;
    if (shape.min !== undefined && n < shape.min) this.report(where, `${n} is below the minimum ${shape.min}`);
    if (shape.max !== undefined && n > shape.max) this.report(where, `${n} is above the maximum ${shape.max}`);
  }

  checkShape(v: Json, shapeName: string, where: string, skipRequired: Set<string> = new Set()): void {
    const shape = this.model.shapes[shapeName];
    if (!shape) {
      this.report(where, `unknown API shape ${shapeName}`);
      return;
    }
    if (isExpression(v)) {
      if (['structure', 'list', 'map'].includes(shape.type)) {
        this.report(where, `an expression cannot stand for a ${shape.type} (${shapeName})`);
        return;
      }
      this.checkExpression(v, where, shape);
      return;
    }
    switch (shape.type) {
      case 'structure': {
        if (!isObject(v)) {
          this.report(where, `expected an object (${shapeName}), got ${JSON.stringify(v)}`);
          return;
        }
        for (const [k, child] of Object.entries(v)) {
          const member = shape.members?.[k];
          if (!member) {
            this.report(`${where}.${k}`, `unknown member of ${shapeName}`);
            continue;
          }
          this.checkShape(child, member.shape, `${where}.${k}`);
        }
        for (const r of shape.required ?? []) {
          if (!(r in v) && !skipRequired.has(r))
            this.report(`${where}.${r}`, `missing required member of ${shapeName}`);
        }
        return;
      }
      case 'list': {
        if (!Array.isArray(v)) {
          this.report(where, `expected a list (${shapeName})`);
          return;
        }
        if (shape.min !== undefined && v.length < shape.min)
          this.report(where, `at least ${shape.min} item(s) required`);
        if (shape.max !== undefined && v.length > shape.max) this.report(where, `at most ${shape.max} item(s) allowed`);
        v.forEach((item, i) => {
          this.checkShape(item, shape.member!.shape, `${where}[${i}]`);
        });
        return;
      }
      case 'map': {
        if (!isObject(v)) {
          this.report(where, `expected a map (${shapeName})`);
          return;
        }
        const entries = Object.entries(v);
        if (shape.max !== undefined && entries.length > shape.max)
          this.report(where, `at most ${shape.max} entries allowed`);
        for (const [k, child] of entries) {
          this.checkShape(k, shape.key!.shape, `${where}{${k}}`);
          this.checkShape(child, shape.value!.shape, `${where}.${k}`);
        }
        return;
      }
      default:
        this.checkLiteral(v, shape, where);
    }
  }
}

/** Validates a definition (the JSON of `PipelineDefinition.toJSON()`); returns every problem found. */
export function validateDefinition(definition: Json, model: ServiceModel = loadServiceModel()): ValidationIssue[] {
  const v = new Validator(model);
  v.run(definition);
  return v.issues;
}

/** Formats issues one per line: `Step: path: message`. */
export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => `${i.step}: ${i.path}: ${i.message}`).join('\n');
}
