import { Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface PipelineNotificationsProps {
  /** The pipeline whose executions are reported (its ARN is matched in the event). */
  readonly pipelineArn: string;
  /** Shown in the message. */
  readonly pipelineName: string;
  /**
   * Subscribed to the topic.
   * @default - no subscription; subscribe later in the SNS console
   */
  readonly email?: string;
  /**
   * Execution states that notify.
   * @default ['Failed', 'Succeeded']
   */
  readonly states?: string[];
}

/**
 * Pipeline execution outcomes by e-mail: an EventBridge rule on "SageMaker Model Building Pipeline Execution Status
 * Change" for this pipeline → an SNS topic encrypted with its own KMS key (rotation on) whose policy refuses non-TLS
 * publishing. Alarms send to {@link topic} too. A KMS-encrypted topic takes a publish from a service only when both
 * policies allow it: the topic's (sns:Publish) and the key's (kms:GenerateDataKey, kms:Decrypt). EventBridge's topic
 * grant comes with its rule target; CloudWatch's is added here. Every grant is scoped to this account (and, on the
 * topic, to its alarms), so another account's alarm or rule cannot use them.
 */
export class PipelineNotifications extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: PipelineNotificationsProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: `MedLlama: notifications of ${props.pipelineName}`,
      enableKeyRotation: true,
    });
    const { account, region, partition } = Stack.of(this);
    for (const service of ['events.amazonaws.com', 'cloudwatch.amazonaws.com']) {
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `Publish${service.split('.')[0]!.replace(/^./, (c) => c.toUpperCase())}`,
          principals: [new iam.ServicePrincipal(service)],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: ['*'], // A key policy's resource is always the key itself.
          conditions: { StringEquals: { 'aws:SourceAccount': account } },
        }),
      );
    }
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: `MedLlama ${props.pipelineName}`,
      masterKey: this.key,
      enforceSSL: true,
    });
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': account },
          ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
        },
      }),
    );
    if (props.email) this.topic.addSubscription(new subs.EmailSubscription(props.email));

    const states = props.states ?? ['Failed', 'Succeeded'];
    this.rule = new events.Rule(this, 'ExecutionStatus', {
      description: `MedLlama: ${props.pipelineName} executions that end ${states.join(' or ')}`,
      eventPattern: {
        source: ['aws.sagemaker'],
        detailType: ['SageMaker Model Building Pipeline Execution Status Change'],
        detail: {
          pipelineArn: [props.pipelineArn],
          currentPipelineExecutionStatus: states,
        },
      },
    });
    const field = (path: string) => events.EventField.fromPath(path);
    this.rule.addTarget(
      new targets.SnsTopic(this.topic, {
        message: events.RuleTargetInput.fromText(
          `MedLlama pipeline ${props.pipelineName}: execution ${field('$.detail.pipelineExecutionDisplayName')} ` +
            `is ${field('$.detail.currentPipelineExecutionStatus')} (was ${field('$.detail.previousPipelineExecutionStatus')}). ` +
            `Execution: ${field('$.detail.pipelineExecutionArn')}. ` +
            `Details: medllama status ${field('$.detail.pipelineExecutionArn')}`,
        ),
      }),
    );
  }
}
