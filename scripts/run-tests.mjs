#!/usr/bin/env node
// `npm test`: installs what is missing (scripts/setup.mjs), then runs every check and prints a summary.
// Stages: generated-schema freshness, typecheck, lint (Biome, ruff), vitest, pytest, and no-shared: the tests
// that can read ../shared (the team's folder beside the repo, which users' clones lack) run once more with it
// hidden, so CI proves a fresh clone passes. A test reaches ../shared only through containers/tests/conftest.py
// (pytest) or test/support/shared.ts (vitest), which test_foundation.py holds.
// Every stage runs even when an earlier one failed; the exit code is non-zero if any failed.
// Pass-through: `npm test -- --only vitest,pytest` runs a subset.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setup } from './setup.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = join(root, '.venv', 'bin', 'python');
const bin = (name) => join(root, 'node_modules', '.bin', name);

/** The vitest files that import the ../shared locator. */
function sharedUsers() {
  const dir = join(root, 'test');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts') && readFileSync(join(dir, f), 'utf8').includes('./support/shared.ts'))
    .map((f) => `test/${f}`)
    .sort();
}
const HIDDEN_SHARED = { MEDLLAMA_SHARED_DIR: join(root, '.no-shared-here'), MEDLLAMA_SHARED_USERS_ONLY: '1' };

const stages = [
  { name: 'schemas', cmd: bin('tsx'), args: ['scripts/gen-schemas.ts', '--check'] },
  { name: 'typecheck', cmd: bin('tsc'), args: ['--noEmit', '-p', '.'] },
  { name: 'biome', cmd: bin('biome'), args: ['check', '.'] },
  { name: 'ruff', cmd: py, args: ['-m', 'ruff', 'check', 'containers', 'bench'] },
  { name: 'ruff-format', cmd: py, args: ['-m', 'ruff', 'format', '--check', 'containers', 'bench'] },
  { name: 'vitest', cmd: bin('vitest'), args: ['run'] },
  {
    name: 'pytest',
    cmd: py,
    args: ['-m', 'pytest', 'containers/tests', '-q', '-p', 'no:cacheprovider', '--durations=15'],
  },
  {
    name: 'no-shared',
    cmd: py,
    args: ['-m', 'pytest', 'containers/tests', '-q', '-p', 'no:cacheprovider', '-rs'],
    env: HIDDEN_SHARED,
    andThen: { cmd: bin('vitest'), args: ['run', ...sharedUsers()] },
  },
];

const onlyArg = process.argv.indexOf('--only');
const only = onlyArg >= 0 ? new Set(process.argv[onlyArg + 1].split(',')) : null;

try {
  await setup();
} catch (err) {
  console.error(`[test] setup failed: ${err.message}`);
  process.exit(1);
}

const results = [];
for (const stage of stages) {
  if (only && !only.has(stage.name)) continue;
  const start = Date.now();
  let ok = true;
  for (const part of [stage, stage.andThen].filter(Boolean)) {
    const env = { ...process.env, FORCE_COLOR: '0', ...(stage.env ?? {}) };
    const shown = Object.entries(stage.env ?? {}).map(([k, v]) => `${k}=${v.replace(`${root}/`, '')} `);
    console.log(`\n=== ${stage.name}: ${shown.join('')}${[part.cmd.replace(`${root}/`, ''), ...part.args].join(' ')}`);
    const res = spawnSync(part.cmd, part.args, { cwd: root, stdio: 'inherit', env });
    if (res.error) console.error(`[test] ${stage.name} could not start: ${res.error.message}`);
    ok &&= res.status === 0;
  }
  const seconds = (Date.now() - start) / 1000;
  results.push({ name: stage.name, ok, seconds });
}

console.log('\n=== summary');
for (const r of results) console.log(`  ${r.ok ? 'PASS' : 'FAIL'}  ${r.name.padEnd(12)} ${r.seconds.toFixed(1)}s`);
const failed = results.filter((r) => !r.ok);
console.log(
  failed.length ? `\n${failed.length} stage(s) failed: ${failed.map((r) => r.name).join(', ')}` : '\nall stages passed',
);
process.exit(failed.length ? 1 : 0);
