import type { App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/** Unacknowledged cdk-nag AwsSolutions findings under `scope`, as `<rule> <construct path>` lines. */
export function nagFindings(app: App, scope: IConstruct): string[] {
  const report = new AwsSolutionsChecks(app).validateScope(scope);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath ?? r.resourceLogicalId}: ${v.description}`),
  );
}
