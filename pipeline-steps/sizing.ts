/**
 * Storage volumes of the data steps, sized from the corpus: each step's volume holds what SageMaker copies onto it
 * (File-mode inputs), what the step writes before the upload, and headroom. The definition uses these figures for
 * `VolumeSizeInGB`, and `medllama plan` prints them, so both read one source.
 *
 * Sizes per article (measured or published; `docs/aws-runtime.md` "Volumes"):
 * - JATS XML: 118 KB, the mean of the 200 real articles of the team's PMC OA sample (ranges 4 KB to 1.6 MB);
 * - extracted document, JSON Lines with its MinHash signature: 31.3 KiB of text (the Pile's PMC mean of 30.55 KiB,
 *   the team's research notes) plus ~1 KiB of fields and signature;
 * - packed tokens: 8,600 Llama 2 tokens × 4 bytes (int32 Arrow rows), from the same 30.55 KiB at 3.63 bytes/token.
 */

/** Bytes per article on each storage a data step touches. */
export const BYTES_PER_ARTICLE = {
  xml: 118_000,
  document: 33_000,
  tokens: 8_600 * 4,
} as const;

/** The full PMC Open Access subset (early 2024), the default corpus. */
export const FULL_PMC_OA_ARTICLES = 5_600_000;

/** Headroom on every volume: temporary files, logs, and a corpus larger than expected. */
const HEADROOM = 1.25;
/** The smallest volume we ask for (the image's own layers and pip cache live there too). */
const MIN_VOLUME_GB = 50;
/** SageMaker's largest ML storage volume (VolumeSizeInGB). */
export const MAX_VOLUME_GB = 16_384;

export interface DataVolumes {
  readonly ingest: number;
  readonly dedup: number;
  readonly tokenize: number;
}

export interface CorpusSizing {
  /** Articles the pipeline will read. @default FULL_PMC_OA_ARTICLES */
  readonly articles?: number;
  /**
   * Whether Ingest reads the articles itself from S3 (the public PMC bucket: nothing copied onto its volume) or
   * gets them as a File-mode ProcessingInput (staged XML: copied onto the volume before the container starts).
   */
  readonly ingestReadsS3: boolean;
}

function gb(bytes: number): number {
  const size = Math.ceil((bytes * HEADROOM) / 1e9);
  return Math.min(MAX_VOLUME_GB, Math.max(MIN_VOLUME_GB, size));
}

/**
 * Each data step's volume in GB for one instance. More instances only shrink the per-instance share (ShardedByS3Key
 * input for Ingest, contiguous chunks for Tokenize's output), so one instance is the size to plan for.
 */
export function dataVolumes(c: CorpusSizing): DataVolumes {
  const n = c.articles ?? FULL_PMC_OA_ARTICLES;
  if (!Number.isInteger(n) || n < 1) throw new Error(`corpus articles: got ${n}, expected a positive integer`);
  const documents = n * BYTES_PER_ARTICLE.document;
  return {
    ingest: gb((c.ingestReadsS3 ? 0 : n * BYTES_PER_ARTICLE.xml) + documents),
    dedup: gb(2 * documents),
    tokenize: gb(documents + n * BYTES_PER_ARTICLE.tokens),
  };
}
