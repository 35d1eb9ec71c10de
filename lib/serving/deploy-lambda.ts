// The deploy Lambda's entry point (bundled by NodejsFunction). The logic lives in deploy-handler.ts.
import { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import { SageMakerClient } from '@aws-sdk/client-sagemaker';
import { type DeployOutcome, handleEvent, type SageMakerEvent, settingsFromEnv } from './deploy-handler.ts';

const settings = settingsFromEnv(process.env);
const clients = { sagemaker: new SageMakerClient({}), autoscaling: new ApplicationAutoScalingClient({}) };

export async function handler(event: SageMakerEvent): Promise<DeployOutcome> {
  const outcome = await handleEvent(event, settings, clients);
  console.log(JSON.stringify({ event: event['detail-type'], detail: event.detail, outcome }));
  return outcome;
}
