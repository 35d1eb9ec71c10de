import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

interface StatementJson {
  readonly Sid?: string;
  readonly Effect?: string;
  readonly Action?: string | string[];
  readonly Resource?: unknown;
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/**
 * The `AwsSolutions-IAM5[...]` finding ids of one statement, named exactly as cdk-nag names them (its own
 * `flattenCfnReference`, so `Fn::Sub`, `Fn::Join`, `Fn::ImportValue` … render identically).
 */
export function wildcardFindings(statement: StatementJson): string[] {
  if (statement.Effect !== 'Allow') return [];
  return [
    ...asArray(statement.Action)
      .filter((a) => a.includes('*'))
      .map((a) => `Action::${a}`),
    ...asArray(statement.Resource)
      .map((r) => flattenCfnReference(r))
      .filter((r) => r.includes('*'))
      .map((r) => `Resource::${r}`),
  ];
}

/**
 * Acknowledges, for cdk-nag, each wildcard finding of the statements of the IAM policy `policy` whose Sid has a
 * reason in `reasons` (read when the app is validated, so statements added later are covered); wildcards in any
 * other statement stay reported. Validation also fails when a reason names a Sid the policy does not have.
 */
export function acknowledgeWildcards(policy: IConstruct, reasons: Readonly<Record<string, string>>): void {
  policy.node.addValidation({
    validate: () => {
      const cfn = policy.node.defaultChild;
      if (!cfn || !CfnResource.isCfnResource(cfn))
        return [`acknowledgeWildcards: ${policy.node.path} has no IAM policy resource`];
      const document = Stack.of(cfn).resolve((cfn as unknown as { policyDocument: unknown }).policyDocument) as {
        Statement?: StatementJson[];
      };
      const seen = new Set<string>();
      for (const statement of document.Statement ?? []) {
        const reason = statement.Sid ? reasons[statement.Sid] : undefined;
        if (!reason) continue;
        seen.add(statement.Sid!);
        for (const finding of wildcardFindings(statement)) {
          Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
        }
      }
      return Object.keys(reasons)
        .filter((sid) => !seen.has(sid))
        .map((sid) => `acknowledgeWildcards: no statement with Sid "${sid}" in ${policy.node.path}`);
    },
  });
}
