import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';

/** What goes into the code bundle: the `medllama` package, the entry scripts and the pinned requirements. */
export interface CodeBundleOptions {
  /** The `containers/` folder. */
  readonly root: string;
}

/** A deterministic tar.gz of the container code, and the content hash that names it. */
export interface CodeBundle {
  /** The gzipped tar. */
  readonly bytes: Buffer;
  /** sha256 hex of the uncompressed tar: depends only on file names and contents. */
  readonly hash: string;
  /** Paths inside the archive, in archive order. */
  readonly files: string[];
}

const EXCLUDED_DIRS = new Set(['tests', '__pycache__', '.pytest_cache', '.ruff_cache', '.mypy_cache', 'build', 'dist']);
// Compiled files (`.so`: the ingest C speedups built for this machine) never travel: the container builds its own.
const EXCLUDED_SUFFIXES = ['.pyc', '.pyo', '.so', '.egg-info', '.DS_Store', '~'];

function included(name: string): boolean {
  return !name.startsWith('.') && !EXCLUDED_SUFFIXES.some((s) => name.endsWith(s));
}

/** Top-level files kept from `containers/`: entry scripts and requirements.txt (not dev requirements or tests). */
function topLevel(root: string): string[] {
  return readdirSync(root)
    .filter((f) => (f.endsWith('.py') || f === 'requirements.txt') && statSync(join(root, f)).isFile() && included(f))
    .sort();
}

function walk(root: string, dir: string, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    if (!included(name) || EXCLUDED_DIRS.has(name)) continue;
    const full = join(dir, name);
    const st = statSync(full);
    if (st.isDirectory()) {
      out.push(`${relative(root, full).split(sep).join(posix.sep)}/`);
      walk(root, full, out);
    } else if (st.isFile()) {
      out.push(relative(root, full).split(sep).join(posix.sep));
    }
  }
}

/** Lists the archive members (directories end in `/`), sorted so the archive order never depends on the disk. */
export function listBundleFiles(root: string): string[] {
  if (!existsSync(join(root, 'medllama', '__init__.py'))) {
    throw new Error(`code bundle: ${root} has no medllama/__init__.py; expected the containers/ folder`);
  }
  const pkg: string[] = ['medllama/'];
  walk(root, join(root, 'medllama'), pkg);
  return [...topLevel(root), ...pkg];
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** One ustar header: fixed mode, uid/gid 0, owner "root", mtime 0. */
function header(path: string, size: number, isDir: boolean): Buffer {
  const h = Buffer.alloc(512, 0);
  let name = path;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = path.lastIndexOf('/', path.length - 2);
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) {
      throw new Error(`code bundle: path too long for a ustar archive: ${path}`);
    }
  }
  h.write(name, 0, 100, 'utf8');
  h.write(octal(isDir ? 0o755 : 0o644, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii');
  h.write(octal(0, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(0, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii');
  h.write(isDir ? '5' : '0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** Builds the uncompressed tar of `files` (as listed by {@link listBundleFiles}). */
export function tarFiles(root: string, files: string[]): Buffer {
  const parts: Buffer[] = [];
  for (const file of files) {
    const isDir = file.endsWith('/');
    const body = isDir ? Buffer.alloc(0) : readFileSync(join(root, ...file.split('/')));
    parts.push(header(file, body.length, isDir), body, Buffer.alloc((512 - (body.length % 512)) % 512, 0));
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

/**
 * A reproducible tar.gz of `containers/` for `sagemaker_submit_directory` (training) and the processing code input:
 * sorted members, mode 0644/0755, uid/gid 0, mtime 0, gzip header without a timestamp or OS. Unchanged code gives
 * the same hash, so SageMaker Pipelines step caching keeps working across deployments.
 */
export function buildCodeBundle(options: CodeBundleOptions): CodeBundle {
  const files = listBundleFiles(options.root);
  const tar = tarFiles(options.root, files);
  const bytes = gzipSync(tar, { level: 9 });
  bytes[9] = 0xff; // gzip OS field: "unknown", so the archive is identical on every platform.
  return { bytes, hash: createHash('sha256').update(tar).digest('hex'), files };
}

/** Writes the bundle once to a content-addressed file (for a CDK file asset) and returns its path. */
export function writeCodeBundle(bundle: CodeBundle, dir = join(tmpdir(), 'medllama-code-bundles')): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `medllama-code-${bundle.hash.slice(0, 16)}.tar.gz`);
  if (!existsSync(path)) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, bundle.bytes);
    renameSync(tmp, path);
  }
  return path;
}
