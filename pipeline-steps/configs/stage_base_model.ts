import { z } from 'zod';
import { defineStepConfig } from './define.ts';

/**
 * `medllama.stage_base_model`: turns the gated JumpStart Llama 2 archive (the only thing a Training channel with
 * `ModelAccessConfig.AcceptEula` can read) into a plain Hugging Face model folder in SM_MODEL_DIR, which Tokenize,
 * Train and Evaluate then read like a user-staged base model. Path flags (`--base_model_dir`, `--model_dir`,
 * `--output_data_dir`) are not part of this schema.
 */
export const config = defineStepConfig(
  'stage_base_model',
  'Extract the gated JumpStart base model archive and check it is a Hugging Face Llama folder.',
  z.object({
    model_type: z
      .string()
      .regex(/^[a-z0-9_]+$/)
      .default('llama')
      .describe('the model_type config.json must declare'),
  }),
);
