/**
 * The local runner: executes a SageMaker pipeline definition on this machine (DESIGN §4.8).
 * Parameters → ordering → each step with the container contract (jobs.ts) → Condition branches inline →
 * RegisterModel into `runs/<id>/registry/` → Fail fails the run. State is written to
 * `runs/<id>/state.json` after every change, so a stopped run resumes with `--run-id` and a finished
 * one re-runs from a step with `--from-step`.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cacheKey, cacheMaterial, StepCache } from './cache.ts';
import {
  type ConditionTrace,
  ExpressionError,
  evaluateConditions,
  type ResolveContext,
  resolveParameters,
  resolveValue,
} from './expressions.ts';
import { branches, DefinitionError, downstreamOf, orderSteps } from './graph.ts';
import {
  type JobContext,
  type JobResult,
  openLog,
  processingResult,
  runProcessing,
  runTraining,
  StepFailure,
  trainingResult,
} from './jobs.ts';
import { LocalS3 } from './storage.ts';
import type {
  Json,
  JsonObject,
  PipelineDefinition,
  RetryPolicy,
  RunState,
  StepDefinition,
  StepRecord,
} from './types.ts';

/** What the runner tells a display about (all optional). */
export interface RunReporter {
  runStarted?(state: RunState, runDir: string): void;
  stepStarted?(record: StepRecord): void;
  stepOutput?(step: string, line: string): void;
  stepFinished?(record: StepRecord): void;
  message?(text: string): void;
}

export interface RunOptions {
  readonly definition: PipelineDefinition;
  /** Folder holding one folder per run (default `runs`). */
  readonly runsDir: string;
  /** A new id (default: time-based) or an existing run's id to resume / re-run. */
  readonly runId?: string;
  readonly pipelineName?: string;
  /** `--param Name=Value` overrides, validated against the definition's Parameters. */
  readonly parameters?: Readonly<Record<string, string>>;
  /** Re-run this step and everything downstream of it; reuse the other steps of the existing run. */
  readonly fromStep?: string;
  /** URI prefix → local folder (code bundle, input corpus, base model). */
  readonly mounts?: Readonly<Record<string, string>>;
  /** Python that stands in for the images' `python3`. */
  readonly python: string;
  /** Shared cache folder (default `<runsDir>/.cache`). */
  readonly cacheDir?: string;
  readonly reporter?: RunReporter;
  readonly signal?: AbortSignal;
  /** RetryPolicy waits are capped at this many seconds locally (default 10). */
  readonly maxRetryDelaySeconds?: number;
  /** Extra environment for every job. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface RunResult {
  readonly state: RunState;
  readonly runDir: string;
}

export class RunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunError';
  }
}

const APPROVAL = ['Approved', 'Rejected', 'PendingManualApproval'];

function newRunId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${Math.random().toString(16).slice(2, 6)}`;
}

function jobName(runId: string, step: string): string {
  return `pipelines-${runId}-${step}`.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 63);
}

/** The newest run folder (by name: ids start with a UTC timestamp) that has a state.json. */
export function latestRunId(runsDir: string): string | undefined {
  if (!existsSync(runsDir)) return undefined;
  return readdirSync(runsDir)
    .filter((d) => !d.startsWith('.') && existsSync(join(runsDir, d, 'state.json')))
    .sort()
    .pop();
}

export function readRunState(runDir: string): RunState {
  const file = join(runDir, 'state.json');
  if (!existsSync(file)) throw new RunError(`${runDir} has no state.json (not a run folder)`);
  return JSON.parse(readFileSync(file, 'utf8')) as RunState;
}

function retryTypes(p: RetryPolicy): string[] {
  return Array.isArray(p.ExceptionType) ? p.ExceptionType : [p.ExceptionType];
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        r();
      },
      { once: true },
    );
  });

