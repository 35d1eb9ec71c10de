/**
 * Runs Processing and Training steps as subprocesses with the SageMaker container contract, in a
 * sandbox folder that stands in for the container's `/opt/ml`:
 * - Processing: inputs at `<sandbox>/opt/ml/processing/...` (the input's LocalPath), outputs collected from
 *   each output's LocalPath, `/opt/ml/config/resourceconfig.json`, `MEDLLAMA_OPT_ML=<sandbox>/opt/ml`,
 *   `MEDLLAMA_LOCAL_S3` (the local S3's root and mounts, for a step that reads an optional S3 prefix itself);
 *   InstanceCount N runs N processes (algo-1..N) and merges their outputs into the same prefix.
 * - Training (script mode, like the SageMaker training toolkit): channels at `/opt/ml/input/data/<channel>`
 *   with `SM_CHANNEL_<NAME>`, `hyperparameters.json`, `SM_HPS`, `SM_MODEL_DIR`, `SM_OUTPUT_DATA_DIR`, the
 *   program named by `sagemaker_program` run with `--name value` per hyperparameter.
 * docs/local-runner.md describes every mapping and where it differs from SageMaker.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { trainingModule } from '../images.ts';
import { localTrackingEnvironment } from './mlflow.ts';
import { freePort } from './ports.ts';
import { type LocalS3, moveTree, placeInput, sandboxPath } from './storage.ts';
import type { Json, JsonObject, StepProperties } from './types.ts';

/** A step failure with the SageMaker exception type that RetryPolicies match on. */
export class StepFailure extends Error {
  constructor(
    message: string,
    readonly exceptionType: string,
    readonly exitCode?: number | null,
  ) {
    super(message);
    this.name = 'StepFailure';
  }
}

/**
 * The instance type the runner reports to jobs (resourceconfig.json, processingjobconfig.json): SageMaker local
 * mode's name for "this machine". Steps that need GPUs on a GPU instance type (medllama.sagemaker_env.Host) see a
 * host without them, which is the truth; the definition's instance types only matter on AWS.
 */
export const LOCAL_INSTANCE_TYPE = 'local';

/** A local non-zero exit counts as this exception type for RetryPolicies (docs/local-runner.md). */
export const LOCAL_FAILURE_EXCEPTION = 'SageMaker.JOB_INTERNAL_ERROR';

export interface JobContext {
  readonly stepName: string;
  readonly jobName: string;
  /** Folder for this step's sandboxes (`runs/<id>/sandbox/<Step>`); recreated for every attempt. */
  readonly sandboxRoot: string;
  readonly s3: LocalS3;
  /** The Python that stands in for the image's `python3` (the project venv). */
  readonly python: string;
  /** Appends a line to the step log. */
  readonly log: (line: string) => void;
  /** Called with each line the job prints (for the progress display). */
  readonly onOutput?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Extra environment for every job (tests). */
  readonly env?: Readonly<Record<string, string>>;
  /** The run folder (`runs/<id>`): its `mlruns/` stands in for the MLflow App (local/mlflow.ts). */
  readonly runDir: string;
}

export interface JobResult {
  readonly properties: StepProperties;
  /** Output name → absolute local path. */
  readonly outputs: Record<string, string>;
}

function obj(v: Json | undefined, what: string): JsonObject {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new StepFailure(`${what} must be an object`, 'Local.INVALID_DEFINITION');
  return v;
}
function str(v: Json | undefined, what: string): string {
  if (typeof v !== 'string' || v === '')
    throw new StepFailure(`${what} must be a non-empty string, got ${JSON.stringify(v)}`, 'Local.INVALID_DEFINITION');
  return v;
}
function strList(v: Json | undefined, what: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new StepFailure(`${what} must be a list of strings`, 'Local.INVALID_DEFINITION');
  return v.map((x, i) => {
    if (typeof x === 'string') return x;
    if (typeof x === 'number' || typeof x === 'boolean') return String(x);
    throw new StepFailure(`${what}[${i}] must be a string, got ${JSON.stringify(x)}`, 'Local.INVALID_DEFINITION');
  });
}
function envMap(v: Json | undefined, optMl: string): Record<string, string> {
  if (v === undefined) return {};
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(obj(v, 'Environment'))) out[k] = sandboxPath(String(val), optMl);
  return out;
}
function count(v: Json | undefined, what: string): number {
  const n = v === undefined ? 1 : Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new StepFailure(`${what} must be a positive integer, got ${JSON.stringify(v)}`, 'Local.INVALID_DEFINITION');
  return n;
}

