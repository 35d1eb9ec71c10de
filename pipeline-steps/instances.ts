/**
 * The instance types MedLlama accepts, per kind of job, with what sizing, pricing and serving need to know about
 * them: vCPUs, host memory, GPUs and their memory, and the on-demand price. One table, read by the definition's
 * checks, the CDK config, `medllama start`, the local runner, `medllama plan` and the deploy Lambda, so a type is
 * either known everywhere (with a price) or refused everywhere, naming the types that are accepted.
 *
 * Specs: the AWS instance type pages (EC2 g5, g6e, p4d, m5, c5, r5). Prices: SageMaker on-demand, us-east-1, as
 * each row names its source; "derived" rows apply the SageMaker-over-EC2 ratio the
 * table's own measured rows show (1.20 CPU, 1.25 GPU) to the EC2 price, and are marked unverified.
 */

export type JobKind = 'processing' | 'training' | 'endpoint';

export interface InstanceType {
  readonly vcpus: number;
  /** Host memory, GiB. */
  readonly memoryGiB: number;
  readonly gpus: number;
  readonly gpu?: { readonly model: string; readonly memoryGiB: number };
  /** What jobs may run on it here. */
  readonly kinds: readonly JobKind[];
  /** USD per hour, on demand, us-east-1. */
  readonly usdPerHour: number;
  readonly priceSource: string;
}

const PROCESSING: readonly JobKind[] = ['processing'];
const GPU_JOBS: readonly JobKind[] = ['processing', 'training', 'endpoint'];
const SHEET = 'third-party price sheet, us-east-1, unverified';
const HF_BENCH = 'HF llama-sagemaker-benchmark, 2023-09';
const derived = (ec2: number, ratio: number) =>
  `derived: EC2 $${ec2}/h × ${ratio} (the SageMaker/EC2 ratio of this table's sourced rows; unverified)`;
const A10G = { model: 'NVIDIA A10G', memoryGiB: 24 };
const L40S = { model: 'NVIDIA L40S', memoryGiB: 48 };
const A100_40 = { model: 'NVIDIA A100 40GB', memoryGiB: 40 };

export const INSTANCE_TYPES: Readonly<Record<string, InstanceType>> = {
  'ml.m5.xlarge': { vcpus: 4, memoryGiB: 16, gpus: 0, kinds: PROCESSING, usdPerHour: 0.23, priceSource: SHEET },
  'ml.m5.2xlarge': { vcpus: 8, memoryGiB: 32, gpus: 0, kinds: PROCESSING, usdPerHour: 0.46, priceSource: SHEET },
  'ml.m5.4xlarge': {
    vcpus: 16,
    memoryGiB: 64,
    gpus: 0,
    kinds: PROCESSING,
    usdPerHour: 0.92,
    priceSource: 'derived: 2 × ml.m5.2xlarge (linear in size)',
  },
  'ml.c5.xlarge': { vcpus: 4, memoryGiB: 8, gpus: 0, kinds: PROCESSING, usdPerHour: 0.204, priceSource: SHEET },
  'ml.c5.4xlarge': {
    vcpus: 16,
    memoryGiB: 32,
    gpus: 0,
    kinds: PROCESSING,
    usdPerHour: 0.816,
    priceSource: 'derived: 4 × ml.c5.xlarge (linear in size)',
  },
  'ml.r5.2xlarge': {
    vcpus: 8,
    memoryGiB: 64,
    gpus: 0,
    kinds: PROCESSING,
    usdPerHour: 0.605,
    priceSource: derived(0.504, 1.2),
  },
  'ml.r5.4xlarge': {
    vcpus: 16,
    memoryGiB: 128,
    gpus: 0,
    kinds: PROCESSING,
    usdPerHour: 1.21,
    priceSource: derived(1.008, 1.2),
  },
  'ml.g5.2xlarge': {
    vcpus: 8,
    memoryGiB: 32,
    gpus: 1,
    gpu: A10G,
    kinds: GPU_JOBS,
    usdPerHour: 1.52,
    priceSource: HF_BENCH,
  },
  'ml.g5.12xlarge': {
    vcpus: 48,
    memoryGiB: 192,
    gpus: 4,
    gpu: A10G,
    kinds: GPU_JOBS,
    usdPerHour: 7.09,
    priceSource: HF_BENCH,
  },
  'ml.g6e.2xlarge': {
    vcpus: 8,
    memoryGiB: 64,
    gpus: 1,
    gpu: L40S,
    kinds: GPU_JOBS,
    usdPerHour: 2.81,
    priceSource: derived(2.242, 1.25),
  },
  'ml.p4d.24xlarge': {
    vcpus: 96,
    memoryGiB: 1152,
    gpus: 8,
    gpu: A100_40,
    kinds: GPU_JOBS,
    usdPerHour: 37.69,
    priceSource: HF_BENCH,
  },
};