export async function runPipeline(opts: RunOptions): Promise<RunResult> {
  const definition = opts.definition;
  if (!definition || !Array.isArray(definition.Steps)) throw new DefinitionError('the definition has no Steps list');
  const ordered = orderSteps(definition.Steps);
  const now = new Date();
  const runId = opts.runId ?? newRunId(now);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/.test(runId)) throw new RunError(`bad run id "${runId}"`);
  const runDir = join(opts.runsDir, runId);
  const previous = existsSync(join(runDir, 'state.json')) ? readRunState(runDir) : undefined;
  if (opts.fromStep && !previous) {
    throw new RunError(
      `--from-step needs an existing run: ${runDir} has no state.json (pass --run-id of a previous run)`,
    );
  }
  const defs = definition.Parameters ?? [];
  const carried: Record<string, string> = {};
  if (previous) {
    for (const d of defs)
      if (Object.hasOwn(previous.parameters, d.Name)) carried[d.Name] = String(previous.parameters[d.Name]);
  }
  const parameters = resolveParameters(defs, { ...carried, ...(opts.parameters ?? {}) });
  const pipelineName = opts.pipelineName ?? previous?.pipelineName ?? 'MedLlama';

  // Which steps are reused from the previous state of this run.
  const rerun = opts.fromStep ? downstreamOf(definition.Steps, opts.fromStep) : new Set<string>();
  const reuse = new Set<string>();
  if (previous) {
    for (const s of ordered) {
      if (!rerun.has(s.Name) && previous.steps[s.Name]?.state === 'Succeeded') reuse.add(s.Name);
    }
  }

  mkdirSync(join(runDir, 'logs'), { recursive: true });
  writeFileSync(join(runDir, 'definition.json'), `${JSON.stringify(definition, null, 2)}\n`);
  const state: RunState = {
    schemaVersion: 1,
    runId,
    pipelineName,
    status: 'Executing',
    startedAt: now.toISOString(),
    parameters,
    steps: {},
    order: [],
  };
  const saveState = () => writeFileSync(join(runDir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`);
  const s3 = new LocalS3(join(runDir, 's3'), opts.mounts ?? {});
  const cache = new StepCache(opts.cacheDir ?? join(opts.runsDir, '.cache'));
  const hashMemo = new Map<string, string>();
  const properties = new Map<string, JsonObject>();
  const outputs = new Map<string, Record<string, string>>();
  const stepDefs = new Map<string, StepDefinition>();
  for (const s of ordered) {
    stepDefs.set(s.Name, s);
    const { ifSteps, elseSteps } = branches(s);
    for (const n of [...ifSteps, ...elseSteps]) stepDefs.set(n.Name, n);
  }

  // Restore reused steps (and the steps their conditions ran) from the previous state.
  const restore = (name: string) => {
    const rec = previous!.steps[name]!;
    state.steps[name] = { ...rec, reused: rec.reused ?? 'previous-run' };
    state.order.push(name);
    if (rec.properties) properties.set(name, rec.properties);
    if (rec.outputs) {
      const abs: Record<string, string> = {};
      for (const [k, v] of Object.entries(rec.outputs)) abs[k] = join(runDir, v);
      outputs.set(name, abs);
    }
  };

  const execution = (step?: StepDefinition): Record<string, string> => {
    const arn = `arn:aws:sagemaker:local:000000000000:pipeline/${pipelineName.toLowerCase()}`;
    const vars: Record<string, string> = {
      PipelineName: pipelineName,
      PipelineArn: arn,
      PipelineExecutionId: runId,
      PipelineExecutionArn: `${arn}/execution/${runId}`,
      StartDateTime: state.startedAt,
      CurrentDateTime: new Date().toISOString(),
    };
    if (step?.Type === 'Processing') vars.ProcessingJobName = jobName(runId, step.Name);
    if (step?.Type === 'Training') vars.TrainingJobName = jobName(runId, step.Name);
    return vars;
  };

  const contextFor = (step?: StepDefinition): ResolveContext => ({
    parameters,
    execution: execution(step),
    stepProperties: (name) => properties.get(name),
    readPropertyFile: (name, file) => {
      const def = stepDefs.get(name);
      const pf = def?.PropertyFiles?.find((p) => p.PropertyFileName === file);
      if (!def || !pf) throw new ExpressionError(`step ${name} has no PropertyFile "${file}"`);
      const dir = outputs.get(name)?.[pf.OutputName];
      if (!dir)
        throw new ExpressionError(
          `PropertyFile ${name}.${file}: step ${name} has no output "${pf.OutputName}" (has it run?)`,
        );
      const path = join(dir, pf.FilePath);
      if (!existsSync(path)) throw new ExpressionError(`PropertyFile ${name}.${file}: ${path} does not exist`);
      try {
        return JSON.parse(readFileSync(path, 'utf8')) as Json;
      } catch (e) {
        throw new ExpressionError(`PropertyFile ${name}.${file}: ${path} is not JSON (${(e as Error).message})`);
      }
    },
    readS3Json: (uri) => {
      const path = s3.toLocal(uri);
      if (!existsSync(path)) throw new ExpressionError(`Std:JsonGet: ${uri} (${path}) does not exist`);
      return JSON.parse(readFileSync(path, 'utf8')) as Json;
    },
  });

  const relativeOutputs = (o: Record<string, string>): Record<string, string> =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, relative(runDir, v)]));

  const finish = (rec: StepRecord, started: number) => {
    rec.endedAt = new Date().toISOString();
    rec.elapsedSeconds = Math.round((Date.now() - started) / 100) / 10;
    saveState();
    opts.reporter?.stepFinished?.(rec);
  };

  /** Runs one Processing/Training job with cache and retries. */
  const runJob = async (step: StepDefinition, rec: StepRecord, log: (l: string) => void): Promise<JobResult> => {
    const ctx = contextFor(step);
    const args = resolveValue(step.Arguments ?? {}, ctx) as JsonObject;
    const name = jobName(runId, step.Name);
    let key: string | undefined;
    if (step.CacheConfig?.Enabled) {
      key = cacheKey(cacheMaterial(step, args, s3, hashMemo));
      rec.cacheKey = key;
      const hit = cache.lookup(step.Name, key, step.CacheConfig.ExpireAfter, new Date());
      if (hit) {
        const result =
          step.Type === 'Processing'
            ? processingResult(args, name, s3)
            : trainingResult(args, name, s3, (hit.properties.FinalMetricDataList as JsonObject[] | undefined) ?? []);
        cache.restore(hit, result.outputs);
        log(`[runner] cache hit (key ${key.slice(0, 12)}, stored ${hit.createdAt}): outputs restored`);
        rec.reused = 'cache';
        return result;
      }
      log(`[runner] cache miss (key ${key.slice(0, 12)})`);
    }
    const policies = step.RetryPolicies ?? [];
    const firstStart = Date.now();
    for (let attempt = 1; ; attempt++) {
      rec.attempts = attempt;
      saveState();
      if (attempt > 1) log(`----- attempt ${attempt} -----`);
      const jobCtx: JobContext = {
        stepName: step.Name,
        jobName: name,
        sandboxRoot: join(runDir, 'sandbox', step.Name),
        runDir,
        s3,
        python: opts.python,
        log,
        onOutput: (line) => opts.reporter?.stepOutput?.(step.Name, line),
        signal: opts.signal,
        env: opts.env,
      };
      try {
        const result = step.Type === 'Processing' ? await runProcessing(args, jobCtx) : await runTraining(args, jobCtx);
        if (key) cache.store(step.Name, key, result.properties, result.outputs, new Date());
        return result;
      } catch (err) {
        if (!(err instanceof StepFailure) || opts.signal?.aborted) throw err;
        const policy = policies.find((p) => retryTypes(p).includes(err.exceptionType));
        if (!policy) throw err;
        const maxRetries = policy.MaxAttempts ?? (policy.ExpireAfterMin === undefined ? 5 : Number.POSITIVE_INFINITY);
        const expired = policy.ExpireAfterMin !== undefined && Date.now() - firstStart > policy.ExpireAfterMin * 60_000;
        if (attempt > maxRetries || expired) {
          throw new StepFailure(`${err.message} (after ${attempt} attempts)`, err.exceptionType, err.exitCode);
        }
        const wait = (policy.IntervalSeconds ?? 1) * (policy.BackoffRate ?? 2) ** (attempt - 1);
        const capped = Math.min(wait, opts.maxRetryDelaySeconds ?? 10);
        log(`[runner] ${err.message}: ${err.exceptionType} matches a RetryPolicy; retrying in ${capped}s`);
        opts.reporter?.message?.(`${step.Name}: ${err.exceptionType}, retry ${attempt} of ${maxRetries} in ${capped}s`);
        await sleep(capped * 1000, opts.signal);
        if (opts.signal?.aborted) throw new StepFailure(`${step.Name} was stopped`, 'Local.STOPPED');
      }
    }
  };

  const registerModel = (step: StepDefinition, log: (l: string) => void): JsonObject => {
    const args = resolveValue(step.Arguments ?? {}, contextFor(step)) as JsonObject;
    const group = args.ModelPackageGroupName;
    if (typeof group !== 'string' || !/^[A-Za-z0-9](-*[A-Za-z0-9]){0,62}$/.test(group)) {
      throw new StepFailure(
        `ModelPackageGroupName must be a model package group name, got ${JSON.stringify(group)}`,
        'Local.INVALID_DEFINITION',
      );
    }
    const status = args.ModelApprovalStatus ?? 'PendingManualApproval';
    if (typeof status !== 'string' || !APPROVAL.includes(status)) {
      throw new StepFailure(
        `ModelApprovalStatus must be one of ${APPROVAL.join(', ')}, got ${JSON.stringify(status)}`,
        'Local.INVALID_DEFINITION',
      );
    }
    const dir = join(runDir, 'registry', group);
    mkdirSync(dir, { recursive: true });
    const version = readdirSync(dir).filter((f) => /^\d+\.json$/.test(f)).length + 1;
    const arn = `arn:aws:sagemaker:local:000000000000:model-package/${group.toLowerCase()}/${version}`;
    const modelData: Record<string, string> = {};
    const spec = args.InferenceSpecification as JsonObject | undefined;
    for (const [i, c] of ((spec?.Containers as Json[] | undefined) ?? []).entries()) {
      const container = c as JsonObject;
      const uri =
        (container.ModelDataUrl as string | undefined) ??
        (((container.ModelDataSource as JsonObject | undefined)?.S3DataSource as JsonObject | undefined)?.S3Uri as
          | string
          | undefined);
      if (typeof uri === 'string') modelData[`container-${i}`] = relative(runDir, s3.toLocal(uri));
    }
    const entry = {
      ModelPackageGroupName: group,
      ModelPackageVersion: version,
      ModelPackageArn: arn,
      ModelApprovalStatus: status,
      PipelineExecutionId: runId,
      RegisteredBy: step.Name,
      ModelDataLocal: modelData,
      Arguments: args,
    };
    const file = join(dir, `${version}.json`);
    writeFileSync(file, `${JSON.stringify(entry, null, 2)}\n`);
    log(`[runner] registered ${group} version ${version} (${status}) → ${relative(runDir, file)}`);
    return {
      ModelPackageArn: arn,
      ModelPackageVersion: version,
      ModelApprovalStatus: status,
      RegistryEntry: relative(runDir, file),
    };
  };

  /** Runs one step (and, for a Condition, its chosen branch). Returns false when the run must stop. */
  const runStep = async (step: StepDefinition): Promise<boolean> => {
    const logPath = join(runDir, 'logs', `${step.Name}.log`);
    const rec: StepRecord = {
      name: step.Name,
      type: step.Type,
      state: 'Executing',
      attempts: 0,
      startedAt: new Date().toISOString(),
      log: relative(runDir, logPath),
    };
    state.steps[step.Name] = rec;
    state.order.push(step.Name);
    saveState();
    opts.reporter?.stepStarted?.(rec);
    const started = Date.now();
    const logFile = openLog(logPath);
    logFile.write(`===== ${step.Name} (${step.Type}) run ${runId} =====`);
    const log = (line: string) => logFile.write(line);
    try {
      if (opts.signal?.aborted) throw new StepFailure(`${step.Name} was stopped before it started`, 'Local.STOPPED');
      switch (step.Type) {
        case 'Processing':
        case 'Training': {
          const result = await runJob(step, rec, log);
          rec.properties = result.properties;
          rec.outputs = relativeOutputs(result.outputs);
          properties.set(step.Name, result.properties);
          outputs.set(step.Name, result.outputs);
          break;
        }
        case 'Condition': {
          const trace: ConditionTrace[] = [];
          const outcome = evaluateConditions(step.Arguments?.Conditions ?? null, contextFor(step), trace);
          for (const t of trace)
            log(
              `[runner] ${t.type} ${JSON.stringify(t.left ?? null)} ${JSON.stringify(t.right ?? null)} → ${t.result}` +
                (t.note ? ` (${t.note})` : ''),
            );
          log(`[runner] outcome: ${outcome} → ${outcome ? 'IfSteps' : 'ElseSteps'}`);
          rec.outcome = outcome;
          rec.properties = { Outcome: outcome, Conditions: trace as unknown as Json };
          properties.set(step.Name, { Outcome: outcome });
          rec.attempts = 1;
          rec.state = 'Succeeded';
          finish(rec, started);
          await logFile.close();
          const { ifSteps, elseSteps } = branches(step);
          for (const inner of outcome ? ifSteps : elseSteps) {
            if (!(await runStep(inner))) return false;
          }
          return true;
        }
        case 'RegisterModel': {
          rec.attempts = 1;
          const props = registerModel(step, log);
          rec.properties = props;
          properties.set(step.Name, props);
          break;
        }
        case 'Fail': {
          rec.attempts = 1;
          const message = resolveValue(step.Arguments?.ErrorMessage ?? '', contextFor(step));
          const text = typeof message === 'string' ? message : JSON.stringify(message);
          log(`[runner] Fail step: ${text}`);
          rec.state = 'Failed';
          rec.failureReason = text;
          state.failureReason = `${step.Name}: ${text}`;
          finish(rec, started);
          await logFile.close();
          return false;
        }
        default:
          throw new StepFailure(
            `step type "${step.Type}" is not supported by the local runner (Processing, Training, Condition, RegisterModel, Fail are)`,
            'Local.UNSUPPORTED',
          );
      }
      rec.state = 'Succeeded';
      finish(rec, started);
      await logFile.close();
      return true;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const stopped = opts.signal?.aborted || (err instanceof StepFailure && err.exceptionType === 'Local.STOPPED');
      rec.state = stopped ? 'Stopped' : 'Failed';
      rec.failureReason = message;
      log(`[runner] ${rec.state}: ${message}`);
      state.failureReason = `${step.Name}: ${message} (log: ${join(runDir, rec.log!)})`;
      finish(rec, started);
      await logFile.close();
      return false;
    }
  };

  saveState();
  opts.reporter?.runStarted?.(state, runDir);
  let ok = true;
  for (const step of ordered) {
    if (reuse.has(step.Name)) {
      restore(step.Name);
      const { ifSteps, elseSteps } = branches(step);
      for (const inner of [...ifSteps, ...elseSteps]) if (previous!.steps[inner.Name]) restore(inner.Name);
      saveState();
      opts.reporter?.stepFinished?.(state.steps[step.Name]!);
      continue;
    }
    if (!(await runStep(step))) {
      ok = false;
      break;
    }
  }
  state.status = ok ? 'Succeeded' : opts.signal?.aborted ? 'Stopped' : 'Failed';
  state.endedAt = new Date().toISOString();
  saveState();
  return { state, runDir };
}
