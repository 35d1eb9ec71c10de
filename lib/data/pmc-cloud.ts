// The PMC Cloud Service bucket (s3://pmc-oa-opendata, new layout since Feb 2026; research notes pmc-data.md §2.2):
// article versions live under `PMC<id>.<v>/PMC<id>.<v>.xml` with a `.json` metadata file, mirrored under
// `metadata/PMC<id>.<v>.json`; a daily S3 inventory of the `metadata/` keys is published under
// `inventory-reports/<bucket>/metadata/<date>/manifest.json`. This module reads that inventory (the only prefix it
// ever lists, one level deep, to find the newest date), filters on the metadata and downloads a local mirror in the
// same layout, which `medllama.ingest` reads in pmc-cloud mode.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import {
  ChecksumMismatchError,
  DEFAULT_RETRY,
  describeError,
  getObjectVerified,
  mapBounded,
  md5Hex,
  type RetryOptions,
} from './s3-anonymous.ts';

export const PMC_BUCKET = 'pmc-oa-opendata';
export const PMC_REGION = 'us-east-1';
/** The licenses that allow commercial reuse and derivatives (Common Pile keeps the same three). */
export const DEFAULT_LICENSES = ['CC0', 'CC BY', 'CC BY-SA'] as const;

/** Where the daily inventory of the `metadata/` mirror is published. */
export function inventoryPrefix(bucket: string): string {
  return `inventory-reports/${bucket}/metadata/`;
}

const INVENTORY_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z$/;
const METADATA_KEY = /^metadata\/(PMC\d+)\.(\d+)\.json$/;

export function isInventoryDate(value: string): boolean {
  return INVENTORY_DATE.test(value);
}

/**
 * A license code → PMC's normalized spelling (`CC0`, `CC BY`, `CC BY-NC-ND`…), or null when it is not recognised.
 * Mirrors `medllama.ingest.licenses.normalize_code` for the values the metadata uses.
 */
export function normalizeLicense(value: string | null | undefined): string | null {
  if (!value) return null;
  const text = value.trim().replace(/\s+/g, ' ');
  const low = text.toLowerCase().replace(/_/g, '-');
  if (['cc0', 'cc-0', 'cc zero', 'cc-zero', 'cc0-1.0'].includes(low)) return 'CC0';
  if (['tdm', 'no-cc code', 'no-cc-code'].includes(low)) return text.toUpperCase();
  if (['public-domain', 'public domain', 'pd', 'pdm'].includes(low)) return 'Public Domain';
  const m = /^cc[\s-]?(by(?:[\s-][a-z]{2})*)(?:[\s-]\d(?:\.\d)?)?$/.exec(low);
  if (!m) return null;
  const parts = m[1]!.split(/[\s-]/).slice(1);
  const rest = [...new Set(parts.filter((p) => p === 'nc' || p === 'nd' || p === 'sa'))];
  rest.sort((a, b) => (a === 'nc' ? 0 : 1) - (b === 'nc' ? 0 : 1));
  return `CC BY${rest.map((p) => `-${p.toUpperCase()}`).join('')}`;
}

/** The MD5 in a PMC URL's `?md5=` query parameter. */
export function md5FromUrl(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  const m = /[?&]md5=([0-9a-fA-F]{32})(?:&|$)/.exec(url);
  return m ? m[1]!.toLowerCase() : undefined;
}

/** One RFC 4180 CSV line → fields (quotes and doubled quotes handled). */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      out.push(field);
      field = '';
    } else {
      field += c;
    }
  }
  out.push(field);
  return out;
}

/** S3 Inventory writes keys URL-encoded in CSV (form encoding: `+` is a space). */
export function decodeInventoryKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

export interface InventoryManifest {
  readonly bucket: string;
  readonly fileSchema: readonly string[];
  readonly files: readonly { readonly key: string; readonly md5?: string }[];
}

