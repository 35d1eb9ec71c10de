// The benchmark suite beside PubMedQA (docs/evaluation.md "Benchmark suite"): MedQA-4, MedMCQA, MMLU (six medical
// subjects and the fixed non-medical subset), ARC-Challenge, HellaSwag and Winogrande. Each is read from the Hugging
// Face dataset lm-evaluation-harness reads (its own records, via the datasets-server rows API, or from a local copy
// laid out as the benchmarks folder), validated, and staged as `<task folder>/<file>` JSON Lines plus a SOURCE.md
// (dataset, config, split, revision, rows, sha256, license) under the benchmarks prefix, beside PubMedQA.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Download, StagedObject } from './benchmarks.ts';
import { describeError, sha256Hex } from './s3-anonymous.ts';

export interface SuiteSource {
  /** Evaluate's task name(s) this file feeds (`metrics.<task>`). */
  readonly task: string;
  /** Folder under the benchmarks prefix, and the file Evaluate reads there. */
  readonly folder: string;
  readonly file: string;
  /** The Hugging Face dataset (the harness' `dataset_path`), its config and split. */
  readonly dataset: string;
  readonly config: string;
  readonly split: string;
  /** Rows of that split (checked unless --any-size). */
  readonly rows: number;
  /** Fields every record must have (the loaders' schema). */
  readonly fields: readonly string[];
  readonly license: string;
  /** Where the license was read. */
  readonly licenseSource: string;
}

const MMLU_FIELDS = ['question', 'choices', 'answer'] as const;
const mmlu = (subject: string, rows: number, task: string): SuiteSource => ({
  task,
  folder: `mmlu/${subject}`,
  file: 'test.jsonl',
  dataset: 'cais/mmlu',
  config: subject,
  split: 'test',
  rows,
  fields: MMLU_FIELDS,
  license: 'MIT',
  licenseSource: 'https://github.com/hendrycks/test (LICENSE); huggingface.co/datasets/cais/mmlu',
});

/** Every file of the suite beside PubMedQA, in the order Evaluate reports the tasks. */
export const SUITE_SOURCES: readonly SuiteSource[] = [
  {
    task: 'medqa',
    folder: 'medqa',
    file: 'test.jsonl',
    dataset: 'GBaker/MedQA-USMLE-4-options-hf',
    config: 'default',
    split: 'test',
    rows: 1273,
    fields: ['sent1', 'ending0', 'ending1', 'ending2', 'ending3', 'label'],
    license: 'CC-BY-SA-4.0 (the original release, jind11/MedQA: MIT)',
    licenseSource: 'huggingface.co/datasets/GBaker/MedQA-USMLE-4-options-hf (dataset card)',
  },
  {
    task: 'medmcqa',
    folder: 'medmcqa',
    file: 'validation.jsonl',
    dataset: 'openlifescienceai/medmcqa',
    config: 'default',
    split: 'validation',
    rows: 4183,
    fields: ['id', 'question', 'opa', 'opb', 'opc', 'opd', 'cop'],
    license: 'Apache-2.0',
    licenseSource: 'huggingface.co/datasets/openlifescienceai/medmcqa (dataset card)',
  },
  mmlu('anatomy', 135, 'mmlu_anatomy'),
  mmlu('clinical_knowledge', 265, 'mmlu_clinical_knowledge'),
  mmlu('college_biology', 144, 'mmlu_college_biology'),
  mmlu('college_medicine', 173, 'mmlu_college_medicine'),
  mmlu('medical_genetics', 100, 'mmlu_medical_genetics'),
  mmlu('professional_medicine', 272, 'mmlu_professional_medicine'),
  // medllama.evaluate.mmlu.GENERAL_SUBJECTS: the fixed non-medical subset (one task, mmlu_general)
  mmlu('philosophy', 311, 'mmlu_general'),
  mmlu('high_school_macroeconomics', 390, 'mmlu_general'),
  mmlu('high_school_physics', 151, 'mmlu_general'),
  mmlu('computer_security', 100, 'mmlu_general'),
  mmlu('marketing', 234, 'mmlu_general'),
  {
    task: 'arc_challenge',
    folder: 'arc_challenge',
    file: 'test.jsonl',
    dataset: 'allenai/ai2_arc',
    config: 'ARC-Challenge',
    split: 'test',
    rows: 1172,
    fields: ['id', 'question', 'choices', 'answerKey'],
    license: 'CC-BY-SA-4.0',
    licenseSource: 'huggingface.co/datasets/allenai/ai2_arc (dataset card)',
  },
  {
    task: 'hellaswag',
    folder: 'hellaswag',
    file: 'validation.jsonl',
    dataset: 'Rowan/hellaswag',
    config: 'default',
    split: 'validation',
    rows: 10042,
    fields: ['ind', 'activity_label', 'ctx_a', 'ctx_b', 'endings', 'label'],
    license: 'MIT',
    licenseSource: 'https://github.com/rowanz/hellaswag (LICENSE; the HF dataset card names none)',
  },
  {
    task: 'winogrande',
    folder: 'winogrande',
    file: 'validation.jsonl',
    dataset: 'allenai/winogrande',
    config: 'winogrande_xl',
    split: 'validation',
    rows: 1267,
    fields: ['sentence', 'option1', 'option2', 'answer'],
    license: 'CC-BY (data; code Apache-2.0)',
    licenseSource: 'https://github.com/allenai/winogrande (README, License; the HF dataset card names none)',
  },
];

