/**
 * Reads one local run folder (runs/<id>/) into the data the report renders: state.json, the step logs,
 * and the step outputs the state points at (ingest/dedup/tokenize reports, training_summary.json,
 * evaluation.json, qualitative.jsonl) plus the registry entry. Missing pieces stay undefined: the report
 * says they are not available rather than inventing them.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LOCAL_MLFLOW_DIR } from '../../pipeline-steps/local/mlflow.ts';
import type { Json, JsonObject, RunState } from '../../pipeline-steps/local/types.ts';
import type { MlflowRunLink } from '../cli/mlflow-link.ts';
import { resolveReviewPaths } from '../review/import.ts';
import { type ReviewSummary, reviewSummary } from '../review/summary.ts';

export interface MetricPoint {
  readonly step: number;
  readonly value: number;
}

export interface QualitativeExample {
  readonly id: string;
  readonly prompt: string;
  readonly base: string;
  readonly tuned: string;
}

export interface AwsSourceEntry {
  readonly step: string;
  readonly artifact: string;
  readonly uri?: string;
  readonly file?: string;
  readonly missing?: string;
}

export interface AwsSources {
  readonly executionArn: string;
  readonly executionStatus: string;
  readonly entries: AwsSourceEntry[];
  /** The execution's MLflow run (lib/cli/mlflow-link.ts), when its jobs logged to one. */
  readonly mlflow?: MlflowRunLink;
}

export interface ReportData {
  readonly runDir: string;
  readonly state: RunState;
  readonly ingest?: JsonObject;
  readonly dedup?: JsonObject;
  readonly tokenize?: JsonObject;
  readonly trainingSummary?: JsonObject;
  /**
   * Metric name → points, from `metric name=<n> value=<v> step=<s>` lines in the Train log, or (a report of an
   * AWS execution) from metrics/Train.json, fetched from CloudWatch.
   */
  readonly metrics: Record<string, MetricPoint[]>;
  /** Where the metrics came from and what their x axis is. */
  readonly metricsSource: { readonly source: string; readonly xLabel: string };
  /** sources.json of a report fetched from AWS: each artifact's S3 URI or why it is missing. */
  readonly sources?: AwsSources;
  readonly evaluation?: JsonObject;
  readonly qualitative: QualitativeExample[];
  readonly registry?: JsonObject;
  /** The expert review summary (`<run>/review/ratings.sqlite`), when the run has one. */
  readonly review?: ReviewSummary;
  /** Why an existing ratings database could not be summarised. */
  readonly reviewError?: string;
  /** Step name → the last error its program logged (`<time> ERROR <logger>: <message>`), for failed steps. */
  readonly stepErrors: Record<string, string>;
  /** The local run's MLflow store (`<run>/mlruns`, pipeline-steps/local/mlflow.ts), when the steps logged to it. */
  readonly mlflowStore?: string;
}

const METRIC_LINE = /metric name=([A-Za-z0-9_:.-]+) value=([-+0-9.eE]+|nan|inf) step=(\d+)/;

export function parseMetricLines(text: string): Record<string, MetricPoint[]> {
  const out: Record<string, MetricPoint[]> = {};
  for (const line of text.split('\n')) {
    const m = METRIC_LINE.exec(line);
    if (!m) continue;
    const value = Number(m[2]);
    if (!Number.isFinite(value)) continue;
    const name = m[1]!;
    if (!out[name]) out[name] = [];
    out[name].push({ step: Number(m[3]), value });
  }
  return out;
}

const ERROR_LINE = / ERROR [\w.]+: (.+)$/;

/** The last error line a step's program logged (Ingest/Dedup state why they stopped there). */
export function lastLoggedError(text: string): string | undefined {
  let found: string | undefined;
  for (const line of text.split('\n')) found = ERROR_LINE.exec(line.trimEnd())?.[1] ?? found;
  return found;
}

function readJson(path: string): JsonObject | undefined {
  if (!existsSync(path) || !statSync(path).isFile()) return undefined;
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Json;
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Sums numbers and merges count maps across shard reports (ingest-report-<shard>.json). */
export function mergeReports(reports: JsonObject[]): JsonObject | undefined {
  if (reports.length === 0) return undefined;
  if (reports.length === 1) return reports[0];
  const merge = (a: Json | undefined, b: Json): Json => {
    if (typeof b === 'number') return (typeof a === 'number' ? a : 0) + b;
    if (b && typeof b === 'object' && !Array.isArray(b)) {
      const base: JsonObject = a && typeof a === 'object' && !Array.isArray(a) ? { ...a } : {};
      for (const [k, v] of Object.entries(b)) base[k] = merge(base[k], v);
      return base;
    }
    return a ?? b;
  };
  return reports.reduce<JsonObject>((acc, r) => merge(acc, r) as JsonObject, {});
}

const isRecord = (v: Json | undefined): v is JsonObject => !!v && typeof v === 'object' && !Array.isArray(v);

function str(v: Json | undefined): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);
}

