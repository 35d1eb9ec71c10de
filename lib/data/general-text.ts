// The general-domain evaluation set for the Evaluate step's regression check: the project's own prose in
// fixtures/general-text (one topic per file, Apache-2.0), validated and staged beside PubMedQA idempotently; and the
// general replay sample Tokenize may mix into training (fixtures/general-replay), which must not share text with it.
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StagedObject } from './benchmarks.ts';
import { sha256Hex } from './s3-anonymous.ts';

/** Where the pipeline reads the general-text set by default (lib/config.ts `generalTextUri`). */
export const DEFAULT_GENERAL_TEXT_PREFIX = 'benchmarks/general-text/';

/** The project's set, in this repository. */
export const GENERAL_TEXT_DIR = resolve(fileURLToPath(new URL('../../fixtures/general-text', import.meta.url)));

/** Where `stage-benchmarks` stages the replay sample (pass it as the ReplayDataUri parameter). */
export const DEFAULT_GENERAL_REPLAY_PREFIX = 'replay/general/';

/** The project's replay sample, in this repository (other topics than the evaluation set). */
export const GENERAL_REPLAY_DIR = resolve(fileURLToPath(new URL('../../fixtures/general-replay', import.meta.url)));

/** Both sets are the project's own writing, under the project's license. */
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
export function loadGeneralText(dir: string = GENERAL_TEXT_DIR): Promise<GeneralTextSet> {
  return loadTextSet(dir, '--general-text-from', 'general text', MIN_GENERAL_TEXT_FILES);
}

/** The replay sample's `.txt` files, checked like the general text (one file is enough: nothing resamples it). */
export function loadGeneralReplay(dir: string = GENERAL_REPLAY_DIR): Promise<GeneralTextSet> {
  return loadTextSet(dir, '--replay-from', 'general replay', 1);
}

async function loadTextSet(dir: string, flag: string, what: string, minFiles: number): Promise<GeneralTextSet> {
  const root = resolve(dir);
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true }))
      .filter((e) => e.isFile() && e.name.endsWith('.txt'))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    throw new Error(`${flag} ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
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
  if (names.length < minFiles) {
    problems.push(
      `${names.length} .txt file(s), expected at least ${minFiles}` +
        (minFiles > 1 ? ": the regression's CI resamples files" : ''),
    );
  }
  if (problems.length) throw new Error(`${what} in ${root} failed validation:\n  ${problems.join('\n  ')}`);
  return { dir: root, files };
}

/** Word runs this long shared by two sets count as shared text: the 13-gram overlap test of GPT-3's contamination
 * analysis (Brown et al. 2020), long enough that a common phrase ("in the second half of the twentieth century") is
 * not one. */
export const SHARED_RUN_WORDS = 13;

function wordRuns(set: GeneralTextSet): Map<string, string> {
  const runs = new Map<string, string>();
  for (const f of set.files) {
    const words =
      new TextDecoder()
        .decode(f.bytes)
        .toLowerCase()
        .match(/[\p{L}\p{N}]+/gu) ?? [];
    for (let i = 0; i + SHARED_RUN_WORDS <= words.length; i++) {
      runs.set(words.slice(i, i + SHARED_RUN_WORDS).join(' '), f.name);
    }
  }
  return runs;
}

/**
 * Where the replay set shares text with the evaluation set ("replay.txt ~ eval.txt: \"…\"", at most one per pair of
 * files): any run of {@link SHARED_RUN_WORDS} words in both. Training on evaluation text would hide the forgetting
 * the general-text regression is there to measure, so a replay set must come back with none.
 */
export function sharedText(evaluation: GeneralTextSet, replay: GeneralTextSet): string[] {
  const evalRuns = wordRuns(evaluation);
  const found = new Map<string, string>();
  for (const [run, file] of wordRuns(replay)) {
    const other = evalRuns.get(run);
    if (other !== undefined && !found.has(`${file} ~ ${other}`)) found.set(`${file} ~ ${other}`, run);
  }
  return [...found].map(([pair, run]) => `${pair}: "${run}"`);
}

/** The SOURCE.md line that carries the staging date (left out of the content hash so reruns stay idempotent). */
const DATE_LINE = /^- Staged: .*$/m;

/** What SOURCE.md says about a set: its title, what it is for, and the repository folder it comes from. */
export interface TextSetKind {
  readonly title: string;
  readonly purpose: readonly string[];
  readonly dir: string;
  readonly fixture: string;
}

export const GENERAL_TEXT_KIND: TextSetKind = {
  title: 'General-domain text for the regression check',
  purpose: [
    'The Evaluate step scores each blank-line separated paragraph as',
    'one document and resamples files for the confidence interval of the general-text perplexity regression.',
  ],
  dir: GENERAL_TEXT_DIR,
  fixture: 'fixtures/general-text',
};

export const GENERAL_REPLAY_KIND: TextSetKind = {
  title: 'General-domain replay sample',
  purpose: [
    'Tokenize encodes it into its replay split when this prefix is',
    'the ReplayDataUri parameter, and Train mixes it in at ReplayFraction. It shares no 13-word run with the',
    'general-text evaluation set.',
  ],
  dir: GENERAL_REPLAY_DIR,
  fixture: 'fixtures/general-replay',
};

export function generalTextSource(set: GeneralTextSet, date: string, kind: TextSetKind = GENERAL_TEXT_KIND): string {
  const paragraphs = set.files.reduce((n, f) => n + f.paragraphs, 0);
  return [
    `# ${kind.title}`,
    '',
    'Encyclopedic prose on non-medical topics, one topic per file, written by the MedLlama project for this',
    `purpose (nothing copied from other sources). ${kind.purpose[0]}`,
    ...kind.purpose.slice(1),
    '',
    `- Origin: ${set.dir === kind.dir ? `${kind.fixture} in the MedLlama repository` : `a local folder (${set.dir})`}`,
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
export function generalTextObjects(
  set: GeneralTextSet,
  date: string,
  kind: TextSetKind = GENERAL_TEXT_KIND,
): StagedObject[] {
  const source = generalTextSource(set, date, kind);
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
