import { z } from 'zod';
import { defineStepConfig } from './define.ts';

/**
 * `medllama.evaluate`: base vs tuned Llama 2 on the held-out test split (perplexity, bits per byte),
 * general-text perplexity, PubMedQA (log-likelihood of yes/no/maybe), optional MedMCQA / MedQA-4 (log-likelihood
 * of the answer letter) and a qualitative prompt set.
 * Writes `evaluation.json` (the QualityGate's PropertyFile) and `qualitative.jsonl`.
 * Path flags (`--base_model_dir`, `--tuned_model_dir`, `--candidates_dir`, `--test_dir`, `--general_dir`,
 * `--benchmarks_dir`, `--training_summary`, `--prompts`, `--output_dir`, and the S3 URIs `--tuned_model_uri` and
 * `--candidates_uri` that name where each candidate lives) are not part of this schema.
 */
export const config = defineStepConfig(
  'evaluate',
  'Evaluate the tuned model against its base: perplexity, bits per byte, the benchmark suite (PubMedQA, MedQA, MedMCQA, MMLU, ARC, HellaSwag, Winogrande), general-text regression, qualitative prompts.',
  z.object({
    seq_len: z
      .number()
      .int()
      .min(16)
      .max(32768)
      .default(4096)
      .describe(
        'Window length in tokens for perplexity: rolling windows per document as lm-evaluation-harness loglikelihood_rolling (every token predicted once; a later window sees the token before it). Capped at the model max_position_embeddings.',
      ),
    batch_size: z.number().int().min(1).max(1024).default(4).describe('Windows per forward pass for perplexity.'),
    qa_batch_size: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(16)
      .describe('Sequences per forward pass for the benchmark suite and prompts per generate call.'),
    max_test_documents: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Evaluate at most this many test documents (a stable hash order of their ids); 0 = all.'),
    max_document_tokens: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        'Score only the first N tokens of each framed test document (its bytes counted up to there, no EOS after the cut); 0 = whole documents.',
      ),
    max_general_documents: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Evaluate at most this many general-text documents; 0 = all.'),
    bootstrap_samples: z
      .number()
      .int()
      .min(100)
      .max(100000)
      .default(10000)
      .describe(
        'Bootstrap replicates for 95% confidence intervals and paired bootstrap p-values (the smallest p-value a bootstrap can report is 2/(B+1)).',
      ),
    seed: z.number().int().min(0).default(1234).describe('Seed of the bootstrap random number generator.'),
    pubmedqa_limit: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Score only the first N PubMedQA test items (sorted by PMID); 0 = all 500.'),
    medmcqa_limit: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Score only the first N MedMCQA validation items (sorted by id) when given; 0 = all 4,183.'),
    medmcqa_cop: z
      .enum(['auto', '0-3', '1-4'])
      .default('auto')
      .describe(
        'Numbering of the MedMCQA answer field cop: 0-3 (Hugging Face openlifescienceai/medmcqa), 1-4 (original release); auto = detected from the values (a 0 means 0-3, a 4 means 1-4).',
      ),
    medqa_limit: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Score only the first N MedQA-USMLE 4-option test items (file order) when given; 0 = all 1,273.'),
    max_new_tokens: z
      .number()
      .int()
      .min(1)
      .max(4096)
      .default(128)
      .describe('Greedy tokens generated per qualitative prompt and model.'),
    dtype: z
      .enum(['auto', 'bfloat16', 'float16', 'float32'])
      .default('auto')
      .describe('Model weights and forward dtype; auto = bfloat16 on GPU, float32 on CPU.'),
    device: z
      .enum(['auto', 'cuda', 'cpu'])
      .default('auto')
      .describe('Where to run the models; auto = cuda when available, else cpu.'),
    // The gate's thresholds: the same pipeline Parameters the QualityGate compares with, so evaluation.json records
    // each check's threshold and verdict (docs/evaluation.md "The gate").
    min_perplexity_improvement: z
      .number()
      .min(-1)
      .max(1)
      .default(0.05)
      .describe(
        'Gate: the lower 95% bound of (base_ppl - tuned_ppl) / base_ppl on the test split must be at least this.',
      ),
    min_pubmedqa_delta: z
      .number()
      .min(-1)
      .max(1)
      .default(-0.04)
      .describe(
        'Gate: the lower 95% bound of PubMedQA accuracy (tuned - base) must be at least this: -margin is non-inferiority, +margin superiority.',
      ),
    max_general_regression: z
      .number()
      .min(-1)
      .max(10)
      .default(0.03)
      .describe('Gate: the upper 95% bound of (tuned_ppl - base_ppl) / base_ppl on general text must be at most this.'),
  }),
);