export function collectRun(runDir: string): ReportData {
  const statePath = join(runDir, 'state.json');
  if (!existsSync(statePath)) throw new Error(`${runDir} is not a run folder (no state.json)`);
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as RunState;
  const out = (step: string, name: string): string | undefined => {
    const rel = state.steps[step]?.outputs?.[name];
    return rel === undefined ? undefined : join(runDir, rel);
  };
  const firstOutput = (step: string): string | undefined => {
    const outputs = state.steps[step]?.outputs;
    const rel = outputs ? Object.values(outputs)[0] : undefined;
    return rel === undefined ? undefined : join(runDir, rel);
  };

  const ingestDir = firstOutput('Ingest');
  const ingestReports =
    ingestDir && existsSync(ingestDir)
      ? readdirSync(ingestDir)
          .filter((f) => /^ingest-report.*\.json$/.test(f))
          .sort()
          .map((f) => readJson(join(ingestDir, f)))
          .filter((r): r is JsonObject => r !== undefined)
      : [];
  const dedupDir = firstOutput('Dedup');
  const tokenizeDir = firstOutput('Tokenize');
  const trainOut = out('Train', 'output');
  const evalDir = firstOutput('Evaluate');

  const trainLog = join(runDir, 'logs', 'Train.log');
  const metricsJson = readJson(join(runDir, 'metrics', 'Train.json'));
  let metrics: Record<string, MetricPoint[]> = {};
  let metricsSource = { source: 'the metric lines of the Train log', xLabel: 'optimizer step' };
  if (metricsJson && isRecord(metricsJson.metrics)) {
    for (const [name, pts] of Object.entries(metricsJson.metrics)) {
      if (!Array.isArray(pts)) continue;
      metrics[name] = pts
        .filter(isRecord)
        .filter((p) => typeof p.step === 'number' && typeof p.value === 'number' && Number.isFinite(p.value))
        .map((p) => ({ step: p.step as number, value: p.value as number }));
    }
    metricsSource = { source: str(metricsJson.source), xLabel: str(metricsJson.xLabel) || 'step' };
  } else if (existsSync(trainLog)) {
    metrics = parseMetricLines(readFileSync(trainLog, 'utf8'));
  }
  const sourcesJson = readJson(join(runDir, 'sources.json'));
  const sources: AwsSources | undefined =
    sourcesJson && Array.isArray(sourcesJson.entries)
      ? {
          executionArn: str(sourcesJson.executionArn),
          executionStatus: str(sourcesJson.executionStatus),
          entries: sourcesJson.entries.filter(isRecord).map((e) => ({
            step: str(e.step),
            artifact: str(e.artifact),
            ...(typeof e.uri === 'string' ? { uri: e.uri } : {}),
            ...(typeof e.file === 'string' ? { file: e.file } : {}),
            ...(typeof e.missing === 'string' ? { missing: e.missing } : {}),
          })),
          ...(isRecord(sourcesJson.mlflow) && typeof sourcesJson.mlflow.resourceArn === 'string'
            ? { mlflow: sourcesJson.mlflow as unknown as MlflowRunLink }
            : {}),
        }
      : undefined;

  const qualitative: QualitativeExample[] = [];
  const qpath = evalDir ? join(evalDir, 'qualitative.jsonl') : undefined;
  if (qpath && existsSync(qpath)) {
    for (const line of readFileSync(qpath, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const r = JSON.parse(line) as JsonObject;
        qualitative.push({
          id: str(r.id),
          prompt: str(r.prompt),
          base: str(r.base_answer ?? r.base),
          tuned: str(r.tuned_answer ?? r.tuned),
        });
      } catch {
        /* a bad line is skipped; the evaluate step's own tests guard the format */
      }
    }
  }

  let registry: JsonObject | undefined;
  const regRel = state.steps.Register?.properties?.RegistryEntry;
  if (typeof regRel === 'string') registry = readJson(join(runDir, regRel));

  let review: ReviewSummary | undefined;
  let reviewError: string | undefined;
  try {
    review = reviewSummary(runDir);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const db = resolveReviewPaths(runDir).defaultDb;
    reviewError = msg.includes(db) ? msg : `${db}: ${msg}`;
  }

  const stepErrors: Record<string, string> = {};
  for (const name of state.order) {
    const rec = state.steps[name];
    const log = rec?.log ? join(runDir, rec.log) : undefined;
    const said =
      rec?.state === 'Failed' && log && existsSync(log) ? lastLoggedError(readFileSync(log, 'utf8')) : undefined;
    if (said) stepErrors[name] = said;
  }

  const mlflowStore = join(runDir, LOCAL_MLFLOW_DIR);
  return {
    runDir,
    state,
    stepErrors,
    ...(existsSync(mlflowStore) ? { mlflowStore } : {}),
    ingest: mergeReports(ingestReports),
    dedup: dedupDir ? readJson(join(dedupDir, 'dedup-report.json')) : undefined,
    tokenize: tokenizeDir ? readJson(join(tokenizeDir, 'tokenize-report.json')) : undefined,
    trainingSummary: trainOut ? readJson(join(trainOut, 'training_summary.json')) : undefined,
    metrics,
    metricsSource,
    ...(sources ? { sources } : {}),
    evaluation: evalDir ? readJson(join(evalDir, 'evaluation.json')) : undefined,
    qualitative,
    registry,
    ...(review ? { review } : {}),
    ...(reviewError ? { reviewError } : {}),
  };
}
