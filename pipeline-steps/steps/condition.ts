import { type Json, renderValue, type Scalar } from '../expressions.ts';
import { Step, type StepProps } from './step.ts';

/** A condition of a Condition step (sagemaker.md §2.3). Entries of `Conditions` are ANDed. */
export abstract class Condition {
  abstract toJSON(): Json;
}

type Comparison = 'Equals' | 'GreaterThan' | 'GreaterThanOrEqualTo' | 'LessThan' | 'LessThanOrEqualTo';

export class ComparisonCondition extends Condition {
  constructor(
    readonly type: Comparison,
    readonly left: Scalar,
    readonly right: Scalar,
  ) {
    super();
  }
  toJSON(): Json {
    return { Type: this.type, LeftValue: renderValue(this.left), RightValue: renderValue(this.right) };
  }
}

export const Equals = (left: Scalar, right: Scalar) => new ComparisonCondition('Equals', left, right);
export const GreaterThan = (left: Scalar, right: Scalar) => new ComparisonCondition('GreaterThan', left, right);
export const GreaterThanOrEqualTo = (left: Scalar, right: Scalar) =>
  new ComparisonCondition('GreaterThanOrEqualTo', left, right);
export const LessThan = (left: Scalar, right: Scalar) => new ComparisonCondition('LessThan', left, right);
export const LessThanOrEqualTo = (left: Scalar, right: Scalar) =>
  new ComparisonCondition('LessThanOrEqualTo', left, right);

export class InCondition extends Condition {
  constructor(
    readonly query: Scalar,
    readonly values: readonly Scalar[],
  ) {
    super();
  }
  toJSON(): Json {
    return { Type: 'In', QueryValue: renderValue(this.query), Values: this.values.map(renderValue) };
  }
}

export class NotCondition extends Condition {
  constructor(readonly condition: Condition) {
    super();
  }
  toJSON(): Json {
    return { Type: 'Not', Condition: this.condition.toJSON() };
  }
}

export class OrCondition extends Condition {
  constructor(readonly conditions: readonly Condition[]) {
    super();
    if (conditions.length < 2) throw new Error('Or: give at least two conditions');
  }
  toJSON(): Json {
    return { Type: 'Or', Conditions: this.conditions.map((c) => c.toJSON()) };
  }
}

export interface ConditionStepProps extends StepProps {
  /** ANDed. */
  readonly conditions: readonly Condition[];
  /** Run when every condition holds; these steps are inlined here and must not appear at top level. */
  readonly ifSteps?: readonly Step[];
  /** Run otherwise. */
  readonly elseSteps?: readonly Step[];
}

/** A Condition step with its branches inline (never repeated in the top-level Steps list). */
export class ConditionStep extends Step {
  readonly type = 'Condition';
  constructor(readonly props: ConditionStepProps) {
    super(props);
    if (props.conditions.length === 0) throw new Error(`${this.name}: give at least one condition`);
    if (!props.ifSteps?.length && !props.elseSteps?.length) throw new Error(`${this.name}: give if or else steps`);
  }
  override nestedSteps(): readonly Step[] {
    return [...(this.props.ifSteps ?? []), ...(this.props.elseSteps ?? [])];
  }
  protected renderArguments(): unknown {
    return {
      Conditions: this.props.conditions,
      IfSteps: (this.props.ifSteps ?? []).map((s) => s.toDefinition()),
      ElseSteps: (this.props.elseSteps ?? []).map((s) => s.toDefinition()),
    };
  }
}
