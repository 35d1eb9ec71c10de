import type { StringValue } from '../expressions.ts';
import { Step, type StepProps } from './step.ts';

export interface FailStepProps extends StepProps {
  /** Shown as the execution's failure reason; a `Join` can name the metric values that failed. */
  readonly errorMessage: StringValue;
}

/** Stops the execution as Failed (sagemaker.md §2.5). */
export class FailStep extends Step {
  readonly type = 'Fail';
  constructor(readonly props: FailStepProps) {
    super(props);
  }
  protected renderArguments(): unknown {
    return { ErrorMessage: this.props.errorMessage };
  }
}
