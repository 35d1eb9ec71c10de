import { z } from 'zod';
import { REPLAY_URI } from '../execution-checks.ts';
import { defineStepConfig } from './define.ts';

/**
 * `medllama.tokenization`: Llama 2 tokenizer over each split of the dedup output, documents sorted by id,
 * `<s>` + document + `</s>` concatenated and packed into blocks of exactly `seq_len` tokens, written with
 * `datasets.save_to_disk` (column `input_ids`). Path flags (`--input_dir`, `--output_dir`, `--tokenizer`) are not
 * part of this schema. `replay_uri` is: the pipeline passes the `ReplayDataUri` parameter, which may be empty, so
 * the step fetches it itself (medllama/s3_prefix.py) rather than through an input that would have to exist.
 */
export const config = defineStepConfig(
  'tokenization',
  'Tokenize each split with the Llama 2 tokenizer and pack <s> document </s> streams into fixed-length blocks.',
  z.object({
    seq_len: z
      .number()
      .int()
      .min(8)
      .max(131072)
      .default(4096)
      .describe('tokens per packed block; every row has exactly this length'),
    splits: z
      .array(z.string().regex(/^[a-z][a-z0-9_-]*$/))
      .min(1)
      .default(['train', 'validation', 'test'])
      .describe('split folders of the input to tokenize'),
    replay_uri: z
      .string()
      .regex(new RegExp(`^(${REPLAY_URI.source.slice(1, -1)})?$`))
      .default('')
      .describe(
        "S3 prefix of a general-domain replay corpus (.txt: one document per file; .jsonl: one 'text' per line), " +
          "tokenized into its own split 'replay' for Train to mix in; '' = none (an empty replay split)",
      ),
    batch_docs: z.number().int().min(1).max(65536).default(128).describe('documents per tokenizer batch call'),
    chunk_docs: z
      .number()
      .int()
      .min(1)
      .default(4096)
      .describe('documents per packing chunk (sorted by id); each chunk is packed on its own, its tail dropped'),
    workers: z.number().int().min(0).max(1024).default(0).describe('tokenizer threads (0: all cores)'),
    shard_index: z
      .number()
      .int()
      .min(0)
      .nullable()
      .default(null)
      .describe("this instance's shard (null = resourceconfig)"),
    shard_count: z.number().int().min(1).nullable().default(null).describe('number of shards (null = resourceconfig)'),
  }),
);
