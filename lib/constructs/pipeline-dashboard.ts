import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/** Namespace of SageMaker Pipelines' execution metrics (dimension PipelineName). */
export const PIPELINE_METRICS_NAMESPACE = 'AWS/Sagemaker/ModelBuildingPipeline';
/** Namespace of training jobs' MetricDefinitions metrics (dimension Host = `<job>/algo-<n>`). */
export const TRAINING_METRICS_NAMESPACE = '/aws/sagemaker/TrainingJobs';

export interface PipelineDashboardProps {
  readonly pipelineName: string;
  /** Endpoint the serving stack deploys (latency and error widgets); it may not exist yet. */
  readonly endpointName: string;
  /**
   * Training metric names (the MetricDefinitions names of containers/medllama/metric_definitions.json) for the
   * loss and throughput graphs.
   * @default { loss: ['train:loss', 'validation:loss'], throughput: ['train:tokens_per_second'] }
   */
  readonly trainingMetrics?: { readonly loss: string[]; readonly throughput: string[] };
  /**
   * Alarm actions go here.
   * @default - alarms without actions
   */
  readonly alarmTopic?: sns.ITopic;
}

/**
 * A CloudWatch SEARCH over every training job's `metric` (one line per job instance, labelled by its Host);
 * new jobs appear without a redeploy.
 */
export function trainingSearch(metric: string, stat: string): string {
  return `SEARCH('{${TRAINING_METRICS_NAMESPACE},Host} MetricName="${metric}"', '${stat}', 60)`;
}

/**
 * One dashboard for a MedLlama pipeline: training loss and tokens/s of every training job (metric SEARCH, so new
 * jobs appear without redeploying), pipeline execution outcomes and duration, and the serving endpoint's latency and
 * errors; plus alarms on failed executions and endpoint 5XX errors.
 */
export class PipelineDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  readonly executionFailedAlarm: cloudwatch.Alarm;
  readonly endpointErrorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const metrics = props.trainingMetrics ?? {
      loss: ['train:loss', 'validation:loss'],
      throughput: ['train:tokens_per_second'],
    };
    for (const [what, names] of Object.entries(metrics)) {
      if (names.length === 0) throw new Error(`PipelineDashboard: no training metric names for the ${what} graph`);
    }
    const pipelineMetric = (metricName: string, statistic = 'Sum') =>
      new cloudwatch.Metric({
        namespace: PIPELINE_METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { PipelineName: props.pipelineName },
        statistic,
        period: Duration.hours(1),
      });
    const endpointMetric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName,
        dimensionsMap: { EndpointName: props.endpointName, VariantName: 'AllTraffic' },
        statistic,
        period: Duration.minutes(5),
      });
    const search = (names: string[], stat: string) =>
      names.map(
        (name) =>
          new cloudwatch.MathExpression({
            expression: trainingSearch(name, stat),
            label: '',
            period: Duration.minutes(1),
          }),
      );

    this.dashboard = new cloudwatch.Dashboard(this, 'Resource', {
      dashboardName: `${props.pipelineName}-dashboard`,
      defaultInterval: Duration.days(7),
    });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `# MedLlama pipeline \`${props.pipelineName}\`\nTraining metrics come from the training jobs' MetricDefinitions; executions from SageMaker Pipelines; the endpoint from the serving stack (\`${props.endpointName}\`).`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Training loss (every training job)',
        left: search(metrics.loss, 'Average'),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Training throughput (tokens/s)',
        left: search(metrics.throughput, 'Average'),
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Pipeline executions',
        left: ['ExecutionStarted', 'ExecutionSucceeded', 'ExecutionFailed', 'ExecutionStopped'].map((m) =>
          pipelineMetric(m),
        ),
        stacked: true,
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Execution duration (ms)',
        left: [pipelineMetric('ExecutionDuration', 'Maximum')],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Endpoint latency (µs)',
        left: [endpointMetric('ModelLatency', 'p50'), endpointMetric('ModelLatency', 'p99')],
        right: [endpointMetric('OverheadLatency', 'p99')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Endpoint invocations and errors',
        left: [endpointMetric('Invocations', 'Sum')],
        right: [endpointMetric('Invocation4XXErrors', 'Sum'), endpointMetric('Invocation5XXErrors', 'Sum')],
        width: 12,
      }),
    );

    this.executionFailedAlarm = new cloudwatch.Alarm(this, 'ExecutionFailed', {
      alarmDescription: `A ${props.pipelineName} execution failed; run \`medllama status\` for the failed step and reason.`,
      metric: pipelineMetric('ExecutionFailed'),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.endpointErrorsAlarm = new cloudwatch.Alarm(this, 'EndpointErrors', {
      alarmDescription: `Endpoint ${props.endpointName} returned 5XX errors in 3 consecutive 5-minute periods.`,
      metric: endpointMetric('Invocation5XXErrors', 'Sum'),
      threshold: 1,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) {
      for (const alarm of [this.executionFailedAlarm, this.endpointErrorsAlarm]) {
        alarm.addAlarmAction(new cwActions.SnsAction(props.alarmTopic));
        alarm.addOkAction(new cwActions.SnsAction(props.alarmTopic));
      }
    }
  }
}