const PYTHON_NAMES = /^(?:\/usr(?:\/local)?\/bin\/)?python(?:3(?:\.\d+)?)?$/;

/** Maps the container command line to a local one: python → the venv's, `/opt/ml` → the sandbox. */
export function localCommand(argv: string[], python: string, optMl: string): string[] {
  return argv.map((a, i) => (i === 0 && PYTHON_NAMES.test(a) ? python : sandboxPath(a, optMl)));
}

interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The job ran past its StoppingCondition.MaxRuntimeInSeconds and was stopped. */
  overran: boolean;
}

/**
 * How SageMaker stops a job (MaxRuntime, a stop request, a spot interruption): SIGTERM to the container's first
 * process only, as `docker stop` does, then SIGKILL to everything after the grace period.
 */
export const STOP_GRACE_MS = 120_000;

/**
 * Spawns one process in its own process group; lines go to the log (prefixed when `prefix` is set). Stopping it
 * (the run's abort signal, or `maxRuntimeMs` elapsed) follows SageMaker: SIGTERM to this process alone, SIGKILL to
 * its whole group {@link STOP_GRACE_MS} later.
 */
function runProcess(
  argv: string[],
  opts: { cwd: string; env: Record<string, string>; prefix: string; ctx: JobContext; maxRuntimeMs?: number },
): Promise<ProcessResult> {
  const { ctx } = opts;
  return new Promise((resolvePromise, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        cwd: opts.cwd,
        env: { ...process.env, ...ctx.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (err) {
      reject(new StepFailure(`could not start ${argv[0]}: ${(err as Error).message}`, 'Local.START_ERROR'));
      return;
    }
    const onLines = (buf: { rest: string }) => (chunk: Buffer) => {
      const text = buf.rest + chunk.toString('utf8');
      const lines = text.split(/\r?\n|\r/);
      buf.rest = lines.pop() ?? '';
      for (const line of lines) {
        ctx.log(opts.prefix + line);
        ctx.onOutput?.(line);
      }
    };
    const out = { rest: '' };
    const err = { rest: '' };
    child.stdout?.on('data', onLines(out));
    child.stderr?.on('data', onLines(err));
    let overran = false;
    let stopping = false;
    const kill = () => {
      if (stopping || child.pid === undefined || child.exitCode !== null) return;
      stopping = true;
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
      setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }, STOP_GRACE_MS).unref();
    };
    const limit =
      opts.maxRuntimeMs === undefined
        ? undefined
        : setTimeout(() => {
            overran = true;
            ctx.log(
              `[runner] MaxRuntimeInSeconds (${opts.maxRuntimeMs! / 1000} s) reached: SIGTERM, SIGKILL 120 s later`,
            );
            kill();
          }, opts.maxRuntimeMs);
    limit?.unref();
    if (ctx.signal?.aborted) kill();
    ctx.signal?.addEventListener('abort', kill, { once: true });
    child.on('error', (e) => {
      ctx.signal?.removeEventListener('abort', kill);
      reject(new StepFailure(`could not start ${argv[0]}: ${e.message}`, 'Local.START_ERROR'));
    });
    child.on('close', (code, signal) => {
      ctx.signal?.removeEventListener('abort', kill);
      if (limit) clearTimeout(limit);
      // whatever the first process left behind goes with it, as with a container
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* the group is gone */
      }
      for (const b of [out, err]) {
        if (b.rest) {
          ctx.log(opts.prefix + b.rest);
          ctx.onOutput?.(b.rest);
        }
      }
      resolvePromise({ code, signal, overran });
    });
  });
}

