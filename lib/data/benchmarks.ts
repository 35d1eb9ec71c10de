// PubMedQA (PQA-L, expert-labelled) for the Evaluate step: load it from its public source or a local copy,
// validate it, derive the decontamination PMID list, and stage it into the data bucket idempotently.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HeadObjectCommand, type HeadObjectCommandOutput, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describeError, isNotFound, md5Hex, sha256Hex, withRetries } from './s3-anonymous.ts';

/** Where the pipeline reads the benchmark by default (lib/config.ts `benchmarksUri`): `s3://<data bucket>/<this>`. */
export const DEFAULT_BENCHMARKS_PREFIX = 'benchmarks/pubmedqa/';
/** The decontamination list's file name inside the benchmarks prefix (Ingest's `--decontam_pmids` reads it). */
export const DECONTAM_FILE = 'pqal_all_pmids.txt';

/** The staged objects, in upload order (SOURCE.md last, so it only appears once the data is complete). */
export const BENCHMARK_FILES = [
  'ori_pqal.json',
  'test_ground_truth.json',
  DECONTAM_FILE,
  'LICENSE',
  'SOURCE.md',
] as const;
export type BenchmarkFile = (typeof BENCHMARK_FILES)[number];

/** The PubMedQA repository and the commit the raw files are pinned to (HEAD when the project's copy was made). */
export const PUBMEDQA_REPO = 'https://github.com/pubmedqa/pubmedqa';
export const PUBMEDQA_COMMIT = '1cbae8e92f72f20c8d3747cbb3bf5bc53554d997';
const RAW = `https://raw.githubusercontent.com/pubmedqa/pubmedqa/${PUBMEDQA_COMMIT}`;

/**
 * The public source of each upstream file: GitHub raw URLs at the pinned commit, with the sha256 measured on the
 * project's byte-for-byte copy of that commit (shared/data/pubmedqa). A download that hashes differently is refused.
 */
export const PUBMEDQA_SOURCES = {
  'ori_pqal.json': {
    url: `${RAW}/data/ori_pqal.json`,
    sha256: '8b3276be8942ebbd77f3ddcda12c1749bf0e490045a736fd8438ee40cf37a41d',
  },
  'test_ground_truth.json': {
    url: `${RAW}/data/test_ground_truth.json`,
    sha256: '939fe566f09017d13b1ca64d2ddfee0bc2374b366048152997669cccedc44d51',
  },
  LICENSE: {
    url: `${RAW}/LICENSE`,
    sha256: '8e75abc6136be91e5ae66dbb6dda07c8bc9dcc215ed3bc1ba3ae7fab7904777e',
  },
} as const;
type UpstreamFile = keyof typeof PUBMEDQA_SOURCES;

/** PQA-L sizes: 1000 labelled items, of which the official test split has 500. */
export const PUBMEDQA_EXPECTED = { items: 1000, test: 500 } as const;

export type Download = (url: string) => Promise<Uint8Array>;

/** Plain HTTPS GET with a few retries (the default source; needs internet). */
export const httpDownload: Download = (url) =>
  withRetries(
    async () => {
      const res = await fetch(url, { redirect: 'follow' });
      if (!res.ok) {
        const err = new Error(`GET ${url}: HTTP ${res.status}`);
        Object.assign(err, { $metadata: { httpStatusCode: res.status } });
        throw err;
      }
      return new Uint8Array(await res.arrayBuffer());
    },
    { attempts: 4, baseDelayMs: 500 },
  );

export interface PubMedQaRaw {
  readonly ori: Uint8Array;
  readonly test: Uint8Array;
  readonly license: Uint8Array;
  /** A decontamination list that came with the copy (checked against the derived one). */
  readonly pmidList?: Uint8Array;
  readonly origin:
    | { readonly kind: 'github'; readonly commit: string }
    | { readonly kind: 'local'; readonly dir: string };
}

/** Downloads the three upstream files and checks their sha256 against the pinned commit's. */
export async function loadFromGithub(download: Download = httpDownload): Promise<PubMedQaRaw> {
  const get = async (name: UpstreamFile) => {
    const { url, sha256 } = PUBMEDQA_SOURCES[name];
    let bytes: Uint8Array;
    try {
      bytes = await download(url);
    } catch (err) {
      throw new Error(`could not download ${url} (${describeError(err)}); without internet use --from DIR`);
    }
    const actual = sha256Hex(bytes);
    if (actual !== sha256) throw new Error(`${url}: sha256 ${actual}, expected ${sha256} (commit ${PUBMEDQA_COMMIT})`);
    return bytes;
  };
  return {
    ori: await get('ori_pqal.json'),
    test: await get('test_ground_truth.json'),
    license: await get('LICENSE'),
    origin: { kind: 'github', commit: PUBMEDQA_COMMIT },
  };
}

