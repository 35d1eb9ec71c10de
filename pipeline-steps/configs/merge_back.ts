import { z } from 'zod';
import { defineStepConfig } from './define.ts';

/**
 * `medllama.merge_back`: merge-back candidates of the base and the tuned model (linear, SLERP, TIES, DARE-TIES; the
 * spec grammar is pipeline-steps/merge-candidates.ts, the same as Python's), each a full HF model folder under
 * `<output_dir>/<name>/`, and `candidates.json` listing them, the tuned model first (never copied).
 * Path flags (`--base_model_dir`, `--tuned_model_dir`, `--output_dir`) are not part of this schema.
 */
export const config = defineStepConfig(
  'merge_back',
  'Build merge-back candidates (linear, SLERP, TIES, DARE-TIES) of the base and the tuned model.',
  z.object({
    candidates: z
      .string()
      // a ContainerArgument is at most 256 characters (CreateProcessingJob)
      .max(256)
      .default('slerp:t=0.5')
      .describe(
        "Merge specs separated by spaces or commas, e.g. 'slerp:t=0.5 ties:weight=0.5,density=0.5'; '' = only the tuned model (always evaluated).",
      ),
    seed: z
      .number()
      .int()
      .min(0)
      .default(1234)
      .describe("Seed of DARE-TIES' random drop (per tensor, from the seed and the tensor name)."),
  }),
);