function checkExit(res: ProcessResult, what: string, ctx: JobContext, reason?: string): void {
  if (ctx.signal?.aborted) throw new StepFailure(`${what} was stopped`, 'Local.STOPPED', res.code);
  if (res.overran) {
    // SageMaker stops the job (its artifacts written in the grace period still upload) and the step fails.
    throw new StepFailure(`${what} reached MaxRuntimeInSeconds and was stopped`, 'SageMaker.MAX_RUNTIME_EXCEEDED');
  }
  if (res.code !== 0) {
    const how = res.signal ? `was killed by ${res.signal}` : `exited with code ${res.code}`;
    throw new StepFailure(`${what} ${how}${reason ? `: ${reason}` : ''}`, LOCAL_FAILURE_EXCEPTION, res.code);
  }
}

/**
 * A Training job's FailureReason as SageMaker reports it: the first 1,024 characters of `/opt/ml/output/failure`,
 * which the toolkit writes when the program fails (here: its last lines, where the program's error is).
 */
function failureReason(optMl: string): string | undefined {
  const file = join(optMl, 'output', 'failure');
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8').trim();
  const lines = text.split('\n').filter((l) => l.trim());
  return lines.slice(-3).join(' | ').slice(-1024) || undefined;
}

/**
 * The environment the HF training image sets for its entry point (containers/dlc.json `training.trainingModule`),
 * plus what lets the toolkit run outside a SageMaker host: no DNS wait for `algo-1` (its Studio local mode) and
 * pip without an index (the venv already holds containers/requirements.txt; nothing is downloaded mid-run).
 */
const TRAINING_TOOLKIT_ENV: Readonly<Record<string, string>> = {
  SAGEMAKER_TRAINING_MODULE: trainingModule(),
  SM_STUDIO_LOCAL_MODE: 'true',
  PIP_NO_INDEX: '1',
  PIP_DISABLE_PIP_VERSION_CHECK: '1',
};

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length) throw errors[0];
}

function freshDir(path: string): string {
  rmSync(path, { recursive: true, force: true });
  mkdirSync(path, { recursive: true });
  return path;
}

function hostNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `algo-${i + 1}`);
}

// ---------------------------------------------------------------------------------------------------
// Processing

