/**
 * The numbers `medllama plan` estimates from: SageMaker on-demand prices and per-step throughputs.
 * Every value names its source; all come from ../shared/research/performance.md (written 2026-11-27 from
 * public sources; nothing here was measured by this project yet). Measured numbers replace these when
 * docs/performance.md has them; update `asOf` and `source` with each change.
 */

export interface InstancePrice {
  readonly vcpus: number;
  readonly gpus: number;
  /** USD per hour, on demand. */
  readonly usdPerHour: number;
  readonly asOf: string;
  readonly source: string;
}

export const PRICES: Readonly<Record<string, InstancePrice>> = {
  'ml.c5.xlarge': {
    vcpus: 4,
    gpus: 0,
    usdPerHour: 0.204,
    asOf: '2026-11',
    source: 'performance.md §7 (third-party, us-east-1, unverified)',
  },
  'ml.m5.xlarge': {
    vcpus: 4,
    gpus: 0,
    usdPerHour: 0.23,
    asOf: '2026-11',
    source: 'performance.md §7 (third-party, us-east-1, unverified)',
  },
  'ml.m5.2xlarge': {
    vcpus: 8,
    gpus: 0,
    usdPerHour: 0.46,
    asOf: '2026-11',
    source: 'performance.md §7 (third-party, us-east-1, unverified)',
  },
  'ml.c5.4xlarge': {
    vcpus: 16,
    gpus: 0,
    usdPerHour: 0.816,
    asOf: '2026-11',
    source: 'derived: 4 × ml.c5.xlarge (linear in size)',
  },
  'ml.m5.4xlarge': {
    vcpus: 16,
    gpus: 0,
    usdPerHour: 0.92,
    asOf: '2026-11',
    source: 'derived: 2 × ml.m5.2xlarge (linear in size)',
  },
  'ml.g5.2xlarge': {
    vcpus: 8,
    gpus: 1,
    usdPerHour: 1.52,
    asOf: '2023-09',
    source: 'performance.md §7 (HF llama-sagemaker-benchmark, us-west-2)',
  },
  'ml.g5.12xlarge': {
    vcpus: 48,
    gpus: 4,
    usdPerHour: 7.09,
    asOf: '2023-09',
    source: 'performance.md §7 (HF llama-sagemaker-benchmark, us-west-2)',
  },
  'ml.p4d.24xlarge': {
    vcpus: 96,
    gpus: 8,
    usdPerHour: 37.69,
    asOf: '2023-09',
    source: 'performance.md §7 (HF benchmark; same price quoted for us-east-1)',
  },
};

export interface Throughput {
  readonly value: number;
  readonly unit: string;
  readonly source: string;
}

export const THROUGHPUTS = {
  /** Parse (150 articles/s/core) plus MinHash (0.78 MB/s/core at 31 KB/article): 1/(1/150 + 0.031/0.78). */
  ingestArticlesPerCoreSecond: {
    value: 21.6,
    unit: 'articles/s per vCPU',
    source: 'derived from performance.md §4.2 (pubmed_parser 9 MB/s/core; datatrove MinHash 0.78 MB/s/task)',
  },
  /** text-dedup clustered 88,803 documents in 2.2 s (one process). */
  dedupDocumentsPerSecond: {
    value: 40_000,
    unit: 'documents/s (one instance)',
    source: 'derived from performance.md §4.2 (text-dedup)',
  },
  /** HF tokenizers single thread 2.6–4.3 MB/s at 3.63 B/token: 0.7–1.2M tokens/s; the low end. */
  tokenizeTokensPerCoreSecond: {
    value: 700_000,
    unit: 'tokens/s per vCPU',
    source: 'derived from performance.md §4.2 (tokenizers CI benches)',
  },
  /** Training tokens/s per GPU by instance type (LoRA on A10G, full fine-tune on A100; §7 cost table). */
  trainTokensPerGpuSecond: {
    'ml.g5.2xlarge': { value: 900, unit: 'tokens/s per GPU', source: 'performance.md §7 (assumed, QLoRA)' },
    'ml.g5.12xlarge': { value: 1200, unit: 'tokens/s per GPU', source: 'performance.md §7 (assumed, LoRA)' },
    'ml.p4d.24xlarge': {
      value: 3500,
      unit: 'tokens/s per GPU',
      source: 'performance.md §2/§7 (llm-foundry, ~51% MFU)',
    },
  } as Readonly<Record<string, Throughput>>,
  /** Forward-only perplexity is ~3× the training rate per GPU (performance.md §6). */
  evalSpeedupOverTraining: { value: 3, unit: '×', source: 'performance.md §6 (derived)' },
} as const;

export const CORPUS = {
  /** Full PMC OA subset (early 2024). */
  articles: { value: 5_600_000, source: 'performance.md §4.1 (HF dataset viewer, TomTBT/pmc_open_access_xml)' },
  /** 30.55 KiB mean document / 3.63 bytes per Llama token. */
  tokensPerArticle: { value: 8_600, source: 'performance.md §4.1 (derived from the Pile PMC and BioMed-LLaMA)' },
} as const;
