import { z } from 'zod';
import { defineStepConfig } from './define.ts';

/** medllama.ingest: JATS XML (folder, PMC Cloud layout, or S3) → clean, licensed documents. */
export const config = defineStepConfig(
  'ingest',
  'JATS XML (a folder, the PMC Cloud layout on disk, or S3) to clean, licensed documents (JSON Lines).',
  z.object({
    input_mode: z
      .enum(['auto', 'folder', 'pmc-cloud', 's3'])
      .default('auto')
      .describe('auto detects folder vs PMC Cloud layout from --input_dir; s3 reads --s3_uri'),
    s3_uri: z.string().default('').describe('s3 mode: s3://bucket[/prefix] holding PMC<id>.<v>/ article folders'),
    inventory_prefix: z
      .string()
      .default('inventory-reports/pmc-oa-opendata/metadata/')
      .describe('s3 mode: key prefix of the daily S3 inventory; its newest manifest.json is read'),
    anonymous: z.boolean().default(false).describe('s3 mode: unsigned requests (the public pmc-oa-opendata bucket)'),
    s3_endpoint_url: z.string().default('').describe('s3 mode: custom endpoint URL; empty = AWS'),
    s3_concurrency: z.number().int().min(1).max(512).default(32).describe('s3 mode: parallel GETs'),
    s3_retries: z.number().int().min(1).max(20).default(5).describe('s3 mode: attempts per object'),
    licenses: z
      .array(z.string().min(1))
      .min(1)
      .default(['CC0', 'CC BY', 'CC BY-SA'])
      .describe("license allow-list (normalized codes like 'CC BY')"),
    min_words: z.number().int().min(0).default(200).describe('documents with fewer words are rejected as too-short'),
    allow_manuscripts: z.boolean().default(true).describe('keep author manuscripts (license filter still applies)'),
    allow_ocr: z.boolean().default(false).describe('keep historical OCR scans'),
    keep_captions: z.boolean().default(true).describe("emit figure and table captions as 'Figure 1: caption'"),
    keep_tables: z.boolean().default(false).describe("emit table cells as ' | '-separated rows after the caption"),
    max_articles: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('process only the first N inputs by sorted key (0 = all)'),
    max_file_mb: z
      .number()
      .gt(0)
      .max(1024)
      .default(32)
      .describe('XML files larger than this are rejected as too-large'),
    shard_index: z
      .number()
      .int()
      .min(0)
      .nullable()
      .default(null)
      .describe("this instance's shard (null = resourceconfig)"),
    shard_count: z.number().int().min(1).nullable().default(null).describe('number of shards (null = resourceconfig)'),
    input_sharded: z
      .boolean()
      .default(false)
      .describe(
        "input_dir holds only this instance's share (a ShardedByS3Key input): process all of it, name outputs by host",
      ),
    workers: z
      .number()
      .int()
      .min(0)
      .max(256)
      .default(0)
      .describe('worker processes (0 = one per vCPU); output order is fixed'),
  }),
);