/** Runs a Processing step whose Arguments are fully resolved. */
export async function runProcessing(args: JsonObject, ctx: JobContext): Promise<JobResult> {
  const app = obj(args.AppSpecification, 'AppSpecification');
  const entrypoint = strList(app.ContainerEntrypoint, 'AppSpecification.ContainerEntrypoint');
  if (entrypoint.length === 0) {
    throw new StepFailure(
      'AppSpecification.ContainerEntrypoint is empty: the local runner needs the command to run (the image is not used)',
      'Local.INVALID_DEFINITION',
    );
  }
  const containerArgs = strList(app.ContainerArguments, 'AppSpecification.ContainerArguments');
  const cluster = obj(obj(args.ProcessingResources, 'ProcessingResources').ClusterConfig, 'ClusterConfig');
  const instances = count(cluster.InstanceCount, 'ClusterConfig.InstanceCount');
  const hosts = hostNames(instances);
  const inputs = ((args.ProcessingInputs as Json[] | undefined) ?? []).map((i, n) => obj(i, `ProcessingInputs[${n}]`));
  const outputs = (
    (obj(args.ProcessingOutputConfig ?? { Outputs: [] }, 'ProcessingOutputConfig').Outputs as Json[] | undefined) ?? []
  ).map((o, n) => obj(o, `ProcessingOutputConfig.Outputs[${n}]`));

  freshDir(ctx.sandboxRoot);
  await pool(hosts, Math.max(1, availableParallelism()), async (host) => {
    const sandbox = join(ctx.sandboxRoot, host);
    const optMl = join(sandbox, 'opt', 'ml');
    const index = hosts.indexOf(host);
    for (const input of inputs) {
      const name = str(input.InputName, 'ProcessingInputs[].InputName');
      if (input.S3Input === undefined) {
        throw new StepFailure(`input ${name}: only S3Input is supported locally`, 'Local.INVALID_DEFINITION');
      }
      const s3 = obj(input.S3Input, `input ${name} S3Input`);
      const src = ctx.s3.toLocal(str(s3.S3Uri, `input ${name} S3Uri`));
      const dest = sandboxPath(str(s3.LocalPath, `input ${name} LocalPath`), optMl);
      const sharded = s3.S3DataDistributionType === 'ShardedByS3Key';
      if (!existsSync(src)) {
        throw new StepFailure(
          `input ${name}: ${String(s3.S3Uri)} (local ${src}) does not exist`,
          'Local.MISSING_INPUT',
        );
      }
      const placed = placeInput(src, dest, sharded ? (i) => i % instances === index : undefined);
      ctx.log(`[runner] ${host} input ${name}: ${placed} file(s) from ${String(s3.S3Uri)} at ${dest}`);
    }
    for (const output of outputs) {
      const s3 = obj(output.S3Output, 'output S3Output');
      mkdirSync(sandboxPath(str(s3.LocalPath, 'output LocalPath'), optMl), { recursive: true });
    }
    // What SageMaker Processing writes under /opt/ml/config: the cluster, and the job's own request. The instance
    // is the one the runner runs on: SageMaker local mode's `local` (no GPU), not the type the definition asks for.
    mkdirSync(join(optMl, 'config'), { recursive: true });
    writeFileSync(join(optMl, 'config', 'resourceconfig.json'), `${JSON.stringify({ current_host: host, hosts })}\n`);
    writeFileSync(
      join(optMl, 'config', 'processingjobconfig.json'),
      `${JSON.stringify({
        ...args,
        ProcessingJobName: ctx.jobName,
        ProcessingResources: { ClusterConfig: { ...cluster, InstanceType: LOCAL_INSTANCE_TYPE } },
      })}\n`,
    );
    const argv = localCommand([...entrypoint, ...containerArgs], ctx.python, optMl);
    const env = {
      ...localTrackingEnvironment(envMap(args.Environment, optMl), ctx.runDir),
      MEDLLAMA_OPT_ML: optMl,
      MEDLLAMA_LOCAL_S3: ctx.s3.environment(),
      MEDLLAMA_NO_PIP: '1',
      PYTHONUNBUFFERED: '1',
    };
    ctx.log(`[runner] ${host}: ${argv.join(' ')}`);
    const res = await runProcess(argv, { cwd: sandbox, env, prefix: instances > 1 ? `[${host}] ` : '', ctx });
    checkExit(res, instances > 1 ? `${host} of ${ctx.stepName}` : ctx.stepName, ctx);
  });

  const result = processingResult(args, ctx.jobName, ctx.s3);
  for (const output of outputs) {
    const name = str(output.OutputName, 'output OutputName');
    const s3 = obj(output.S3Output, `output ${name} S3Output`);
    const dest = result.outputs[name]!;
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    let files = 0;
    for (const host of hosts) {
      const optMl = join(ctx.sandboxRoot, host, 'opt', 'ml');
      files += moveTree(sandboxPath(str(s3.LocalPath, 'output LocalPath'), optMl), dest);
    }
    ctx.log(`[runner] output ${name}: ${files} file(s) → ${String(s3.S3Uri)}`);
  }
  return result;
}

/** The properties and output locations of a Processing job (also used for cache hits). */
export function processingResult(args: JsonObject, jobName: string, s3: LocalS3): JobResult {
  const outputs = (
    (obj(args.ProcessingOutputConfig ?? { Outputs: [] }, 'ProcessingOutputConfig').Outputs as Json[] | undefined) ?? []
  ).map((o, n) => obj(o, `ProcessingOutputConfig.Outputs[${n}]`));
  const located: Record<string, string> = {};
  for (const output of outputs) {
    const name = str(output.OutputName, 'output OutputName');
    located[name] = s3.toLocal(str(obj(output.S3Output, `output ${name} S3Output`).S3Uri, `output ${name} S3Uri`));
  }
  return {
    properties: {
      ...args,
      ProcessingJobName: jobName,
      ProcessingJobStatus: 'Completed',
      ProcessingOutputConfig: { Outputs: outputs },
    },
    outputs: located,
  };
}

// ---------------------------------------------------------------------------------------------------
// Training

/** A hyperparameter value JSON-decoded as the training toolkit does (the raw string when it is not JSON). */
export function decodeHyperparameter(raw: string): Json {
  try {
    return JSON.parse(raw) as Json;
  } catch {
    return raw;
  }
}

