/**
 * The throughputs `medllama plan` estimates from (prices and instance specs: pipeline-steps/instances.ts).
 * Every value names its source: docs/performance.md for what this project measured (bench/ scripts, one
 * vCPU of the 2-vCPU development VM, 2026-11-27), ../shared/research/performance.md for the rest (public
 * sources). Replace an estimate with a measurement when docs/performance.md gets one.
 */

export interface Throughput {
  readonly value: number;
  readonly unit: string;
  readonly source: string;
}

export const THROUGHPUTS = {
  /**
   * The whole ingest step on one vCPU over the sample (122 KB of XML per article, about twice PMC's average), with
   * its C speedups: `python -m medllama.ingest --workers 1` reports 273-304 articles/s (read, parse, extract,
   * language ID, MinHash, write, and ~0.2 s of start-up; the VM's speed drifted ~13% between runs), so 275 is
   * used. Its parts, from bench/ingest_throughput.py: extraction 823/s, MinHash + exact hash 1,146/s, language
   * ID 1,259/s.
   */
  ingestArticlesPerCoreSecond: {
    value: 275,
    unit: 'articles/s per vCPU',
    source: 'measured: docs/performance.md (python -m medllama.ingest --workers 1 on the sample, 2026-11-27)',
  },
  /** text-dedup clustered 88,803 documents in 2.2 s (one process). */
  dedupDocumentsPerSecond: {
    value: 40_000,
    unit: 'documents/s (one instance)',
    source: "derived from text-dedup's published MinHash rate (team research notes)",
  },
  /** Tokenize + pack, one thread, 22.9 MB of sample body text. */
  tokenizeTokensPerCoreSecond: {
    value: 485_000,
    unit: 'tokens/s per vCPU',
    source: 'measured: docs/performance.md (bench/tokenize_throughput.py, real Llama 2 tokenizer, 2026-12-07)',
  },
  /** Training tokens/s per GPU by instance type (LoRA on A10G, full fine-tune on A100; §7 cost table). */
  trainTokensPerGpuSecond: {
    'ml.g5.2xlarge': { value: 900, unit: 'tokens/s per GPU', source: 'assumed (QLoRA; team research notes)' },
    'ml.g5.12xlarge': { value: 1200, unit: 'tokens/s per GPU', source: 'assumed (LoRA; team research notes)' },
    'ml.p4d.24xlarge': {
      value: 3500,
      unit: 'tokens/s per GPU',
      source: 'llm-foundry published throughput (~51% MFU)',
    },
  } as Readonly<Record<string, Throughput>>,
  /** Forward-only perplexity is ~3× the training rate per GPU (derived from the training rate). */
  evalSpeedupOverTraining: {
    value: 3,
    unit: '×',
    source: 'derived: a forward pass is about a third of a training step',
  },
  /** MergeBack, per merged candidate of a 7B model (read, merge in fp32, write 13.5 GB to S3). */
  mergeSecondsPerCandidate: {
    value: 900,
    unit: 's',
    source: 'allowance: 6.7B parameters merged tensor by tensor on 8 vCPUs and a 13.5 GB upload; not measured on AWS',
  },
  /** MergeBack's fixed part: downloading the base and the tuned model (2 × 13.5 GB) onto its volume. */
  mergeSetupSeconds: {
    value: 300,
    unit: 's',
    source: 'allowance: 27 GB from S3 to an EBS volume at about 100-200 MB/s; not measured on AWS',
  },
} as const;

/**
 * What Evaluate scores per model on the staged benchmark suite (medllama/evaluate/suite.py): each task's items
 * (the staged split's size), the distinct model inputs per item (one for the tasks whose choices are one token —
 * " A".." D", " yes"/" no"/" maybe" — which share the question as input, requests.model_inputs; one per choice
 * otherwise) and the tokens of one input (prompt, plus the choice where it differs). Sizes: the datasets' splits
 * (docs/evaluation.md "Expected runtime", the same table); tokens per input: estimates from the prompt formats and
 * typical item lengths.
 */
export const SUITE_WORK: readonly {
  readonly task: string;
  readonly label: string;
  readonly items: number;
  readonly inputsPerItem: number;
  readonly tokensPerInput: number;
}[] = [
  { task: 'pubmedqa', label: 'PubMedQA', items: 500, inputsPerItem: 1, tokensPerInput: 400 },
  { task: 'medqa', label: 'MedQA-4', items: 1273, inputsPerItem: 1, tokensPerInput: 250 },
  { task: 'medmcqa', label: 'MedMCQA', items: 4183, inputsPerItem: 1, tokensPerInput: 60 },
  { task: 'mmlu', label: 'MMLU (11 subjects)', items: 2275, inputsPerItem: 1, tokensPerInput: 175 },
  { task: 'arc_challenge', label: 'ARC-Challenge', items: 1172, inputsPerItem: 4, tokensPerInput: 45 },
  { task: 'hellaswag', label: 'HellaSwag', items: 10042, inputsPerItem: 4, tokensPerInput: 110 },
  { task: 'winogrande', label: 'Winogrande', items: 1267, inputsPerItem: 2, tokensPerInput: 30 },
];

export const CORPUS = {
  /** Full PMC OA subset (early 2024). */
  articles: { value: 5_600_000, source: 'HF dataset viewer, TomTBT/pmc_open_access_xml' },
  /** 30.55 KiB mean document / 3.63 bytes per Llama token. Cross-check: the 182 articles Ingest keeps from
   * ../shared/data/pmc-oa-sample average 9,168 real Llama 2 tokens (35.6 KB of text, 3.88 bytes per token). */
  tokensPerArticle: {
    value: 8_600,
    source: 'derived from the Pile PMC and BioMed-LLaMA; 9,168 measured on the 182-article sample (docs/data-prep.md)',
  },
} as const;
