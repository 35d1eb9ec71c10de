import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MLFLOW_RESOURCE_ARN, TRACKING_ENV } from '../tracking.ts';

/** The MLflow store of a local run: `runs/<id>/mlruns` (`mlflow ui --backend-store-uri runs/<id>/mlruns`). */
export const LOCAL_MLFLOW_DIR = 'mlruns';

/**
 * What SageMaker's managed MLflow is to a job on AWS, a file store under the run folder is to a local job: the
 * MLflow App ARN of the definition's `MLFLOW_TRACKING_URI` becomes that store's `file:` URI. MLflow 3.7+ refuses
 * the file store unless `MLFLOW_ALLOW_FILE_STORE=true` (its message: the file store is "in maintenance mode"), so
 * that is set with it. Any other URI (a user's own server) is left as it is.
 */
export function localTrackingEnvironment(env: Record<string, string>, runDir: string): Record<string, string> {
  const uri = env[TRACKING_ENV.trackingUri];
  if (uri === undefined || !MLFLOW_RESOURCE_ARN.test(uri)) return env;
  return {
    ...env,
    [TRACKING_ENV.trackingUri]: pathToFileURL(join(runDir, LOCAL_MLFLOW_DIR)).href,
    MLFLOW_ALLOW_FILE_STORE: 'true',
  };
}
