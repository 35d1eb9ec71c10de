/**
 * The parts of a SageMaker pipeline definition (research notes sagemaker.md §1.2–§2) that the local
 * runner reads. Step arguments stay plain JSON: they follow the SageMaker API request shapes and may
 * hold expressions (`Get`, `Std:Join`, `Std:JsonGet`) wherever a scalar is.
 */
export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export type ParameterType = 'String' | 'Integer' | 'Float' | 'Boolean';

export interface ParameterDefinition {
  readonly Name: string;
  readonly Type: ParameterType;
  readonly DefaultValue?: string | number | boolean;
  readonly EnumValues?: string[];
  readonly Description?: string;
}

export interface RetryPolicy {
  readonly ExceptionType: string[] | string;
  readonly IntervalSeconds?: number;
  readonly BackoffRate?: number;
  readonly MaxAttempts?: number;
  readonly ExpireAfterMin?: number;
}

export interface PropertyFileDefinition {
  readonly PropertyFileName: string;
  readonly OutputName: string;
  readonly FilePath: string;
}

export interface StepDefinition {
  readonly Name: string;
  readonly Type: string;
  readonly Arguments?: JsonObject;
  readonly DependsOn?: string[];
  readonly DisplayName?: string;
  readonly Description?: string;
  readonly PropertyFiles?: PropertyFileDefinition[];
  readonly CacheConfig?: { readonly Enabled: boolean; readonly ExpireAfter?: string };
  readonly RetryPolicies?: RetryPolicy[];
}

export interface PipelineDefinition {
  readonly Version?: string;
  readonly Metadata?: JsonObject;
  readonly Parameters?: ParameterDefinition[];
  readonly PipelineExperimentConfig?: JsonObject;
  readonly Steps: StepDefinition[];
}

export type ParameterValue = string | number | boolean;

/** What a finished step exposes to `Get: Steps.<name>.<path>` (shaped like the Describe*Job responses). */
export type StepProperties = JsonObject;

export type StepState = 'Pending' | 'Executing' | 'Succeeded' | 'Failed' | 'Stopped' | 'Skipped';

/** One step's record in `runs/<id>/state.json`. */
export interface StepRecord {
  name: string;
  type: string;
  state: StepState;
  /** `true` when the outputs came from the cache, `'previous-run'` when reused by `--from-step`/resume. */
  reused?: 'cache' | 'previous-run';
  cacheKey?: string;
  attempts: number;
  startedAt?: string;
  endedAt?: string;
  elapsedSeconds?: number;
  /** Relative to the run folder. */
  log?: string;
  failureReason?: string;
  properties?: StepProperties;
  /** Where each named output (processing outputs, model, output data) lies, relative to the run folder. */
  outputs?: Record<string, string>;
  /** For Condition steps, the branch taken. */
  outcome?: boolean;
}

export interface RunState {
  schemaVersion: 1;
  runId: string;
  pipelineName: string;
  status: 'Executing' | 'Succeeded' | 'Failed' | 'Stopped';
  startedAt: string;
  endedAt?: string;
  failureReason?: string;
  parameters: Record<string, ParameterValue>;
  steps: Record<string, StepRecord>;
  /** Step names in execution order. */
  order: string[];
}
