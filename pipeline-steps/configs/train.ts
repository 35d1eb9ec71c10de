import { z } from 'zod';
import { defineStepConfig } from './define.ts';

/**
 * What differs by method when a field is left to its method default (learning_rate 0, adam_beta2 / adam_epsilon
 * null). One table, mirrored by containers/medllama/train/config.py METHOD_DEFAULTS (a test holds them equal):
 * - LoRA: peak LR 2e-4 (QLoRA, Dettmers et al. 2023, for 7B/13B), AdamW β2 0.999, ε 1e-8 (PyTorch's);
 * - full fine-tune: peak LR 2e-5 (PMC-LLaMA's continued pretraining of LLaMA-7B on PMC papers), AdamW β2 0.95,
 *   ε 1e-5 (the Llama 2 recipe, also MEDITRON's); docs/training.md "Method defaults".
 */
export const METHOD_DEFAULTS = {
  lora: { learning_rate: 2e-4, adam_beta2: 0.999, adam_epsilon: 1e-8 },
  full: { learning_rate: 2e-5, adam_beta2: 0.95, adam_epsilon: 1e-5 },
} as const;

/** Llama's linear layers: attention q/k/v/o and the SwiGLU MLP. LoRA targets all of them by default. */
export const LLAMA_LINEAR_LAYERS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

export const config = defineStepConfig(
  'train',
  'Fine-tunes a Llama base model (LoRA or full) on packed token blocks; resumable; logs MFU.',
  z.object({
    method: z
      .enum(['lora', 'full'])
      .default('lora')
      .describe('lora: train low-rank adapters (DDP); full: all weights (FSDP)'),
    learning_rate: z
      .number()
      .min(0)
      .max(1)
      .default(0)
      .describe("peak learning rate of AdamW; 0 = the method's default (lora 2e-4, full 2e-5)"),
    lr_scheduler: z
      .enum(['cosine', 'linear', 'constant_with_warmup'])
      .default('cosine')
      .describe('learning-rate schedule after the linear warmup'),
    warmup_ratio: z.number().min(0).max(1).default(0.03).describe('fraction of the optimizer steps spent warming up'),
    min_lr_ratio: z
      .number()
      .min(0)
      .max(1)
      .default(0)
      .describe('final learning rate of the decay, as a fraction of the peak'),
    num_train_epochs: z
      .number()
      .min(0)
      .default(1)
      .describe('passes over the training blocks; ignored if max_steps > 0'),
    max_steps: z
      .number()
      .int()
      .min(-1)
      .default(-1)
      .describe('optimizer steps to run; -1 lets max_tokens (or else num_train_epochs) decide'),
    max_tokens: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('train on this many tokens (steps = tokens / tokens per step); 0 lets num_train_epochs decide'),
    max_runtime_seconds: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe("the job's MaxRuntimeInSeconds; the step checks its projected finish against it (0 = no limit)"),
    runtime_margin_seconds: z
      .number()
      .int()
      .min(0)
      .default(1800)
      .describe('time kept free before max_runtime_seconds for the final evaluation, saving and the upload'),
    on_overrun: z
      .enum(['cap', 'fail'])
      .default('cap')
      .describe('when the projected finish is too late: cap the steps (the schedule shortened to fit), or fail'),
    per_device_train_batch_size: z.number().int().min(1).default(1).describe('sequences per GPU per micro-step'),
    per_device_eval_batch_size: z.number().int().min(1).default(1).describe('sequences per GPU per evaluation pass'),
    gradient_accumulation_steps: z.number().int().min(1).default(8).describe('micro-steps per optimizer step'),
    seq_len: z.number().int().min(2).max(131072).default(4096).describe('tokens per block; must equal the packed data'),
    lora_r: z.number().int().min(1).max(1024).default(16).describe('LoRA rank'),
    lora_alpha: z.number().int().min(1).default(32).describe('LoRA scaling numerator (scale = lora_alpha / lora_r)'),
    lora_dropout: z.number().min(0).lt(1).default(0.05).describe('dropout on the LoRA input'),
    lora_target: z
      .array(z.string().regex(/^[A-Za-z0-9_.]+$/))
      .default(LLAMA_LINEAR_LAYERS)
      .describe('module names that get adapters (all linear layers)'),
    bf16: z.boolean().default(true).describe('bfloat16 compute on GPU'),
    gradient_checkpointing: z
      .boolean()
      .default(true)
      .describe('recompute activations in the backward pass to save GPU memory (off on CPU, where it only costs time)'),
    torch_compile: z.boolean().default(false).describe('torch.compile each decoder layer (GPU only)'),
    eval_steps: z.number().int().min(0).default(200).describe('evaluate every N optimizer steps (0: only at the end)'),
    replay_fraction: z
      .number()
      .min(0)
      .max(0.5)
      .default(0.01)
      .describe(
        'share of the training blocks drawn from the replay split (general text), mixed in by a seeded permutation; 0 = none; ignored when the replay split is empty',
      ),
    max_eval_blocks: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        'evaluations use at most N validation blocks, a fixed seeded subset, the final one too (0: eval_budget decides the periodic ones, the final one uses the whole split)',
      ),
    eval_budget: z
      .number()
      .gt(0)
      .max(0.5)
      .default(0.05)
      .describe('periodic evaluations may cost at most this fraction of training time (the final one is complete)'),
    save_steps: z.number().int().min(0).default(200).describe('write a checkpoint every N optimizer steps (0: never)'),
    save_total_limit: z.number().int().min(1).default(2).describe('keep the newest N checkpoints'),
    logging_steps: z.number().int().min(1).default(10).describe('print metric lines every N optimizer steps'),
    seed: z.number().int().min(0).default(42).describe('seed of the data order, LoRA init and dropout'),
    max_grad_norm: z.number().min(0).default(1).describe('clip the global gradient norm to this (0: no clipping)'),
    weight_decay: z.number().min(0).default(0).describe('AdamW weight decay (not applied to norms and biases)'),
    adam_beta1: z.number().min(0).lt(1).default(0.9).describe('AdamW beta1'),
    adam_beta2: z
      .number()
      .min(0)
      .lt(1)
      .nullable()
      .default(null)
      .describe("AdamW beta2 (null: the method's default, lora 0.999, full 0.95)"),
    adam_epsilon: z
      .number()
      .gt(0)
      .nullable()
      .default(null)
      .describe("AdamW epsilon (null: the method's default, lora 1e-8, full 1e-5)"),
    resume: z.boolean().default(true).describe('resume from the newest valid checkpoint in checkpoint_dir'),
    merge_adapter: z.boolean().default(true).describe('LoRA: save the base with the adapter merged into model_dir'),
    max_shard_size: z
      .string()
      .regex(/^[0-9]+(KB|MB|GB)$/)
      .default('2GB')
      .describe('largest safetensors shard of the saved model'),
    peak_tflops: z.number().min(0).default(0).describe('peak dense TFLOPS per device for MFU (0: known GPUs by name)'),
  }),
);
