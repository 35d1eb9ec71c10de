import { Aspects, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

/**
 * Flattens a resolved CloudFormation value the way cdk-nag 3 names it in a finding id
 * (`AwsSolutions-IAM5[Resource::<this>]`): `Fn::Join` concatenated, `Fn::GetAtt` → `<Id.Attr>`, `Ref` → `<Id>`,
 * `Fn::ImportValue` of a literal → the export name.
 */
export function flattenForNag(node: unknown): string {
  if (typeof node === 'string' || typeof node === 'number') return String(node);
  if (Array.isArray(node)) return node.map(flattenForNag).join('');
  if (node && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    if ('Fn::Join' in obj) {
      const [delimiter, items] = obj['Fn::Join'] as [string, unknown[]];
      return items.map(flattenForNag).join(delimiter);
    }
    if ('Ref' in obj) return `<${String(obj.Ref)}>`;
    if ('Fn::GetAtt' in obj) {
      const [id, attr] = obj['Fn::GetAtt'] as [string, string];
      return `<${id}.${attr}>`;
    }
    if ('Fn::ImportValue' in obj) return flattenForNag(obj['Fn::ImportValue']);
  }
  return JSON.stringify(node);
}

/** How cdk-nag names `value` (a string that may hold tokens) in a finding id; lets an acknowledgment name it. */
export function nagResourceId(scope: IConstruct, value: string): string {
  return flattenForNag(Stack.of(scope).resolve(value));
}

/**
 * Acknowledges, for cdk-nag, every wildcard action and resource of the statements of `policy` whose `Sid` has a
 * reason in `reasons` (`{ Sid: reason }`). Runs as an Aspect at synthesis, so statements added after this call
 * are covered too; statements without a reason stay reported.
 */
export function justifyWildcards(policy: IConstruct, reasons: Record<string, string>): void {
  Aspects.of(policy).add({
    visit(node: IConstruct) {
      if (node !== policy || !(policy instanceof iam.Policy)) return;
      const doc = Stack.of(policy).resolve(policy.document.toJSON()) as
        | { Statement?: Record<string, unknown>[] }
        | undefined;
      const acks: { id: string; reason: string }[] = [];
      for (const statement of doc?.Statement ?? []) {
        const reason = reasons[String(statement.Sid)];
        if (!reason) continue;
        for (const action of [statement.Action ?? []].flat() as string[]) {
          if (action.includes('*')) acks.push({ id: `AwsSolutions-IAM5[Action::${action}]`, reason });
        }
        for (const resource of [statement.Resource ?? []].flat()) {
          const flat = flattenForNag(resource);
          if (flat.includes('*')) acks.push({ id: `AwsSolutions-IAM5[Resource::${flat}]`, reason });
        }
      }
      if (acks.length) Validations.of(policy).acknowledge(...acks);
    },
  });
}