/** Reads a local copy (ori_pqal.json, test_ground_truth.json, LICENSE; pqal_all_pmids.txt when present). */
export async function loadFromDir(dir: string): Promise<PubMedQaRaw> {
  const root = resolve(dir);
  const read = async (name: string, required: boolean): Promise<Uint8Array | undefined> => {
    try {
      return await readFile(join(root, name));
    } catch (err) {
      if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : describeError(err);
      const hint = name === 'LICENSE' ? ' (the MIT license must travel with the data)' : '';
      throw new Error(`--from ${dir}: ${name} ${why}${hint}`);
    }
  };
  const pmidList = await read(DECONTAM_FILE, false);
  return {
    ori: (await read('ori_pqal.json', true))!,
    test: (await read('test_ground_truth.json', true))!,
    license: (await read('LICENSE', true))!,
    ...(pmidList ? { pmidList } : {}),
    origin: { kind: 'local', dir: root },
  };
}

const DECISIONS = new Set(['yes', 'no', 'maybe']);

export interface PubMedQaSummary {
  readonly items: number;
  readonly testIds: number;
  readonly labels: Record<string, number>;
  readonly testLabels: Record<string, number>;
  /** Sorted (as text) PMIDs, one per line, trailing newline: the decontamination list. */
  readonly pmidList: string;
  readonly licenseName: string;
  readonly copyright: string;
}