/** Last value of each MetricDefinitions regex in the log lines (FinalMetricDataList). */
export function finalMetrics(definitions: Json | undefined, lines: readonly string[]): JsonObject[] {
  if (!Array.isArray(definitions)) return [];
  const out: JsonObject[] = [];
  for (const d of definitions) {
    if (d === null || typeof d !== 'object' || Array.isArray(d)) continue;
    if (typeof d.Name !== 'string' || typeof d.Regex !== 'string') continue;
    let re: RegExp;
    try {
      re = new RegExp(d.Regex);
    } catch {
      continue;
    }
    let last: number | undefined;
    for (const line of lines) {
      const m = re.exec(line);
      if (m?.[1] !== undefined && Number.isFinite(Number(m[1]))) last = Number(m[1]);
    }
    if (last !== undefined) out.push({ MetricName: d.Name, Value: last });
  }
  return out;
}

/** Runs a Training step whose Arguments are fully resolved. */
export async function runTraining(args: JsonObject, ctx: JobContext): Promise<JobResult> {
  const algo = obj(args.AlgorithmSpecification, 'AlgorithmSpecification');
  const hpsRaw = obj(args.HyperParameters ?? {}, 'HyperParameters');
  const hps: Record<string, string> = {};
  for (const [k, v] of Object.entries(hpsRaw)) {
    if (typeof v !== 'string')
      throw new StepFailure(`HyperParameters.${k} must be a string after resolution`, 'Local.INVALID_DEFINITION');
    hps[k] = v;
  }
  const program = hps.sagemaker_program ? decodeHyperparameter(hps.sagemaker_program) : undefined;
  const submit = hps.sagemaker_submit_directory ? decodeHyperparameter(hps.sagemaker_submit_directory) : undefined;
  if (typeof program !== 'string' || typeof submit !== 'string') {
    throw new StepFailure(
      'Training: the local runner runs script-mode jobs only (HyperParameters sagemaker_program and sagemaker_submit_directory)',
      'Local.INVALID_DEFINITION',
    );
  }
  const resources = obj(args.ResourceConfig, 'ResourceConfig');
  const instances = count(resources.InstanceCount, 'ResourceConfig.InstanceCount');
  if (instances > 1)
    ctx.log(`[runner] ResourceConfig.InstanceCount is ${instances}; the local runner runs one host (algo-1)`);
  freshDir(ctx.sandboxRoot);
  const sandbox = join(ctx.sandboxRoot, 'algo-1');
  const optMl = join(sandbox, 'opt', 'ml');
  const configDir = join(optMl, 'input', 'config');
  mkdirSync(configDir, { recursive: true });

  // Code: a mounted folder is used in place; a sourcedir.tar.gz is unpacked to /opt/ml/code.
  const submitLocal = ctx.s3.toLocal(submit);
  if (!existsSync(submitLocal)) {
    throw new StepFailure(
      `sagemaker_submit_directory ${submit} (local ${submitLocal}) does not exist`,
      'Local.MISSING_INPUT',
    );
  }
  let codeDir = submitLocal;
  if (statSync(submitLocal).isFile()) {
    codeDir = join(optMl, 'code');
    mkdirSync(codeDir, { recursive: true });
    const tar = spawnSync('tar', ['-xzf', submitLocal, '-C', codeDir], { encoding: 'utf8' });
    if (tar.status !== 0)
      throw new StepFailure(`could not unpack ${submitLocal}: ${tar.stderr}`, 'Local.MISSING_INPUT');
  }
  if (!existsSync(join(codeDir, program))) {
    throw new StepFailure(`sagemaker_program ${program} is not in ${codeDir}`, 'Local.MISSING_INPUT');
  }

  const channels: Record<string, string> = {};
  const inputDataConfig: JsonObject = {};
  for (const [n, raw] of ((args.InputDataConfig as Json[] | undefined) ?? []).entries()) {
    const ch = obj(raw, `InputDataConfig[${n}]`);
    const name = str(ch.ChannelName, `InputDataConfig[${n}].ChannelName`);
    const s3 = obj(obj(ch.DataSource, `channel ${name} DataSource`).S3DataSource, `channel ${name} S3DataSource`);
    const uri = str(s3.S3Uri, `channel ${name} S3Uri`);
    const src = ctx.s3.toLocal(uri);
    if (!existsSync(src))
      throw new StepFailure(`channel ${name}: ${uri} (local ${src}) does not exist`, 'Local.MISSING_INPUT');
    const dest = join(optMl, 'input', 'data', name);
    const placed = placeInput(src, dest);
    ctx.log(`[runner] channel ${name}: ${placed} file(s) from ${uri} at ${dest}`);
    channels[name] = dest;
    inputDataConfig[name] = {
      TrainingInputMode: String(algo.TrainingInputMode ?? 'File'),
      S3DistributionType: String(s3.S3DataDistributionType ?? 'FullyReplicated'),
      RecordWrapperType: 'None',
    };
  }

  const modelDir = join(optMl, 'model');
  const outputDataDir = join(optMl, 'output', 'data');
  mkdirSync(modelDir, { recursive: true });
  mkdirSync(outputDataDir, { recursive: true });

  let checkpointLocal: string | undefined;
  let checkpointDest: string | undefined;
  if (args.CheckpointConfig !== undefined) {
    const cc = obj(args.CheckpointConfig, 'CheckpointConfig');
    checkpointLocal = sandboxPath(String(cc.LocalPath ?? '/opt/ml/checkpoints'), optMl);
    checkpointDest = ctx.s3.toLocal(str(cc.S3Uri, 'CheckpointConfig.S3Uri'));
    mkdirSync(checkpointLocal, { recursive: true });
    if (existsSync(checkpointDest)) {
      // Like SageMaker, checkpoints already in S3 are downloaded before the job starts (resume).
      placeInput(checkpointDest, checkpointLocal);
      ctx.log(`[runner] restored checkpoints from ${String(cc.S3Uri)}`);
    }
  }

  // What SageMaker writes under /opt/ml/input/config before the container starts. The code location is the one
  // storage mapping applied to a hyperparameter: the toolkit fetches sagemaker_submit_directory itself.
  writeFileSync(
    join(configDir, 'hyperparameters.json'),
    `${JSON.stringify({ ...hps, sagemaker_submit_directory: JSON.stringify(submitLocal) }, null, 2)}\n`,
  );
  writeFileSync(join(configDir, 'inputdataconfig.json'), `${JSON.stringify(inputDataConfig, null, 2)}\n`);
  const instanceType = LOCAL_INSTANCE_TYPE;
  writeFileSync(
    join(configDir, 'resourceconfig.json'),
    `${JSON.stringify({
      current_host: 'algo-1',
      current_instance_type: instanceType,
      current_group_name: 'homogeneousCluster',
      hosts: ['algo-1'],
      instance_groups: [{ instance_group_name: 'homogeneousCluster', instance_type: instanceType, hosts: ['algo-1'] }],
      network_interface_name: 'eth0',
    })}\n`,
  );
  mkdirSync(join(optMl, 'output'), { recursive: true });
  // The image's entry point: the training toolkit, with the image's framework module. It decodes and renders the
  // hyperparameters, exports SM_*, copies the code to /opt/ml/code, installs its requirements.txt (offline here:
  // the venv must already hold it) and starts the program (torchrun for sagemaker_torch_distributed_enabled).
  const venvBin = dirname(ctx.python);
  const env: Record<string, string> = {
    ...localTrackingEnvironment(envMap(args.Environment, optMl), ctx.runDir),
    ...TRAINING_TOOLKIT_ENV,
    // What SageMaker sets in every training container: the job's name and ARN (a tuning trial's run is named after
    // it, medllama/tracking.py).
    TRAINING_JOB_NAME: ctx.jobName,
    TRAINING_JOB_ARN: `arn:aws:sagemaker:local:000000000000:training-job/${ctx.jobName.toLowerCase()}`,
    SAGEMAKER_BASE_DIR: optMl,
    PATH: `${venvBin}:${process.env.PATH ?? ''}`,
    MEDLLAMA_OPT_ML: optMl,
    PYTHONUNBUFFERED: '1',
    // torchrun's rendezvous port (its --master_port, read from PET_MASTER_PORT; the toolkit passes none, so
    // torchrun would take 29500): a host of its own on SageMaker, a free one here, where jobs share the loopback.
    PET_MASTER_PORT: String(await freePort()),
  };
  // The image's entry point is the toolkit's `train` (its start script only fixes host names, right here already);
  // a ContainerEntrypoint of the definition (the Train step's stop relay) runs as written, around that stand-in.
  const imageEntrypoint = [ctx.python, '-m', 'sagemaker_training.cli.train'];
  const container = strList(algo.ContainerEntrypoint, 'AlgorithmSpecification.ContainerEntrypoint');
  const argv = container.length
    ? localCommand(
        [...container, ...strList(algo.ContainerArguments, 'AlgorithmSpecification.ContainerArguments')],
        ctx.python,
        optMl,
      )
    : imageEntrypoint;
  if (container.length) env.MEDLLAMA_IMAGE_ENTRYPOINT = imageEntrypoint.join(' ');
  const stopping = obj(args.StoppingCondition ?? {}, 'StoppingCondition');
  const maxRuntimeMs =
    stopping.MaxRuntimeInSeconds === undefined ? undefined : Number(stopping.MaxRuntimeInSeconds) * 1000;
  ctx.log(`[runner] algo-1: ${argv.join(' ')} (SAGEMAKER_BASE_DIR=${optMl})`);
  const lines: string[] = [];
  const res = await runProcess(argv, {
    cwd: sandbox,
    env,
    prefix: '',
    maxRuntimeMs,
    ctx: {
      ...ctx,
      onOutput: (line) => {
        lines.push(line);
        ctx.onOutput?.(line);
      },
    },
  });
  if (checkpointLocal && checkpointDest) moveTree(checkpointLocal, checkpointDest);
  checkExit(res, ctx.stepName, ctx, failureReason(optMl));

  const result = trainingResult(args, ctx.jobName, ctx.s3, finalMetrics(algo.MetricDefinitions, lines));
  const { model: modelDest, output: dataDest } = result.outputs as { model: string; output: string };
  rmSync(modelDest, { recursive: true, force: true });
  rmSync(dataDest, { recursive: true, force: true });
  const modelFiles = moveTree(modelDir, modelDest);
  moveTree(outputDataDir, dataDest);
  mkdirSync(modelDest, { recursive: true });
  mkdirSync(dataDest, { recursive: true });
  ctx.log(
    `[runner] model: ${modelFiles} file(s) → ${String((result.properties.ModelArtifacts as JsonObject).S3ModelArtifacts)}`,
  );
  return result;
}

