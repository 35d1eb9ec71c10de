import { ArnFormat, Stack, Token } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';

/**
 * An existing SNS topic that lives in the importing stack's own account and region.
 *
 * `sns.Topic.fromTopicArn` takes the topic's environment from its ARN. When the ARN is a token (here an
 * `Fn::ImportValue` of the PipelineStack's export), that environment is unresolved, so an EventBridge rule in a
 * stack with a concrete region cannot tell whether the target is in the same environment and warns "Either the
 * Event Rule or target has an unresolved environment". The MedLlama stacks of one stage share one environment
 * (lib/app.ts gives them the same `env`), so the topic is declared to be in the stack's environment: the rule
 * then treats it as a same-environment target, as it is, and the template is unchanged.
 */
class SameEnvironmentTopic extends sns.TopicBase {
  readonly topicArn: string;
  readonly topicName: string;
  readonly masterKey?: IKey = undefined;
  readonly fifo: boolean;
  readonly contentBasedDeduplication = false;
  // An imported topic's policy is not ours to change.
  protected readonly autoCreatePolicy = false;

  constructor(scope: Construct, id: string, topicArn: string) {
    const stack = Stack.of(scope);
    super(scope, id, { account: stack.account, region: stack.region });
    this.topicArn = topicArn;
    this.topicName = stack.splitArn(topicArn, ArnFormat.NO_RESOURCE_NAME).resource;
    this.fifo = !Token.isUnresolved(this.topicName) && this.topicName.endsWith('.fifo');
  }
}

/**
 * Imports the topic `topicArn`, which must be in the account and region of `scope`'s stack. A literal ARN is checked
 * against the stack's environment where both are known; a token ARN is trusted (the caller's contract).
 */
export function importSameEnvironmentTopic(scope: Construct, id: string, topicArn: string): sns.ITopic {
  const stack = Stack.of(scope);
  if (!Token.isUnresolved(topicArn)) {
    const arn = stack.splitArn(topicArn, ArnFormat.NO_RESOURCE_NAME);
    for (const [what, ours, theirs] of [
      ['region', stack.region, arn.region],
      ['account', stack.account, arn.account],
    ] as const) {
      if (!Token.isUnresolved(ours) && theirs !== undefined && theirs !== ours) {
        throw new Error(`${topicArn}: the topic's ${what} is ${theirs}, expected the stack's (${ours})`);
      }
    }
  }
  return new SameEnvironmentTopic(scope, id, topicArn);
}
