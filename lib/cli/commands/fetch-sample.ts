import { resolve } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  DEFAULT_LICENSES,
  type FetchSampleOptions,
  fetchSample,
  isInventoryDate,
  normalizeLicense,
  PMC_BUCKET,
  PMC_REGION,
} from '../../data/pmc-cloud.ts';
import { anonymousS3Client, type RetryOptions } from '../../data/s3-anonymous.ts';
import { type CliCommand, UsageError } from '../command.ts';
import { parseOptions } from '../options.ts';

const usage = `usage: medllama fetch-sample --count N [--out DIR] [--licenses LIST] [--allow-manuscripts] [--allow-ocr]
                             [--inventory-date DATE] [--concurrency N] [--bucket NAME] [--region REGION]
                             [--endpoint URL]

Downloads N open-license articles from the public PMC Cloud bucket (s3://pmc-oa-opendata, new layout) with
anonymous, unsigned requests (no AWS account needed). Reads the newest daily inventory of the metadata/ mirror
(inventory-reports/<bucket>/metadata/<date>/manifest.json and its gzipped CSV shards; the article keys are never
listed), takes the highest version of each PMCID in numeric PMCID order, GETs its metadata JSON, keeps articles
whose license_code is allowed and that are not retracted, author manuscripts or historical OCR scans, GETs the XML
(8 in parallel, retries with backoff) and verifies it against the md5 in xml_url.

Writes <out>/PMC<id>.<v>/PMC<id>.<v>.xml and .json (the layout \`medllama.ingest\` reads in pmc-cloud mode) and
<out>/fetch-report.json (counts, skipped articles with reasons). An XML already present with the right md5 is not
downloaded again. Exits 1 when fewer than N articles passed the filters (the report is still written).`;

const options = [
  { name: 'count', value: 'N', description: 'articles to download (required, 1 to 100000)' },
  { name: 'out', value: 'DIR', description: 'output folder', default: 'data/pmc-sample' },
  {
    name: 'licenses',
    value: 'LIST',
    description: 'comma-separated license codes to keep',
    default: DEFAULT_LICENSES.join(','),
  },
  {
    name: 'allow-manuscripts',
    description: 'keep author manuscripts (is_manuscript; license_code is often TDM: add it to --licenses)',
  },
  { name: 'allow-ocr', description: 'keep historical OCR scans (is_historical_ocr)' },
  {
    name: 'inventory-date',
    value: 'DATE',
    description: 'use this inventory (e.g. 2026-01-08T01-00Z) instead of the newest',
  },
  { name: 'concurrency', value: 'N', description: 'parallel GETs, 1 to 64', default: '8' },
  { name: 'bucket', value: 'NAME', description: 'the public PMC bucket', default: PMC_BUCKET },
  { name: 'region', value: 'REGION', description: "the bucket's region (requests are unsigned)", default: PMC_REGION },
  { name: 'endpoint', value: 'URL', description: 'S3 endpoint override (tests: a moto server; path-style)' },
] as const;

export interface FetchSampleArgs extends FetchSampleOptions {
  readonly region: string;
  readonly endpoint?: string;
}

function wholeNumber(flag: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag}: got "${raw}", expected a whole number from ${min} to ${max}`);
  }
  return n;
}

export function parseFetchSampleArgs(argv: string[]): FetchSampleArgs {
  const { values } = parseOptions(argv, options);
  if (values.count === undefined) throw new UsageError('--count is required');
  const count = wholeNumber('--count', values.count, 1, 100_000);
  const concurrency = wholeNumber('--concurrency', values.concurrency, 1, 64);
  const licenses: string[] = [];
  for (const raw of values.licenses.split(',')) {
    if (!raw.trim()) continue;
    const code = normalizeLicense(raw);
    if (!code) throw new UsageError(`--licenses: "${raw.trim()}" is not a license code (e.g. CC0, CC BY, CC BY-SA)`);
    if (!licenses.includes(code)) licenses.push(code);
  }
  if (licenses.length === 0) throw new UsageError('--licenses: give at least one license code');
  const date = values['inventory-date'];
  if (date !== undefined && !isInventoryDate(date)) {
    throw new UsageError(`--inventory-date: got "${date}", expected a date folder such as 2026-01-08T01-00Z`);
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(values.bucket)) {
    throw new UsageError(`--bucket: "${values.bucket}" is not an S3 bucket name`);
  }
  if (values.endpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(values.endpoint)) {
    throw new UsageError(`--endpoint: got "${values.endpoint}", expected an http(s) URL`);
  }
  return {
    count,
    outDir: resolve(values.out),
    bucket: values.bucket,
    region: values.region,
    concurrency,
    filter: { licenses, allowManuscripts: values['allow-manuscripts'], allowOcr: values['allow-ocr'] },
    ...(date ? { inventoryDate: date } : {}),
    ...(values.endpoint ? { endpoint: values.endpoint } : {}),
  };
}

export async function runFetchSample(
  argv: string[],
  deps: { log?: (line: string) => void; client?: S3Client; retry?: RetryOptions } = {},
): Promise<number> {
  const opts = parseFetchSampleArgs(argv);
  const log = deps.log ?? ((line: string) => console.error(line));
  const client = deps.client ?? anonymousS3Client({ region: opts.region, endpoint: opts.endpoint });
  log(
    `fetch-sample: ${opts.count} article(s) with license ${opts.filter.licenses.join(' | ')} from s3://${opts.bucket}` +
      `${opts.endpoint ? ` at ${opts.endpoint}` : ''} into ${opts.outDir}`,
  );
  const report = await fetchSample(client, { ...opts, ...(deps.retry ? { retry: deps.retry } : {}) }, log);
  const skipped = Object.entries(report.skipped)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  log(
    `fetch-sample: wrote ${report.written} of ${report.requested} (${report.reused} already present); examined ` +
      `${report.examined} of ${report.candidate_pmcids} PMCIDs; skipped: ${skipped || 'none'}`,
  );
  log(`fetch-sample: report ${opts.outDir}/fetch-report.json`);
  if (!report.complete) {
    log(`fetch-sample: only ${report.written} of ${report.requested} articles passed the filters`);
    return 1;
  }
  return 0;
}

export const command: CliCommand = {
  name: 'fetch-sample',
  summary: 'download N open-license PMC articles from the public PMC Cloud bucket (anonymous S3)',
  usage,
  options,
  run: (argv) => runFetchSample(argv),
};
