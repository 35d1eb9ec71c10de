/**
 * The local "S3": `s3://<bucket>/<key>` lives at `<run>/s3/<bucket>/<key>`. Mounts map a URI prefix to an
 * existing local folder instead (the code bundle → the repo's containers/, the input corpus → `--input`).
 * `file://` URIs name local paths directly. Objects are files; a prefix is a folder.
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export class StorageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageError';
  }
}

export class LocalS3 {
  private readonly mounts: [string, string][];

  /**
   * @param root folder that holds one sub-folder per bucket (`runs/<id>/s3`)
   * @param mounts URI prefix (e.g. `s3://medllama-local-code/containers`) → local path
   */
  constructor(
    readonly root: string,
    mounts: Readonly<Record<string, string>> = {},
  ) {
    this.mounts = Object.entries(mounts)
      .map(([uri, path]): [string, string] => [uri.replace(/\/+$/, ''), resolve(path)])
      .sort((a, b) => b[0].length - a[0].length);
  }

  /**
   * The value of `MEDLLAMA_LOCAL_S3`, for a step that reads an S3 prefix itself rather than through an input (an
   * optional corpus: containers/medllama/s3_prefix.py): the same root and mounts, so the URI finds the same folder.
   */
  environment(): string {
    return JSON.stringify({ root: resolve(this.root), mounts: Object.fromEntries(this.mounts) });
  }

  /** The local path of an S3 (or file://) URI. Throws for anything else and for `..` in keys. */
  toLocal(uri: string): string {
    if (typeof uri !== 'string') throw new StorageError(`expected an S3 URI, got ${JSON.stringify(uri)}`);
    if (uri.startsWith('file://')) return fileURLToPath(uri);
    const trimmed = uri.replace(/\/+$/, '');
    for (const [prefix, path] of this.mounts) {
      if (trimmed === prefix) return path;
      if (trimmed.startsWith(`${prefix}/`)) return join(path, safeKey(trimmed.slice(prefix.length + 1), uri));
    }
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,62})(?:\/(.*))?$/.exec(trimmed);
    if (!m) throw new StorageError(`"${uri}" is not an s3://bucket/key URI`);
    return join(this.root, m[1]!, safeKey(m[2] ?? '', uri));
  }
}

function safeKey(key: string, uri: string): string {
  const parts = key.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '..' || p === '.')) throw new StorageError(`"${uri}": "." and ".." are not allowed`);
  return parts.join(sep);
}

/** Files under `root` (relative paths, `/`-separated, sorted); `[""]` when root is a file. */
export function listFiles(root: string): string[] {
  const st = statSync(root);
  if (st.isFile()) return [''];
  const out: string[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      const full = join(dir, entry.name);
      if (entry.isDirectory() || (entry.isSymbolicLink() && statSync(full).isDirectory())) walk(full, rel);
      else out.push(rel);
    }
  };
  walk(root, '');
  return out;
}

/** Hard-links (copying when linking is not possible) one file. */
export function linkFile(src: string, dest: string): void {
  mkdirSync(dirname(dest), { recursive: true });
  rmSync(dest, { force: true });
  try {
    linkSync(src, dest);
  } catch {
    copyFileSync(src, dest);
  }
}

/**
 * Places what `src` holds at `dest` the way an S3 download does: a folder's files keep their relative
 * paths; a single object lands as `dest/<name>`. `select` picks files by their sorted position (sharding).
 * Files are hard-linked (steps write new files; they never edit inputs in place).
 */
export function placeInput(src: string, dest: string, select: (index: number) => boolean = () => true): number {
  if (!existsSync(src)) throw new StorageError(`${src} does not exist`);
  mkdirSync(dest, { recursive: true });
  const files = listFiles(src);
  let placed = 0;
  files.forEach((rel, i) => {
    if (!select(i)) return;
    if (rel === '') linkFile(src, join(dest, basename(src)));
    else linkFile(join(src, rel), join(dest, rel));
    placed++;
  });
  return placed;
}

/** Moves every file under `src` to the same relative path under `dest` (overwriting, like S3 uploads). */
export function moveTree(src: string, dest: string): number {
  if (!existsSync(src)) return 0;
  mkdirSync(dest, { recursive: true });
  let moved = 0;
  for (const rel of listFiles(src)) {
    if (rel === '') continue;
    const to = join(dest, rel);
    mkdirSync(dirname(to), { recursive: true });
    rmSync(to, { force: true, recursive: true });
    try {
      renameSync(join(src, rel), to);
    } catch {
      copyFileSync(join(src, rel), to);
    }
    moved++;
  }
  return moved;
}

/** Hard-links every file of `src` under `dest` (a cheap copy of a folder or file). */
export function copyTree(src: string, dest: string): void {
  if (!existsSync(src)) return;
  if (statSync(src).isFile()) {
    linkFile(src, dest);
    return;
  }
  for (const rel of listFiles(src)) linkFile(join(src, rel), join(dest, rel));
}

const SKIPPED = new Set(['__pycache__', '.pytest_cache', '.ruff_cache', '.mypy_cache', 'node_modules', '.git']);

/**
 * A content hash of a file or folder (relative paths and bytes, sorted). Caches and build folders are
 * skipped. `memo` (one per runner invocation) avoids hashing the same folder twice.
 */
export function contentHash(path: string, memo?: Map<string, string>): string {
  const key = resolve(path);
  if (memo?.has(key)) return memo.get(key)!;
  if (!existsSync(key)) return 'missing';
  const h = createHash('sha256');
  const st = statSync(key);
  if (st.isFile()) {
    h.update(readFileSync(key));
  } else {
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        if (SKIPPED.has(entry.name)) continue;
        const full = join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.isFile() || entry.isSymbolicLink()) {
          h.update(`${relative(key, full)}\0`);
          h.update(createHash('sha256').update(readFileSync(full)).digest());
        }
      }
    };
    walk(key);
  }
  const digest = h.digest('hex');
  memo?.set(key, digest);
  return digest;
}

/** Rewrites `/opt/ml` at the start of a path (or after `=` in `--flag=/opt/ml/...`) into the sandbox. */
export function sandboxPath(value: string, optMl: string): string {
  return value.replace(/(^|=)\/opt\/ml(?=\/|$)/g, (_m, pre: string) => `${pre}${optMl}`);
}