/** An S3 Inventory `manifest.json` (sourceBucket, destinationBucket ARN, fileFormat CSV, fileSchema, files). */
export function parseManifest(raw: Uint8Array, defaultBucket: string, where: string): InventoryManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(raw));
  } catch (err) {
    throw new Error(`${where}: not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof doc !== 'object' || doc === null) throw new Error(`${where}: not a JSON object`);
  const m = doc as { destinationBucket?: unknown; fileFormat?: unknown; fileSchema?: unknown; files?: unknown };
  if (m.fileFormat !== undefined && m.fileFormat !== 'CSV') {
    throw new Error(`${where}: fileFormat ${JSON.stringify(m.fileFormat)} (only CSV inventories are read)`);
  }
  const schema = typeof m.fileSchema === 'string' ? m.fileSchema.split(',').map((s) => s.trim()) : ['Bucket', 'Key'];
  if (!schema.includes('Key')) throw new Error(`${where}: fileSchema has no Key column`);
  if (!Array.isArray(m.files)) throw new Error(`${where}: no "files" list`);
  const files = m.files.map((f, i) => {
    const file = f as { key?: unknown; MD5checksum?: unknown };
    if (typeof file.key !== 'string') throw new Error(`${where}: files[${i}] has no key`);
    return {
      key: file.key,
      ...(typeof file.MD5checksum === 'string' && file.MD5checksum ? { md5: file.MD5checksum.toLowerCase() } : {}),
    };
  });
  // destinationBucket is an ARN (arn:aws:s3:::name); the shards live there.
  const dest =
    typeof m.destinationBucket === 'string' ? /^arn:aws[\w-]*:s3:::([^/]+)$/.exec(m.destinationBucket) : null;
  return { bucket: dest ? dest[1]! : defaultBucket, fileSchema: schema, files };
}

/** The keys of one inventory shard (gzipped CSV, or plain CSV when the key does not end in .gz). */
export function inventoryShardKeys(raw: Uint8Array, gzipped: boolean, schema: readonly string[]): string[] {
  const text = new TextDecoder().decode(gzipped ? gunzipSync(raw) : raw);
  const col = schema.indexOf('Key');
  const keys: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line) continue;
    const row = parseCsvLine(line);
    if (row.length > col) keys.push(decodeInventoryKey(row[col]!));
  }
  return keys;
}

export interface Candidate {
  readonly pmcid: string;
  /** The highest version in the inventory. */
  readonly version: number;
  readonly olderVersions: readonly number[];
}

/** Metadata keys → one candidate per PMCID (its highest version), in numeric PMCID order. Other keys are ignored. */
export function candidatesFromKeys(keys: Iterable<string>): Candidate[] {
  const versions = new Map<string, Set<number>>();
  for (const key of keys) {
    const m = METADATA_KEY.exec(key);
    if (!m) continue;
    const set = versions.get(m[1]!) ?? new Set<number>();
    set.add(Number(m[2]));
    versions.set(m[1]!, set);
  }
  return [...versions.entries()]
    .sort(([a], [b]) => Number(a.slice(3)) - Number(b.slice(3)))
    .map(([pmcid, set]) => {
      const vs = [...set].sort((a, b) => a - b);
      return { pmcid, version: vs[vs.length - 1]!, olderVersions: vs.slice(0, -1) };
    });
}

export interface MetadataFilter {
  /** Normalized license codes that are kept. */
  readonly licenses: readonly string[];
  readonly allowManuscripts: boolean;
  readonly allowOcr: boolean;
}

export type Verdict = { readonly reason: string; readonly detail: string } | null;

/** The metadata-level checks, with the same reasons as `medllama.ingest` (filters.check_metadata). */
export function checkMetadata(meta: Record<string, unknown>, filter: MetadataFilter): Verdict {
  const raw = meta.license_code;
  const code = typeof raw === 'string' ? normalizeLicense(raw) : null;
  if (code === null) return { reason: 'license-unknown', detail: `license_code ${JSON.stringify(raw ?? null)}` };
  if (!filter.licenses.includes(code)) {
    return { reason: 'license-not-allowed', detail: `${code} not in [${filter.licenses.join(', ')}]` };
  }
  if (meta.is_retracted === true) return { reason: 'retracted', detail: 'metadata is_retracted' };
  if (meta.is_manuscript === true && !filter.allowManuscripts) {
    return { reason: 'manuscript', detail: 'metadata is_manuscript (pass --allow-manuscripts to keep)' };
  }
  if (meta.is_historical_ocr === true && !filter.allowOcr) {
    return { reason: 'ocr-scan', detail: 'metadata is_historical_ocr (pass --allow-ocr to keep)' };
  }
  if (meta.is_pmc_openaccess === false)
    return { reason: 'not-open-access', detail: 'metadata is_pmc_openaccess false' };
  return null;
}

export interface FetchSampleOptions {
  readonly count: number;
  readonly outDir: string;
  readonly bucket: string;
  readonly filter: MetadataFilter;
  /** An inventory date (`YYYY-MM-DDTHH-MMZ`); default: the newest one. */
  readonly inventoryDate?: string;
  /** Parallel GETs. */
  readonly concurrency: number;
  readonly retry?: RetryOptions;
}

export interface FetchedArticle {
  readonly pmcid: string;
  readonly version: number;
  readonly pmid: string | null;
  readonly doi: string | null;
  readonly license_code: string;
  readonly xml_md5: string;
  readonly xml_bytes: number;
  /** Already on disk with the expected MD5: not downloaded again. */
  readonly reused: boolean;
}

export interface SkippedArticle {
  readonly pmcid: string;
  readonly version: number;
  readonly reason: string;
  readonly detail: string;
}

export interface FetchReport {
  readonly bucket: string;
  readonly inventory_date: string;
  readonly inventory_manifest: string;
  readonly requested: number;
  readonly licenses: readonly string[];
  readonly allow_manuscripts: boolean;
  readonly allow_ocr: boolean;
  readonly inventory_metadata_keys: number;
  readonly candidate_pmcids: number;
  readonly superseded_versions: number;
  readonly examined: number;
  readonly written: number;
  readonly reused: number;
  readonly complete: boolean;
  readonly skipped: Record<string, number>;
  readonly skipped_articles: readonly SkippedArticle[];
  readonly articles: readonly FetchedArticle[];
}

export type Log = (line: string) => void;

/** The newest dated folder under the inventory prefix: a delimited listing of that small prefix only. */
export async function newestInventoryDate(client: S3Client, bucket: string): Promise<string> {
  const prefix = inventoryPrefix(bucket);
  const dates: string[] = [];
  let token: string | undefined;
  do {
    const res = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
    );
    for (const p of res.CommonPrefixes ?? []) {
      const date = p.Prefix?.slice(prefix.length).replace(/\/$/, '') ?? '';
      if (isInventoryDate(date)) dates.push(date);
    }
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  if (dates.length === 0) throw new Error(`no dated inventory under s3://${bucket}/${prefix}`);
  return dates.sort()[dates.length - 1]!;
}

/** Every `metadata/…json` key of an inventory (deduplicated), and where its manifest is. */
export async function readInventory(
  client: S3Client,
  bucket: string,
  date: string,
  retry: RetryOptions,
): Promise<{ keys: string[]; manifestKey: string }> {
  const manifestKey = `${inventoryPrefix(bucket)}${date}/manifest.json`;
  const where = `s3://${bucket}/${manifestKey}`;
  const raw = await getObjectVerified(client, bucket, manifestKey, { retry });
  if (!raw) throw new Error(`${where} does not exist (inventory dates look like 2026-01-08T01-00Z)`);
  const manifest = parseManifest(raw.bytes, bucket, where);
  const keys = new Set<string>();
  for (const file of manifest.files) {
    const shard = await getObjectVerified(client, manifest.bucket, file.key, {
      retry,
      ...(file.md5 ? { expectedMd5: file.md5 } : {}),
    });
    if (!shard) throw new Error(`inventory shard s3://${manifest.bucket}/${file.key} (listed in ${where}) is missing`);
    for (const key of inventoryShardKeys(shard.bytes, file.key.endsWith('.gz'), manifest.fileSchema)) keys.add(key);
  }
  return { keys: [...keys], manifestKey };
}

async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

async function readIfPresent(path: string): Promise<Uint8Array | null> {
  try {
    return await readFile(path);
  } catch {
    return null;
  }
}

type Outcome =
  | {
      readonly kind: 'ok';
      readonly meta: Uint8Array;
      readonly xml: Uint8Array | null;
      readonly article: FetchedArticle;
    }
  | { readonly kind: 'skip'; readonly skip: SkippedArticle };

function asString(value: unknown): string | null {
  return typeof value === 'string' && value ? value : typeof value === 'number' ? String(value) : null;
}

/** Metadata GET, checks, then the XML GET (verified against `?md5=`) for one candidate. Never throws. */
async function examine(
  client: S3Client,
  opts: FetchSampleOptions,
  c: Candidate,
  retry: RetryOptions,
): Promise<Outcome> {
  const id = `${c.pmcid}.${c.version}`;
  const skip = (reason: string, detail: string): Outcome => ({
    kind: 'skip',
    skip: { pmcid: c.pmcid, version: c.version, reason, detail },
  });
  let metaObj: Awaited<ReturnType<typeof getObjectVerified>>;
  try {
    metaObj = await getObjectVerified(client, opts.bucket, `metadata/${id}.json`, { retry });
  } catch (err) {
    return skip('fetch-error', `metadata/${id}.json: ${describeError(err)}`);
  }
  if (!metaObj) return skip('metadata-missing', `metadata/${id}.json is in the inventory but not in the bucket`);
  let meta: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(metaObj.bytes));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    meta = parsed as Record<string, unknown>;
  } catch (err) {
    return skip('metadata-invalid', `metadata/${id}.json: ${err instanceof Error ? err.message : String(err)}`);
  }
  const metaPmcid = asString(meta.pmcid);
  const metaVersion = meta.version === undefined ? undefined : Number(meta.version);
  if ((metaPmcid && metaPmcid !== c.pmcid) || (metaVersion !== undefined && metaVersion !== c.version)) {
    return skip('metadata-invalid', `metadata/${id}.json describes ${metaPmcid}.${metaVersion}`);
  }
  const verdict = checkMetadata(meta, opts.filter);
  if (verdict) return skip(verdict.reason, verdict.detail);

  const xmlKey = `${id}/${id}.xml`;
  const expectedMd5 = md5FromUrl(meta.xml_url);
  const xmlPath = join(opts.outDir, id, `${id}.xml`);
  const base = {
    pmcid: c.pmcid,
    version: c.version,
    pmid: asString(meta.pmid),
    doi: asString(meta.doi),
    license_code: normalizeLicense(meta.license_code as string)!,
  };
  if (expectedMd5) {
    const existing = await readIfPresent(xmlPath);
    if (existing && md5Hex(existing) === expectedMd5) {
      return {
        kind: 'ok',
        meta: metaObj.bytes,
        xml: null,
        article: { ...base, xml_md5: expectedMd5, xml_bytes: existing.byteLength, reused: true },
      };
    }
  }
  try {
    const xml = await getObjectVerified(client, opts.bucket, xmlKey, {
      retry,
      ...(expectedMd5 ? { expectedMd5 } : {}),
    });
    if (!xml) return skip('xml-missing', `${xmlKey} not found`);
    return {
      kind: 'ok',
      meta: metaObj.bytes,
      xml: xml.bytes,
      article: { ...base, xml_md5: md5Hex(xml.bytes), xml_bytes: xml.bytes.byteLength, reused: false },
    };
  } catch (err) {
    if (err instanceof ChecksumMismatchError) {
      return skip('checksum-mismatch', `${xmlKey}: md5 ${err.actual}, xml_url says ${err.expected}`);
    }
    return skip('fetch-error', `${xmlKey}: ${describeError(err)}`);
  }
}

