/**
 * The Train step's container entry point: the image's own, behind a relay that passes SageMaker's stop signal on.
 *
 * SageMaker stops a Training job (MaxRuntime, a spot interruption, StopTrainingJob) by sending SIGTERM to the
 * container's first process, and SIGKILL 120 s later. In the Hugging Face training image the first process is a
 * shell that runs the training toolkit, and neither passes SIGTERM on (sagemaker-training-toolkit #125, #173;
 * deep-learning-containers #632), so the training script would be killed without a chance to save. With
 * `AlgorithmSpecification.ContainerEntrypoint` this relay becomes the first process: it starts the image's entry
 * point as before and, on SIGTERM, signals the PIDs that the training processes register under
 * `$MEDLLAMA_STOP_PIDS` (containers/medllama/train/stop.py), then waits for the image's process to finish and
 * exits with its status. `MEDLLAMA_IMAGE_ENTRYPOINT` replaces the image's entry point where there is no image
 * (the local runner). Every ContainerEntrypoint string must be at most 256 characters (the API model).
 */
import { trainingEntrypoint } from '../images.ts';

/** Where the training processes register their PIDs (a folder SageMaker does not upload). */
export const STOP_PIDS_DIR = '/opt/ml/output/medllama-stop-pids';

/** `bash -c <script> relay train`. */
export function stopRelayEntrypoint(): { entrypoint: string[]; arguments: string[] } {
  const image = trainingEntrypoint().join(' ');
  const script =
    `trap 'kill -TERM $(cat "$MEDLLAMA_STOP_PIDS"/*.pid 2>/dev/null) 2>/dev/null' TERM;` +
    `\${MEDLLAMA_IMAGE_ENTRYPOINT:-${image}} "$@" & c=$!;` +
    'wait $c;s=$?;while kill -0 $c 2>/dev/null;do wait $c;s=$?;done;exit $s';
  if (script.length > 256) throw new Error(`stop relay: ${script.length} characters, the API allows 256`);
  return { entrypoint: ['bash', '-c', script, 'relay'], arguments: ['train'] };
}