export const DATASETS_SERVER = 'https://datasets-server.huggingface.co';
/** Rows per request: the datasets-server's maximum page. */
export const PAGE = 100;

export function rowsUrl(src: SuiteSource, offset: number, length = PAGE): string {
  const q = new URLSearchParams({
    dataset: src.dataset,
    config: src.config,
    split: src.split,
    offset: String(offset),
    length: String(length),
  });
  return `${DATASETS_SERVER}/rows?${q}`;
}

/** The dataset's current commit on the Hub (recorded in SOURCE.md: the rows API serves the latest revision). */
export function revisionUrl(dataset: string): string {
  return `https://huggingface.co/api/datasets/${dataset}`;
}

export interface SuiteFile {
  readonly source: SuiteSource;
  readonly records: readonly Record<string, unknown>[];
  readonly origin:
    | { readonly kind: 'hub'; readonly revision: string; readonly url: string }
    | { readonly kind: 'local'; readonly path: string };
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new Error(`${what}: not valid UTF-8 JSON (${describeError(err)})`);
  }
}

/** Downloads every file of the suite through the datasets-server rows API, page by page, in row order. */
export async function loadSuiteFromHub(download: Download, log: (line: string) => void): Promise<SuiteFile[]> {
  const revisions = new Map<string, string>();
  const files: SuiteFile[] = [];
  for (const src of SUITE_SOURCES) {
    if (!revisions.has(src.dataset)) {
      const info = parseJson(await get(download, revisionUrl(src.dataset)), revisionUrl(src.dataset)) as {
        sha?: unknown;
      };
      revisions.set(src.dataset, typeof info.sha === 'string' ? info.sha : 'unknown');
    }
    const records: Record<string, unknown>[] = [];
    let total = Number.POSITIVE_INFINITY;
    while (records.length < total) {
      const url = rowsUrl(src, records.length);
      const page = parseJson(await get(download, url), url) as {
        rows?: { row_idx?: number; row?: Record<string, unknown>; truncated_cells?: unknown[] }[];
        num_rows_total?: number;
      };
      if (!Array.isArray(page.rows) || typeof page.num_rows_total !== 'number') {
        throw new Error(`${url}: not a datasets-server rows page (no rows / num_rows_total)`);
      }
      total = page.num_rows_total;
      if (!page.rows.length && records.length < total) throw new Error(`${url}: empty page before row ${total}`);
      for (const r of page.rows) {
        if (r.row_idx !== records.length || typeof r.row !== 'object' || r.row === null) {
          throw new Error(`${url}: expected row ${records.length}, got ${JSON.stringify(r.row_idx)}`);
        }
        if (r.truncated_cells?.length) throw new Error(`${url}: row ${r.row_idx} has truncated cells`);
        records.push(r.row);
      }
    }
    log(`stage-benchmarks: ${src.dataset} ${src.config}/${src.split}: ${records.length} rows`);
    files.push({
      source: src,
      records,
      origin: { kind: 'hub', revision: revisions.get(src.dataset)!, url: rowsUrl(src, 0) },
    });
  }
  return files;
}

