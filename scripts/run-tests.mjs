#!/usr/bin/env node
// `npm test`: installs what is missing (scripts/setup.mjs), then runs every check and prints a summary.
// Stages: generated-schema freshness, typecheck, lint (Biome, ruff), vitest (with vitest-2, its files run in the
// pytest lane), pytest, and no-shared-ts /
// no-shared-py: the tests that can read ../shared (the team's folder beside the repo, which users' clones lack)
// run once more with it hidden, so CI proves a fresh clone passes. A test reaches ../shared only through containers/tests/conftest.py
// (pytest) or test/support/shared.ts (vitest), which test_foundation.py holds.
// Every stage runs even when an earlier one failed; the exit code is non-zero if any failed.
// Pass-through: `npm test -- --only vitest,pytest` runs a subset.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
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

// Quick checks run first, one after the other; then two lanes run side by side: vitest runs its files one at a
// time (one worker on a 2-core machine) and most of its time is spent waiting on the Python processes it starts,
// so pytest uses the other core. Each lane ends with its half of the no-shared check. Lines of the lanes are
// prefixed with their stage's name.
const checks = [
  { name: 'schemas', cmd: bin('tsx'), args: ['scripts/gen-schemas.ts', '--check'] },
  { name: 'typecheck', cmd: bin('tsc'), args: ['--noEmit', '-p', '.'] },
  { name: 'biome', cmd: bin('biome'), args: ['check', '.'] },
  { name: 'ruff', cmd: py, args: ['-m', 'ruff', 'check', 'containers', 'bench'] },
  { name: 'ruff-format', cmd: py, args: ['-m', 'ruff', 'format', '--check', 'containers', 'bench'] },
];
const PYTEST = ['-m', 'pytest', 'containers/tests', '-q', '-p', 'no:cacheprovider'];
// The vitest lane is the longer one: these files run at the end of the pytest lane instead, so the two lanes end
// about together (vitest ≈ 820 s, pytest ≈ 800 s on 2 cores; measured 2026-12-08).
const PYTEST_LANE_VITEST = ['test/evaluation-contract.test.ts'];
const lanes = [
  [
    { name: 'vitest', cmd: bin('vitest'), args: ['run', ...PYTEST_LANE_VITEST.flatMap((f) => ['--exclude', f])] },
    { name: 'no-shared-ts', cmd: bin('vitest'), args: ['run', ...sharedUsers()], env: HIDDEN_SHARED },
  ],
  [
    { name: 'pytest', cmd: py, args: [...PYTEST, '--durations=15'] },
    { name: 'no-shared-py', cmd: py, args: [...PYTEST, '-rs'], env: HIDDEN_SHARED },
    { name: 'vitest-2', cmd: bin('vitest'), args: ['run', ...PYTEST_LANE_VITEST] },
  ],
];

const onlyArg = process.argv.indexOf('--only');
const only = onlyArg >= 0 ? new Set(process.argv[onlyArg + 1].split(',')) : null;

try {
  await setup();
} catch (err) {
  console.error(`[test] setup failed: ${err.message}`);
  process.exit(1);
}

/** Runs one stage; with `prefix`, its output lines are prefixed (lanes run side by side). */
function runStage(stage, prefix) {
  const env = { ...process.env, NO_COLOR: '1', ...(stage.env ?? {}) };
  delete env.FORCE_COLOR; // pytest takes any FORCE_COLOR, even 0, as "force"
  const shown = Object.entries(stage.env ?? {}).map(([k, v]) => `${k}=${v.replace(`${root}/`, '')} `);
  console.log(`\n=== ${stage.name}: ${shown.join('')}${[stage.cmd.replace(`${root}/`, ''), ...stage.args].join(' ')}`);
  const start = Date.now();
  return new Promise((resolvePromise) => {
    const child = spawn(stage.cmd, stage.args, {
      cwd: root,
      env,
      stdio: ['ignore', prefix ? 'pipe' : 'inherit', prefix ? 'pipe' : 'inherit'],
    });
    if (prefix) {
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on('line', (line) => console.log(`[${stage.name}] ${line}`));
      }
    }
    const done = (ok) => resolvePromise({ name: stage.name, ok, seconds: (Date.now() - start) / 1000 });
    child.on('error', (err) => {
      console.error(`[test] ${stage.name} could not start: ${err.message}`);
      done(false);
    });
    child.on('close', (code) => done(code === 0));
  });
}

const selected = (stage) => !only || only.has(stage.name);
const results = [];
for (const stage of checks.filter(selected)) results.push(await runStage(stage, false));
const laneResults = await Promise.all(
  lanes.map(async (lane) => {
    const out = [];
    for (const stage of lane.filter(selected)) out.push(await runStage(stage, true));
    return out;
  }),
);
results.push(...laneResults.flat());

console.log('\n=== summary');
for (const r of results) console.log(`  ${r.ok ? 'PASS' : 'FAIL'}  ${r.name.padEnd(12)} ${r.seconds.toFixed(1)}s`);
const failed = results.filter((r) => !r.ok);
console.log(
  failed.length ? `\n${failed.length} stage(s) failed: ${failed.map((r) => r.name).join(', ')}` : '\nall stages passed',
);
process.exit(failed.length ? 1 : 0);
