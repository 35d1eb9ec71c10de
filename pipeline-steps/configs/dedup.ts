import { z } from 'zod';
import { defineStepConfig } from './define.ts';

/**
 * `medllama.dedup`: exact (normalized-text hash) and near-duplicate (MinHash LSH, 14 bands x 8 rows over
 * word 5-grams) removal across all ingest shards, then a stable train/validation/test split by a hash of
 * each cluster's kept id. Path flags (`--input_dir`, `--output_dir`) are not part of this schema.
 */
export const config = defineStepConfig(
  'dedup',
  'Remove exact and near-duplicate documents across all ingest shards and split train/validation/test by a stable hash.',
  z.object({
    jaccard_threshold: z
      .number()
      .min(0.5)
      .max(1)
      .default(0.7)
      .describe('LSH candidates are duplicates when their estimated 5-gram Jaccard similarity is >= this'),
    validation_fraction: z
      .number()
      .min(0)
      .max(0.5)
      .default(0.01)
      .describe('share of clusters (by stable hash of the kept id) in validation'),
    test_fraction: z
      .number()
      .min(0)
      .max(0.5)
      .default(0.01)
      .describe('share of clusters (by stable hash of the kept id) in test'),
    max_validation_docs: z
      .number()
      .int()
      .min(0)
      .default(2000)
      .describe('cap on validation documents; overflow goes to train (0: no cap)'),
    max_test_docs: z
      .number()
      .int()
      .min(0)
      .default(2000)
      .describe('cap on test documents; overflow goes to train (0: no cap)'),
    split_salt: z
      .string()
      .min(1)
      .default('medllama-split-v1')
      .describe('salt of the split hash; changing it reshuffles every split'),
    match_ids: z.boolean().default(true).describe('also treat records sharing an id, pmcid or doi as one cluster'),
    bucket_window: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(16)
      .describe(
        'within an LSH bucket, compare each member with the next N members in hash order (all pairs if smaller)',
      ),
  }),
);
