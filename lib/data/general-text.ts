// The general-domain evaluation set for the Evaluate step's regression check: the project's own prose in
// fixtures/general-text (one topic per file, Apache-2.0), validated and staged beside PubMedQA idempotently.
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StagedObject } from './benchmarks.ts';
import { sha256Hex } from './s3-anonymous.ts';

/** Where the pipeline reads the general-text set by default (lib/config.ts `generalTextUri`). */
export const DEFAULT_GENERAL_TEXT_PREFIX = 'benchmarks/general-text/';

/** The project's set, in this repository. */
export const GENERAL_TEXT_DIR = resolve(fileURLToPath(new URL('../../fixtures/general-text', import.meta.url)));

/** The set is the project's own writing, under the project's license. */
export const GENERAL_TEXT_LICENSE = 'Apache-2.0';

/**
 * Fewer files than this make no interval: the regression's bootstrap resamples files (medllama/evaluate/gate.py
 * MIN_UNITS), so a one-file set would give a zero-width "bound".
 */
export const MIN_GENERAL_TEXT_FILES = 2;

export interface GeneralTextFile {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** Blank-line separated paragraphs: the documents Evaluate scores. */
  readonly paragraphs: number;
}

export interface GeneralTextSet {
  readonly dir: string;
  readonly files: readonly GeneralTextFile[];
}

/** Paragraph count as medllama.evaluate.documents.split_paragraphs counts them (blank-line separated, non-empty). */
export function countParagraphs(text: string): number {
  return text.split(/\n[ \t\r]*\n/).filter((p) => p.trim() !== '').length;
}

/**
 * Reads the `.txt` files of a general-text folder (sorted by name) and checks what the Evaluate step needs: UTF-8,
 * at least one paragraph per file, at least {@link MIN_GENERAL_TEXT_FILES} files. Other files (README.md) are not
 * part of the set.
 */
export async function loadGeneralText(dir: string = GENERAL_TEXT_DIR): Promise<GeneralTextSet> {
  const root = resolve(dir);
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true }))
      .filter((e) => e.isFile() && e.name.endsWith('.txt'))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    throw new Error(`--general-text-from ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const problems: string[] = [];
  const files: GeneralTextFile[] = [];
  for (const name of names) {
    const bytes = await readFile(join(root, name));
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      problems.push(`${name}: not UTF-8`);
      continue;
    }
    const paragraphs = countParagraphs(text);
    if (paragraphs === 0) problems.push(`${name}: no text`);
    else files.push({ name, bytes, paragraphs });
  }
  if (names.length < MIN_GENERAL_TEXT_FILES) {
    problems.push(
      `${names.length} .txt file(s), expected at least ${MIN_GENERAL_TEXT_FILES}: the regression's CI resamples files`,
    );
  }
  if (problems.length) throw new Error(`general text in ${root} failed validation:\n  ${problems.join('\n  ')}`);
  return { dir: root, files };
}

/** The SOURCE.md line that carries the staging date (left out of the content hash so reruns stay idempotent). */
const DATE_LINE = /^- Staged: .*$/m;

export function generalTextSource(set: GeneralTextSet, date: string): string {
  const paragraphs = set.files.reduce((n, f) => n + f.paragraphs, 0);
  return [
    '# General-domain text for the regression check',
    '',
    'Encyclopedic prose on non-medical topics, one topic per file, written by the MedLlama project for this',
    'purpose (nothing copied from other sources). The Evaluate step scores each blank-line separated paragraph as',
    'one document and resamples files for the confidence interval of the general-text perplexity regression.',
    '',
    `- Origin: ${set.dir === GENERAL_TEXT_DIR ? 'fixtures/general-text in the MedLlama repository' : `a local folder (${set.dir})`}`,
    `- License: ${GENERAL_TEXT_LICENSE} (the MedLlama project's license); redistributable with attribution`,
    `- Staged: ${date} by \`medllama stage-benchmarks\``,
    `- Size: ${set.files.length} files, ${paragraphs} paragraphs`,
    '',
    '| file | paragraphs | sha256 |',
    '| --- | --- | --- |',
    ...set.files.map((f) => `| ${f.name} | ${f.paragraphs} | ${sha256Hex(f.bytes)} |`),
    '',
  ].join('\n');
}

/** The objects to stage: every `.txt` file, then SOURCE.md (last, so it only appears once the set is complete). */
export function generalTextObjects(set: GeneralTextSet, date: string): StagedObject[] {
  const source = generalTextSource(set, date);
  const enc = new TextEncoder();
  return [
    ...set.files.map((f) => ({
      name: f.name,
      body: f.bytes,
      contentType: 'text/plain; charset=utf-8',
      contentSha256: sha256Hex(f.bytes),
    })),
    {
      name: 'SOURCE.md',
      body: enc.encode(source),
      contentType: 'text/markdown; charset=utf-8',
      contentSha256: sha256Hex(enc.encode(source.replace(DATE_LINE, '- Staged: -'))),
    },
  ];
}