/**
 * The properties and output locations of a Training job (also used for cache hits): the model at
 * `<S3OutputPath>/<job>/output/model` (uncompressed, as with CompressionType NONE) and the output data at
 * `<S3OutputPath>/<job>/output/data` (SageMaker packs it as output.tar.gz; locally it stays a folder).
 */
export function trainingResult(args: JsonObject, jobName: string, s3: LocalS3, metrics: JsonObject[]): JobResult {
  const outputConfig = obj(args.OutputDataConfig, 'OutputDataConfig');
  const outputPath = str(outputConfig.S3OutputPath, 'OutputDataConfig.S3OutputPath').replace(/\/+$/, '');
  const modelUri = `${outputPath}/${jobName}/output/model`;
  const outputs: Record<string, string> = {
    model: s3.toLocal(modelUri),
    output: s3.toLocal(`${outputPath}/${jobName}/output/data`),
  };
  if (args.CheckpointConfig !== undefined) {
    outputs.checkpoints = s3.toLocal(
      str(obj(args.CheckpointConfig, 'CheckpointConfig').S3Uri, 'CheckpointConfig.S3Uri'),
    );
  }
  return {
    properties: {
      ...args,
      TrainingJobName: jobName,
      TrainingJobStatus: 'Completed',
      ModelArtifacts: { S3ModelArtifacts: modelUri },
      FinalMetricDataList: metrics,
      OutputDataConfig: { ...outputConfig, S3OutputPath: outputPath },
    },
    outputs,
  };
}

/** Opens a step log for appending; returns the writer and a close function. */
export function openLog(path: string): {
  write: (line: string) => void;
  close: () => Promise<void>;
  stream: WriteStream;
} {
  const stream = createWriteStream(path, { flags: 'a' });
  return {
    stream,
    write: (line) => stream.write(`${line}\n`),
    close: () => new Promise((r) => stream.end(r)),
  };
}
