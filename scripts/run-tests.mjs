#!/usr/bin/env node
// `npm test`: installs what is missing (scripts/setup.mjs), then runs every check and prints a summary.
// Stages: generated-schema freshness, typecheck, lint (Biome, ruff), vitest, pytest.
// Every stage runs even when an earlier one failed; the exit code is non-zero if any failed.
// Pass-through: `npm test -- --only vitest,pytest` runs a subset.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setup } from './setup.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = join(root, '.venv', 'bin', 'python');
const bin = (name) => join(root, 'node_modules', '.bin', name);

const stages = [
  { name: 'schemas', cmd: bin('tsx'), args: ['scripts/gen-schemas.ts', '--check'] },
  { name: 'typecheck', cmd: bin('tsc'), args: ['--noEmit', '-p', '.'] },
  { name: 'biome', cmd: bin('biome'), args: ['check', '.'] },
  { name: 'ruff', cmd: py, args: ['-m', 'ruff', 'check', 'containers', 'bench'] },
  { name: 'ruff-format', cmd: py, args: ['-m', 'ruff', 'format', '--check', 'containers', 'bench'] },
  { name: 'vitest', cmd: bin('vitest'), args: ['run'] },
  { name: 'pytest', cmd: py, args: ['-m', 'pytest', 'containers/tests', '-q', '-p', 'no:cacheprovider'] },
];

const onlyArg = process.argv.indexOf('--only');
const only = onlyArg >= 0 ? new Set(process.argv[onlyArg + 1].split(',')) : null;

try {
  setup();
} catch (err) {
  console.error(`[test] setup failed: ${err.message}`);
  process.exit(1);
}

const results = [];
for (const stage of stages) {
  if (only && !only.has(stage.name)) continue;
  console.log(`\n=== ${stage.name}: ${[stage.cmd.replace(`${root}/`, ''), ...stage.args].join(' ')}`);
  const start = Date.now();
  const res = spawnSync(stage.cmd, stage.args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  const seconds = (Date.now() - start) / 1000;
  const ok = res.status === 0;
  if (res.error) console.error(`[test] ${stage.name} could not start: ${res.error.message}`);
  results.push({ name: stage.name, ok, seconds });
}

console.log('\n=== summary');
for (const r of results) console.log(`  ${r.ok ? 'PASS' : 'FAIL'}  ${r.name.padEnd(12)} ${r.seconds.toFixed(1)}s`);
const failed = results.filter((r) => !r.ok);
console.log(
  failed.length ? `\n${failed.length} stage(s) failed: ${failed.map((r) => r.name).join(', ')}` : '\nall stages passed',
);
process.exit(failed.length ? 1 : 0);
