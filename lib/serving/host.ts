/**
 * The serving host that matches the serving image, decided when the ServingStack is synthesized and handed to the
 * deploy Lambda through its environment:
 * - the endpoint's `InferenceAmiVersion`: the host image whose NVIDIA driver runs the image's CUDA (the HF vLLM DLC
 *   is built for CUDA 13.0, which needs driver 580: `al2023-ami-sagemaker-inference-gpu-4-1`; the API model's
 *   documentation of `ProductionVariant.InferenceAmiVersion` lists each AMI's driver and CUDA);
 * - the container environment for the instance type: vLLM's tensor-parallel degree = the GPUs of the type, and the
 *   share of host memory the HF vLLM image pins for its CPU KV-cache offload (LMCache, 50 % of RAM by default), cut
 *   so that the weights still pass through host memory while they load.
 */
import { INSTANCE_TYPES } from '../../pipeline-steps/instances.ts';

/** Host AMIs for GPU inference, with the CUDA their driver supports (oldest first). */
const GPU_AMIS: readonly { readonly ami: string; readonly cuda: readonly [number, number]; readonly driver: number }[] =
  [
    { ami: 'al2-ami-sagemaker-inference-gpu-2-1', cuda: [12, 2], driver: 535 },
    { ami: 'al2-ami-sagemaker-inference-gpu-3-1', cuda: [12, 4], driver: 550 },
    { ami: 'al2023-ami-sagemaker-inference-gpu-4-1', cuda: [13, 0], driver: 580 },
  ];

/**
 * The host AMI for an image tag carrying its CUDA build (`…-cu130-…` → 13.0): the oldest AMI whose CUDA is at least
 * the image's. Throws for a tag without a CUDA part or newer than every AMI (the endpoint could not start).
 */
export function inferenceAmiFor(imageTag: string): string {
  const m = /-cu(\d{2,3})(?=-|$)/.exec(imageTag);
  if (!m) throw new Error(`serving image tag ${imageTag}: no -cuXYZ part to choose the host AMI by`);
  const digits = m[1]!;
  const cuda: [number, number] = [Number(digits.slice(0, -1)), Number(digits.slice(-1))];
  const fit = GPU_AMIS.find((a) => a.cuda[0] > cuda[0] || (a.cuda[0] === cuda[0] && a.cuda[1] >= cuda[1]));
  if (!fit) throw new Error(`serving image tag ${imageTag}: CUDA ${cuda.join('.')} is newer than every host AMI`);
  return fit.ami;
}

/** Host memory the weights may take while they load, plus the server process (GiB). */
const WEIGHTS_GIB = 13.5;
const PROCESS_GIB = 6;

/**
 * The serving container's environment for `instanceType` (the GPUs and host memory it has), merged over the model
 * package's own: vLLM gets its tensor-parallel degree and a CPU KV-offload share that fits the host; TGI its GPU count.
 */
export function hostEnvironment(container: 'vllm' | 'tgi', instanceType: string): Record<string, string> {
  const t = INSTANCE_TYPES[instanceType];
  if (!t?.gpu) throw new Error(`serving instance type ${instanceType}: not a GPU type of pipeline-steps/instances.ts`);
  if (container === 'tgi') return { SM_NUM_GPUS: String(t.gpus) };
  const spare = (t.memoryGiB - WEIGHTS_GIB - PROCESS_GIB) / t.memoryGiB;
  const fraction = Math.min(0.5, Math.floor(spare * 20) / 20); // the image's 0.5, or less, in steps of 5 %
  return {
    SM_VLLM_TENSOR_PARALLEL_SIZE: String(t.gpus),
    ...(fraction >= 0.1 ? { HF_LMCACHE_CPU_FRACTION: fraction.toFixed(2) } : { HF_ENABLE_LMCACHE: 'false' }), // too little RAM to spare: no CPU KV offload
  };
}