/** The accepted types for a kind of job, sorted. */
export function instanceTypesFor(kind: JobKind): string[] {
  return Object.entries(INSTANCE_TYPES)
    .filter(([, t]) => t.kinds.includes(kind))
    .map(([name]) => name)
    .sort();
}

/** Why `type` cannot run a `kind` job here (naming the accepted types), or undefined when it can. */
export function instanceTypeProblem(type: string, kind: JobKind): string | undefined {
  const known = INSTANCE_TYPES[type];
  if (known?.kinds.includes(kind)) return undefined;
  const accepted = instanceTypesFor(kind).join(', ');
  return known
    ? `${type} is not used for ${kind} jobs here; expected one of ${accepted}`
    : `${type} is not a known instance type; expected one of ${accepted} (pipeline-steps/instances.ts)`;
}

// ---- does the model fit? ------------------------------------------------------------------------------------

/** Llama 2 7B (the production base) as the memory estimate needs it. */
export const LLAMA2_7B = { params: 6.74e9, layers: 32, hidden: 4096, vocab: 32_000 } as const;

export interface MemoryEstimate {
  /** GiB per GPU. */
  readonly perGpuGiB: number;
  readonly gpuGiB: number;
  readonly fits: boolean;
  readonly breakdown: string;
}

const GIB = 1024 ** 3;

/**
 * GPU memory per device for training the model on `type` (every GPU of `count` instances): weights, gradients and
 * AdamW states (full: 16 bytes a parameter, fp32 master weights, gradients and two moments, sharded by FSDP over
 * every GPU; LoRA: the bf16 base, 2 bytes a parameter, replicated, plus adapters), activations with gradient
 * checkpointing (each layer's input kept, one layer recomputed at a time: about 34 bytes per token and hidden
 * unit, Korthikanti et al. 2022), fp32 logits and their gradient, and 2 GiB of CUDA context and fragmentation.
 * An estimate to refuse the impossible before money is spent, not a promise that the rest fits.
 */
export function trainingMemory(
  method: 'lora' | 'full',
  type: string,
  opts: { seqLen: number; microBatch: number; instanceCount?: number; model?: typeof LLAMA2_7B },
): MemoryEstimate {
  const t = INSTANCE_TYPES[type];
  if (!t?.gpu) throw new Error(`${type}: not a GPU instance type`);
  const m = opts.model ?? LLAMA2_7B;
  const devices = t.gpus * (opts.instanceCount ?? 1);
  const states = method === 'full' ? (16 * m.params) / devices : 2 * m.params * 1.02;
  const tokens = opts.seqLen * opts.microBatch;
  const activations = m.layers * tokens * m.hidden * 2 + tokens * m.hidden * 34 + tokens * m.vocab * 4 * 2;
  const perGpu = (states + activations) / GIB + 2;
  return {
    perGpuGiB: Math.round(perGpu * 10) / 10,
    gpuGiB: t.gpu.memoryGiB,
    fits: perGpu <= t.gpu.memoryGiB,
    breakdown:
      `${method === 'full' ? `weights + gradients + AdamW states 16 B × ${(m.params / 1e9).toFixed(2)}B params / ${devices} GPUs` : `bf16 weights 2 B × ${(m.params / 1e9).toFixed(2)}B params`}` +
      ` = ${(states / GIB).toFixed(1)} GiB, activations ${(activations / GIB).toFixed(1)} GiB (seq ${opts.seqLen} × batch ${opts.microBatch}), 2 GiB overhead`,
  };
}

/** The training types on which `method` fits at `seqLen` (batch 1), for error messages. */
export function typesThatFit(method: 'lora' | 'full', seqLen: number, instanceCount = 1): string[] {
  return instanceTypesFor('training').filter(
    (type) => trainingMemory(method, type, { seqLen, microBatch: 1, instanceCount }).fits,
  );
}

/** The largest per-device micro-batch (≤ `limit`) that fits for LoRA training on `type` at `seqLen`. */
export function maxMicroBatch(type: string, seqLen: number, limit = 64): number {
  let best = 0;
  for (let b = 1; b <= limit; b++) {
    if (trainingMemory('lora', type, { seqLen, microBatch: b }).fits) best = b;
  }
  return best;
}
