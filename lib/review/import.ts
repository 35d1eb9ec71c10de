/**
 * Finding and reading the Evaluate step's qualitative.jsonl (DESIGN §4; written by
 * containers/medllama/evaluate/qualitative.py): one record per prompt with
 * `{id, category, prompt, base_answer, tuned_answer, base_new_tokens, tuned_new_tokens}`.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export const QUALITATIVE_FILE = 'qualitative.jsonl';

export interface ReviewItem {
  readonly id: string;
  readonly category: string;
  readonly prompt: string;
  readonly baseAnswer: string;
  readonly tunedAnswer: string;
  readonly baseNewTokens: number | null;
  readonly tunedNewTokens: number | null;
  /** sha256 of the canonical JSON of the reviewed fields: a changed answer changes the hash. */
  readonly contentHash: string;
}

/** Where the review of one run reads and writes. */
export interface ReviewPaths {
  /** The run folder (has state.json), or the folder of a qualitative.jsonl given directly outside a run. */
  readonly runFolder: string;
  /** The qualitative.jsonl given directly, if one was. */
  readonly qualitative?: string;
  /** Default ratings database: `<run folder>/review/ratings.sqlite`. */
  readonly defaultDb: string;
}

/** Resolves `--run`: a run folder, or a path to a qualitative.jsonl (its run folder is the nearest ancestor with state.json). */
export function resolveReviewPaths(runArg: string): ReviewPaths {
  const target = resolve(runArg);
  if (!existsSync(target)) throw new Error(`${runArg}: no such run folder or file`);
  if (statSync(target).isFile()) {
    if (!target.endsWith('.jsonl')) throw new Error(`${runArg}: expected a run folder or a qualitative .jsonl file`);
    let dir = dirname(target);
    let runFolder = dir;
    for (;;) {
      if (existsSync(join(dir, 'state.json'))) {
        runFolder = dir;
        break;
      }
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
    return { runFolder, qualitative: target, defaultDb: join(runFolder, 'review', 'ratings.sqlite') };
  }
  return { runFolder: target, defaultDb: join(target, 'review', 'ratings.sqlite') };
}

function walk(dir: string, skip: ReadonlySet<string>, found: string[], depth: number): void {
  if (depth > 12) return;
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!skip.has(entry.name)) walk(path, skip, found, depth + 1);
    } else if (entry.isFile() && entry.name === QUALITATIVE_FILE) found.push(path);
  }
}

/**
 * The qualitative.jsonl of a run folder: the Evaluate step's output recorded in state.json
 * (`s3/<artifact bucket>/evaluation/<execution id>/Evaluate/qualitative.jsonl`), else the only
 * qualitative.jsonl under the folder (container sandboxes and the review folder are not searched).
 */
export function findQualitative(paths: ReviewPaths): string {
  if (paths.qualitative) return paths.qualitative;
  const run = paths.runFolder;
  const statePath = join(run, 'state.json');
  if (existsSync(statePath)) {
    try {
      const state = JSON.parse(readFileSync(statePath, 'utf8')) as {
        steps?: Record<string, { outputs?: Record<string, string> }>;
      };
      for (const rel of Object.values(state.steps?.Evaluate?.outputs ?? {})) {
        const candidate = join(run, rel, QUALITATIVE_FILE);
        if (existsSync(candidate)) return candidate;
      }
    } catch {
      /* an unreadable state.json falls through to the search below */
    }
  }
  const found: string[] = [];
  walk(run, new Set(['sandbox', 'review', 'node_modules', '.cache']), found, 0);
  if (found.length === 1) return found[0];
  if (found.length === 0)
    throw new Error(
      `no ${QUALITATIVE_FILE} under ${run}: run the pipeline through Evaluate first, or pass the file with --run`,
    );
  throw new Error(
    `several ${QUALITATIVE_FILE} files under ${run}; pass one with --run:\n  ${found.map((f) => relative(process.cwd(), f)).join('\n  ')}`,
  );
}

export function contentHash(r: { id: string; category: string; prompt: string; base: string; tuned: string }): string {
  const canonical = JSON.stringify([r.id, r.category, r.prompt, r.base, r.tuned]);
  return createHash('sha256').update(canonical).digest('hex');
}

/** Parses qualitative.jsonl; any malformed line is an error naming the file and line (no silent skips). */
export function parseQualitative(text: string, source = QUALITATIVE_FILE): ReviewItem[] {
  const items: ReviewItem[] = [];
  const seen = new Set<string>();
  const name = source;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const where = `${name}:${i + 1}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (err) {
      throw new Error(`${where}: not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record))
      throw new Error(`${where}: expected a JSON object`);
    const r = record as Record<string, unknown>;
    const missing = ['id', 'prompt', 'base_answer', 'tuned_answer'].filter((k) => typeof r[k] !== 'string');
    if (missing.length) throw new Error(`${where}: needs string field(s) ${missing.join(', ')}`);
    const id = (r.id as string).trim();
    if (!id) throw new Error(`${where}: empty id`);
    if (seen.has(id)) throw new Error(`${where}: repeats id ${JSON.stringify(id)}`);
    seen.add(id);
    const category = typeof r.category === 'string' ? r.category : '';
    const tokens = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : null);
    const base = r.base_answer as string;
    const tuned = r.tuned_answer as string;
    const prompt = r.prompt as string;
    items.push({
      id,
      category,
      prompt,
      baseAnswer: base,
      tunedAnswer: tuned,
      baseNewTokens: tokens(r.base_new_tokens),
      tunedNewTokens: tokens(r.tuned_new_tokens),
      contentHash: contentHash({ id, category, prompt, base, tuned }),
    });
  }
  if (items.length === 0) throw new Error(`${name}: no records`);
  return items;
}

export function readQualitative(path: string): ReviewItem[] {
  return parseQualitative(readFileSync(path, 'utf8'), path);
}