async function get(download: Download, url: string): Promise<Uint8Array> {
  try {
    return await download(url);
  } catch (err) {
    throw new Error(`could not download ${url} (${describeError(err)}); without internet use --suite-from DIR`);
  }
}

/** Reads a local copy laid out as the benchmarks folder (`<dir>/<folder>/<file>`, JSON Lines). */
export async function loadSuiteFromDir(dir: string): Promise<SuiteFile[]> {
  const root = resolve(dir);
  const files: SuiteFile[] = [];
  for (const src of SUITE_SOURCES) {
    const path = join(root, src.folder, src.file);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(await readFile(path));
    } catch (err) {
      throw new Error(`--suite-from ${dir}: ${src.folder}/${src.file}: ${describeError(err)}`);
    }
    const records = text
      .split('\n')
      .map((line, i) => [line, i + 1] as const)
      .filter(([line]) => line.trim())
      .map(([line, n]) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch (err) {
          throw new Error(`${path}:${n}: not valid JSON (${describeError(err)})`);
        }
      });
    files.push({ source: src, records, origin: { kind: 'local', path } });
  }
  return files;
}

/** Checks each file's records: JSON objects with the loader's fields, and (unless `anySize`) the split's size. */
export function validateSuite(files: readonly SuiteFile[], anySize: boolean): void {
  const problems: string[] = [];
  for (const { source: src, records } of files) {
    const where = `${src.folder}/${src.file}`;
    if (!records.length) problems.push(`${where}: no records`);
    if (!anySize && records.length !== src.rows) {
      problems.push(`${where}: ${records.length} records, expected ${src.rows} (${src.dataset} ${src.split})`);
    }
    const bad = records.findIndex((r) => typeof r !== 'object' || r === null || src.fields.some((f) => !(f in r)));
    if (bad >= 0) problems.push(`${where}: record ${bad + 1} lacks one of ${src.fields.join(', ')}`);
  }
  if (problems.length) throw new Error(`benchmark suite files failed validation:\n  ${problems.join('\n  ')}`);
}

const DATE_LINE = /^- Staged: .*$/m;

export function suiteSourceMarkdown(file: SuiteFile, body: Uint8Array, date: string): string {
  const src = file.source;
  const origin =
    file.origin.kind === 'hub'
      ? `- Origin: huggingface.co/datasets/${src.dataset} at revision ${file.origin.revision}, config \`${src.config}\`, split \`${src.split}\`, read through ${DATASETS_SERVER}/rows`
      : `- Origin: a local copy (${file.origin.path}); the public source is huggingface.co/datasets/${src.dataset}, config \`${src.config}\`, split \`${src.split}\``;
  return [
    `# ${src.folder}: ${src.dataset} (${src.config}, ${src.split}) for Evaluate's \`${src.task}\``,
    '',
    origin,
    `- License: ${src.license} (${src.licenseSource})`,
    `- Staged: ${date} by \`medllama stage-benchmarks --suite\``,
    '',
    '| file | what | sha256 |',
    '| --- | --- | --- |',
    `| ${src.file} | ${file.records.length} records, the dataset's own fields, one JSON object per line | ${sha256Hex(body)} |`,
    '',
  ].join('\n');
}

/** The staged objects of the suite: `<folder>/<file>` and `<folder>/SOURCE.md` per file. */
export function suiteObjects(files: readonly SuiteFile[], date: string): StagedObject[] {
  const enc = new TextEncoder();
  return files.flatMap((file) => {
    const body = enc.encode(file.records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const source = suiteSourceMarkdown(file, body, date);
    return [
      {
        name: `${file.source.folder}/${file.source.file}`,
        body,
        contentType: 'application/jsonl; charset=utf-8',
        contentSha256: sha256Hex(body),
      },
      {
        name: `${file.source.folder}/SOURCE.md`,
        body: enc.encode(source),
        contentType: 'text/markdown; charset=utf-8',
        contentSha256: sha256Hex(enc.encode(source.replace(DATE_LINE, '- Staged: -'))),
      },
    ];
  });
}