/**
 * Downloads up to `count` articles that pass the filters: candidates (highest version per PMCID, numeric PMCID
 * order) are examined in windows, in parallel, and accepted in order, so the selection does not depend on timing.
 */
export async function fetchSample(client: S3Client, opts: FetchSampleOptions, log: Log): Promise<FetchReport> {
  const retry: RetryOptions = {
    ...(opts.retry ?? DEFAULT_RETRY),
    onRetry: (attempt, err) => log(`  retry ${attempt}: ${describeError(err)}`),
  };
  const date = opts.inventoryDate ?? (await newestInventoryDate(client, opts.bucket));
  log(`inventory ${date}: reading s3://${opts.bucket}/${inventoryPrefix(opts.bucket)}${date}/manifest.json`);
  const { keys, manifestKey } = await readInventory(client, opts.bucket, date, retry);
  const candidates = candidatesFromKeys(keys);
  const metadataKeys = keys.filter((k) => METADATA_KEY.test(k)).length;
  log(`inventory ${date}: ${metadataKeys} metadata keys, ${candidates.length} PMCIDs`);

  const articles: FetchedArticle[] = [];
  const skipped: SkippedArticle[] = [];
  const every = opts.count <= 50 ? 1 : Math.ceil(opts.count / 20);
  const window = Math.max(opts.concurrency * 2, 8);
  let examined = 0;
  for (let start = 0; start < candidates.length && articles.length < opts.count; start += window) {
    const batch = candidates.slice(start, start + window);
    const outcomes = await mapBounded(batch, opts.concurrency, (c) => examine(client, opts, c, retry));
    for (const outcome of outcomes) {
      if (articles.length >= opts.count) break;
      examined++;
      if (outcome.kind === 'skip') {
        skipped.push(outcome.skip);
        continue;
      }
      const { article } = outcome;
      const id = `${article.pmcid}.${article.version}`;
      if (outcome.xml) await writeAtomic(join(opts.outDir, id, `${id}.xml`), outcome.xml);
      await writeAtomic(join(opts.outDir, id, `${id}.json`), outcome.meta);
      articles.push(article);
      if (articles.length % every === 0 || articles.length === opts.count) {
        log(
          `[${articles.length}/${opts.count}] ${id} ${article.license_code} ${(article.xml_bytes / 1024).toFixed(1)} KiB` +
            `${article.reused ? ' (already present)' : ''}`,
        );
      }
    }
  }
  const counts: Record<string, number> = {};
  for (const s of skipped) counts[s.reason] = (counts[s.reason] ?? 0) + 1;
  const report: FetchReport = {
    bucket: opts.bucket,
    inventory_date: date,
    inventory_manifest: manifestKey,
    requested: opts.count,
    licenses: [...opts.filter.licenses],
    allow_manuscripts: opts.filter.allowManuscripts,
    allow_ocr: opts.filter.allowOcr,
    inventory_metadata_keys: metadataKeys,
    candidate_pmcids: candidates.length,
    superseded_versions: candidates.reduce((n, c) => n + c.olderVersions.length, 0),
    examined,
    written: articles.length,
    reused: articles.filter((a) => a.reused).length,
    complete: articles.length === opts.count,
    skipped: Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b))),
    skipped_articles: skipped,
    articles,
  };
  await writeAtomic(join(opts.outDir, 'fetch-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}