function parseJsonObject(bytes: Uint8Array, name: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new Error(`${name}: not valid UTF-8 JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`${name}: not a JSON object`);
  return doc as Record<string, unknown>;
}

function countBy(values: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * Checks the files the Evaluate step reads: ori_pqal.json items keyed by PMID with QUESTION, CONTEXTS, LONG_ANSWER
 * and final_decision ∈ {yes, no, maybe}; test_ground_truth.json maps PMIDs of those items to their decision; the
 * license is MIT. `expected` (default 1000 items / 500 test ids) is skipped when null (fixtures).
 */
export function validatePubMedQa(
  raw: PubMedQaRaw,
  expected: { items: number; test: number } | null = PUBMEDQA_EXPECTED,
): PubMedQaSummary {
  const ori = parseJsonObject(raw.ori, 'ori_pqal.json');
  const problems: string[] = [];
  const decisions = new Map<string, string>();
  for (const [pmid, value] of Object.entries(ori)) {
    if (problems.length >= 5) break;
    if (!/^\d+$/.test(pmid)) problems.push(`ori_pqal.json: key ${JSON.stringify(pmid)} is not a PMID`);
    const item = value as Record<string, unknown> | null;
    if (typeof item !== 'object' || item === null) {
      problems.push(`ori_pqal.json[${pmid}]: not an object`);
      continue;
    }
    if (typeof item.QUESTION !== 'string' || !item.QUESTION.trim())
      problems.push(`ori_pqal.json[${pmid}]: no QUESTION`);
    if (!Array.isArray(item.CONTEXTS) || !item.CONTEXTS.every((c) => typeof c === 'string') || !item.CONTEXTS.length) {
      problems.push(`ori_pqal.json[${pmid}]: CONTEXTS is not a non-empty list of strings`);
    }
    if (typeof item.LONG_ANSWER !== 'string') problems.push(`ori_pqal.json[${pmid}]: no LONG_ANSWER`);
    if (typeof item.final_decision !== 'string' || !DECISIONS.has(item.final_decision)) {
      problems.push(`ori_pqal.json[${pmid}]: final_decision ${JSON.stringify(item.final_decision)} not yes/no/maybe`);
    } else {
      decisions.set(pmid, item.final_decision);
    }
  }
  const test = parseJsonObject(raw.test, 'test_ground_truth.json');
  for (const [pmid, label] of Object.entries(test)) {
    if (problems.length >= 5) break;
    if (!(pmid in ori)) problems.push(`test_ground_truth.json: ${pmid} is not in ori_pqal.json`);
    else if (label !== decisions.get(pmid)) {
      problems.push(
        `test_ground_truth.json: ${pmid} is ${JSON.stringify(label)}, ori_pqal.json says ${decisions.get(pmid)}`,
      );
    }
  }
  const items = Object.keys(ori).length;
  const testIds = Object.keys(test).length;
  if (expected && items !== expected.items) problems.push(`ori_pqal.json: ${items} items, expected ${expected.items}`);
  if (expected && testIds !== expected.test) {
    problems.push(`test_ground_truth.json: ${testIds} ids, expected ${expected.test}`);
  }
  if (items === 0) problems.push('ori_pqal.json: no items');
  if (testIds === 0) problems.push('test_ground_truth.json: no ids');

  const license = new TextDecoder().decode(raw.license);
  if (!/^\s*MIT License\b/.test(license) || !/Permission is hereby granted, free of charge/.test(license)) {
    problems.push('LICENSE: not the MIT license text');
  }
  const copyright = /^\s*(Copyright \(c\).*)$/im.exec(license)?.[1]?.trim() ?? '';
  if (!copyright) problems.push('LICENSE: no "Copyright (c) …" line');

  const pmidList = `${Object.keys(ori).sort().join('\n')}\n`;
  if (raw.pmidList && new TextDecoder().decode(raw.pmidList) !== pmidList) {
    problems.push(`${DECONTAM_FILE}: differs from the sorted keys of ori_pqal.json`);
  }
  if (problems.length) throw new Error(`PubMedQA files failed validation:\n  ${problems.join('\n  ')}`);
  return {
    items,
    testIds,
    labels: countBy(decisions.values()),
    testLabels: countBy(Object.values(test) as string[]),
    pmidList,
    licenseName: 'MIT',
    copyright,
  };
}

/** The SOURCE.md line that carries the staging date (left out of the content hash so reruns stay idempotent). */
const DATE_LINE = /^- Staged: .*$/m;

export function sourceMarkdown(raw: PubMedQaRaw, summary: PubMedQaSummary, date: string): string {
  const origin =
    raw.origin.kind === 'github'
      ? [
          `- Origin: ${PUBMEDQA_REPO} at commit ${raw.origin.commit}`,
          ...(['ori_pqal.json', 'test_ground_truth.json', 'LICENSE'] as const).map(
            (f) => `  - ${f}: ${PUBMEDQA_SOURCES[f].url}`,
          ),
        ]
      : [
          `- Origin: a local copy (${raw.origin.dir}); the public source is ${PUBMEDQA_REPO}`,
          `  (commit ${PUBMEDQA_COMMIT}: ${
            sha256Hex(raw.ori) === PUBMEDQA_SOURCES['ori_pqal.json'].sha256 &&
            sha256Hex(raw.test) === PUBMEDQA_SOURCES['test_ground_truth.json'].sha256
              ? 'this copy is byte-identical to it'
              : 'this copy differs from it'
          })`,
        ];
  const labels = (l: Record<string, number>) =>
    Object.entries(l)
      .map(([k, v]) => `${k} ${v}`)
      .join(' / ');
  return [
    '# PubMedQA (PQA-L, expert-labelled)',
    '',
    'Jin et al., "PubMedQA: A Dataset for Biomedical Research Question Answering", EMNLP-IJCNLP 2019.',
    '',
    ...origin,
    `- License: ${summary.licenseName} (${summary.copyright}); the full text is in LICENSE beside this file.`,
    `- Staged: ${date} by \`medllama stage-benchmarks\``,
    '',
    '| file | what | sha256 |',
    '| --- | --- | --- |',
    `| ori_pqal.json | ${summary.items} labelled items (${labels(summary.labels)}) | ${sha256Hex(raw.ori)} |`,
    `| test_ground_truth.json | official test split, ${summary.testIds} ids (${labels(summary.testLabels)}) | ${sha256Hex(raw.test)} |`,
    `| ${DECONTAM_FILE} | derived: the ${summary.items} PMIDs, sorted, one per line (Ingest --decontam_pmids) | ${sha256Hex(new TextEncoder().encode(summary.pmidList))} |`,
    `| LICENSE | upstream license | ${sha256Hex(raw.license)} |`,
    '',
  ].join('\n');
}

export interface StagedObject {
  /** The key under the target prefix (a PubMedQA file, or a general-text file). */
  readonly name: string;
  readonly body: Uint8Array;
  readonly contentType: string;
  /** sha256 recorded in the object's metadata and compared on reruns (SOURCE.md: without its date line). */
  readonly contentSha256: string;
}

