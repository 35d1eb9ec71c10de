import { type Json, toJson } from '../expressions.ts';

/** Step names and display names (pipeline definition schema `StepName`). */
export const STEP_NAME = /^[A-Za-z0-9\-_]{1,64}$/;

export function checkStepName(name: string, what = 'Step name'): string {
  if (!STEP_NAME.test(name)) throw new Error(`${what} "${name}" must match ${STEP_NAME.source}`);
  return name;
}

/** The step `Type` strings the SDK emits (SDKv2 workflow/steps.py StepTypeEnum). */
export type StepType = 'Processing' | 'Training' | 'Tuning' | 'Condition' | 'RegisterModel' | 'Fail';

export interface StepProps {
  /** Unique in the pipeline; the console and `Steps.<name>` references use it. */
  readonly name: string;
  /** @default - the console shows `name` */
  readonly displayName?: string;
  /** @default - no description */
  readonly description?: string;
  /**
   * Steps that must finish first although no data flows from them (data dependencies come from `Get`).
   * @default - none
   */
  readonly dependsOn?: readonly (Step | string)[];
}

/** One pipeline step; `toDefinition()` is pure and gives the step's JSON. */
export abstract class Step {
  readonly name: string;
  abstract readonly type: StepType;
  readonly displayName?: string;
  readonly description?: string;
  readonly dependsOn: readonly string[];

  constructor(props: StepProps) {
    this.name = checkStepName(props.name);
    if (props.displayName !== undefined) this.displayName = checkStepName(props.displayName, 'DisplayName');
    this.description = props.description;
    this.dependsOn = (props.dependsOn ?? []).map((d) => (typeof d === 'string' ? checkStepName(d) : d.name));
  }

  /** The step's `Arguments` (expressions still as objects). */
  protected abstract renderArguments(): unknown;

  /** Step-level members after `Arguments` (PropertyFiles, RetryPolicies, CacheConfig). */
  protected renderExtras(): Record<string, unknown> {
    return {};
  }

  /** Steps nested in this one (the If/Else branches of a condition). */
  nestedSteps(): readonly Step[] {
    return [];
  }

  toDefinition(): Json {
    return toJson({
      Name: this.name,
      Type: this.type,
      ...(this.displayName ? { DisplayName: this.displayName } : {}),
      ...(this.description ? { Description: this.description } : {}),
      ...(this.dependsOn.length ? { DependsOn: [...this.dependsOn] } : {}),
      Arguments: this.renderArguments(),
      ...this.renderExtras(),
    });
  }

  toJSON(): Json {
    return this.toDefinition();
  }
}

export type RetryExceptionType =
  | 'Step.SERVICE_FAULT'
  | 'Step.THROTTLING'
  | 'SageMaker.JOB_INTERNAL_ERROR'
  | 'SageMaker.CAPACITY_ERROR'
  | 'SageMaker.RESOURCE_LIMIT';

export interface RetryPolicyProps {
  readonly exceptionTypes: readonly RetryExceptionType[];
  /** @default 1 */
  readonly intervalSeconds?: number;
  /** @default 2 */
  readonly backoffRate?: number;
  /** Give exactly one of maxAttempts (1-20) and expireAfterMin (1-14400). */
  readonly maxAttempts?: number;
  readonly expireAfterMin?: number;
}

/** A step retry policy (sagemaker.md §7.1): `ExceptionType` is a list; exactly one of MaxAttempts/ExpireAfterMin. */
export class RetryPolicy {
  constructor(readonly props: RetryPolicyProps) {
    const { exceptionTypes, maxAttempts, expireAfterMin, intervalSeconds = 1, backoffRate = 2 } = props;
    if (exceptionTypes.length === 0) throw new Error('RetryPolicy: give at least one exception type');
    if (new Set(exceptionTypes).size !== exceptionTypes.length) {
      throw new Error(`RetryPolicy: duplicate exception types in ${JSON.stringify(exceptionTypes)}`);
    }
    if ((maxAttempts === undefined) === (expireAfterMin === undefined)) {
      throw new Error(
        `RetryPolicy: give exactly one of maxAttempts and expireAfterMin, got ${JSON.stringify({ maxAttempts, expireAfterMin })}`,
      );
    }
    if (maxAttempts !== undefined && !(Number.isInteger(maxAttempts) && maxAttempts >= 1 && maxAttempts <= 20)) {
      throw new Error(`RetryPolicy: maxAttempts must be an integer in 1..20, got ${maxAttempts}`);
    }
    if (
      expireAfterMin !== undefined &&
      !(Number.isInteger(expireAfterMin) && expireAfterMin >= 1 && expireAfterMin <= 14400)
    ) {
      throw new Error(`RetryPolicy: expireAfterMin must be an integer in 1..14400, got ${expireAfterMin}`);
    }
    if (!(Number.isInteger(intervalSeconds) && intervalSeconds >= 1)) {
      throw new Error(`RetryPolicy: intervalSeconds must be a positive integer, got ${intervalSeconds}`);
    }
    if (!(backoffRate >= 1)) throw new Error(`RetryPolicy: backoffRate must be ≥ 1, got ${backoffRate}`);
  }

  toJSON(): Json {
    const { exceptionTypes, maxAttempts, expireAfterMin, intervalSeconds = 1, backoffRate = 2 } = this.props;
    return {
      ExceptionType: [...exceptionTypes],
      IntervalSeconds: intervalSeconds,
      BackoffRate: backoffRate,
      ...(maxAttempts !== undefined ? { MaxAttempts: maxAttempts } : { ExpireAfterMin: expireAfterMin as number }),
    };
  }
}

const ISO_DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/;

/** Step caching (sagemaker.md §7.2); `expireAfter` is a strict ISO-8601 duration such as `P30D`. */
export class CacheConfig {
  constructor(readonly expireAfter: string) {
    if (!ISO_DURATION.test(expireAfter)) {
      throw new Error(`CacheConfig: expireAfter must be an ISO-8601 duration such as "P30D", got "${expireAfter}"`);
    }
  }
  toJSON(): Json {
    return { Enabled: true, ExpireAfter: this.expireAfter };
  }
}

export interface JobStepProps extends StepProps {
  /** @default - Pipelines' own retries only */
  readonly retryPolicies?: readonly RetryPolicy[];
  /** @default - not cached */
  readonly cache?: CacheConfig;
}

/** A step that runs a SageMaker job: retry policies and caching apply. */
export abstract class JobStep extends Step {
  readonly retryPolicies: readonly RetryPolicy[];
  readonly cache?: CacheConfig;
  constructor(props: JobStepProps) {
    super(props);
    this.retryPolicies = props.retryPolicies ?? [];
    this.cache = props.cache;
  }
  protected override renderExtras(): Record<string, unknown> {
    return {
      ...(this.retryPolicies.length ? { RetryPolicies: this.retryPolicies } : {}),
      ...(this.cache ? { CacheConfig: this.cache } : {}),
    };
  }
}