export function benchmarkObjects(raw: PubMedQaRaw, summary: PubMedQaSummary, date: string): StagedObject[] {
  const source = sourceMarkdown(raw, summary, date);
  const enc = new TextEncoder();
  const bodies: Record<BenchmarkFile, [Uint8Array, string, string?]> = {
    'ori_pqal.json': [raw.ori, 'application/json'],
    'test_ground_truth.json': [raw.test, 'application/json'],
    [DECONTAM_FILE]: [enc.encode(summary.pmidList), 'text/plain; charset=utf-8'],
    LICENSE: [raw.license, 'text/plain; charset=utf-8'],
    'SOURCE.md': [enc.encode(source), 'text/markdown; charset=utf-8', source.replace(DATE_LINE, '- Staged: -')],
  };
  return BENCHMARK_FILES.map((name) => {
    const [body, contentType, hashBasis] = bodies[name];
    return {
      name,
      body,
      contentType,
      contentSha256: hashBasis === undefined ? sha256Hex(body) : sha256Hex(enc.encode(hashBasis)),
    };
  });
}

export interface StageTarget {
  readonly bucket: string;
  /** Ends with '/' (or is empty). */
  readonly prefix: string;
  readonly kmsKeyId?: string;
  readonly dryRun?: boolean;
}

export interface StageResult {
  readonly key: string;
  readonly action: 'uploaded' | 'unchanged' | 'would-upload';
  readonly bytes: number;
}

/** Metadata key (x-amz-meta-content-sha256) carrying the staged content's hash. */
export const HASH_METADATA = 'content-sha256';

function sameKmsKey(head: HeadObjectCommandOutput, kmsKeyId: string | undefined): boolean {
  if (!kmsKeyId) return true;
  if (head.ServerSideEncryption !== 'aws:kms') return false;
  const actual = head.SSEKMSKeyId;
  // An alias cannot be compared with the key ARN S3 reports: accept any KMS key then.
  if (!actual || kmsKeyId.startsWith('alias/') || kmsKeyId.includes(':alias/')) return true;
  return actual === kmsKeyId || actual.endsWith(`/${kmsKeyId}`);
}

/** Whether the object already holds this content (our hash metadata, else a plain-MD5 ETag), with the right key. */
function unchanged(head: HeadObjectCommandOutput, obj: StagedObject, kmsKeyId: string | undefined): boolean {
  if (!sameKmsKey(head, kmsKeyId)) return false;
  const recorded = head.Metadata?.[HASH_METADATA];
  if (recorded) return recorded === obj.contentSha256;
  if (obj.name === 'SOURCE.md' || head.ServerSideEncryption === 'aws:kms') return false;
  return head.ETag?.replace(/"/g, '') === md5Hex(obj.body);
}

/** Uploads the objects that differ from what is in the bucket; the others are left untouched. */
export async function stageObjects(
  client: S3Client,
  target: StageTarget,
  objects: readonly StagedObject[],
  log: (line: string) => void,
): Promise<StageResult[]> {
  const results: StageResult[] = [];
  for (const obj of objects) {
    const key = `${target.prefix}${obj.name}`;
    const uri = `s3://${target.bucket}/${key}`;
    let head: HeadObjectCommandOutput | null = null;
    try {
      head = await client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }));
    } catch (err) {
      if (!isNotFound(err)) throw new Error(`HeadObject ${uri}: ${describeError(err)}`);
    }
    if (head && unchanged(head, obj, target.kmsKeyId)) {
      log(`  unchanged  ${uri}`);
      results.push({ key, action: 'unchanged', bytes: obj.body.byteLength });
      continue;
    }
    if (target.dryRun) {
      log(`  would put  ${uri} (${obj.body.byteLength} bytes)`);
      results.push({ key, action: 'would-upload', bytes: obj.body.byteLength });
      continue;
    }
    try {
      await client.send(
        new PutObjectCommand({
          Bucket: target.bucket,
          Key: key,
          Body: obj.body,
          ContentType: obj.contentType,
          ContentMD5: Buffer.from(md5Hex(obj.body), 'hex').toString('base64'),
          Metadata: { [HASH_METADATA]: obj.contentSha256 },
          ...(target.kmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: target.kmsKeyId } : {}),
        }),
      );
    } catch (err) {
      throw new Error(`PutObject ${uri}: ${describeError(err)}`);
    }
    log(`  put        ${uri} (${obj.body.byteLength} bytes)`);
    results.push({ key, action: 'uploaded', bytes: obj.body.byteLength });
  }
  return results;
}
