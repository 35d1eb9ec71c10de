#!/usr/bin/env node
// `npm run demo [-- --input DIR] [-- --runs-dir DIR] [-- --run-id ID] [-- --param Name=Value ...]`:
// set-up (node + .venv), then the whole pipeline on this machine with the local runner (tiny Llama model, the
// real Llama 2 tokenizer, fixtures/demo-corpus by default), then the report and slides. It prints the wall time
// of everything after set-up, the quality gate's verdict, and where the model, registry entry, report and
// slides are. Other options go to `medllama local run` unchanged.
//
// Exit code: 0 when every step ran and the quality gate gave a verdict, whichever branch it took (Register, or
// QualityGateFailed with its message: the pipeline execution is then "Failed", as on SageMaker, and the demo
// says so), and the report was written. 1 when a step failed or the report could not be written; 130 when
// stopped with Ctrl-C.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const argv = process.argv.slice(2);
let input;
let runsDir = join(root, 'runs');
let runId = `demo-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
const passThrough = [];
for (let i = 0; i < argv.length; i++) {
  const value = () => {
    const v = argv[++i];
    if (v === undefined) {
      console.error(`[demo] ${argv[i - 1]} needs a value`);
      process.exit(2);
    }
    return v;
  };
  if (argv[i] === '--input') input = resolve(value());
  else if (argv[i] === '--runs-dir') runsDir = resolve(value());
  else if (argv[i] === '--run-id') runId = value();
  else passThrough.push(argv[i]);
}
if (input !== undefined && !existsSync(input)) {
  console.error(`[demo] --input ${input} does not exist`);
  process.exit(2);
}

const say = (msg) => console.log(`\n[demo] ${msg}`);
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;
const medllama = (args) => run(process.execPath, ['--import', 'tsx', join(root, 'bin', 'medllama.ts'), ...args]);

say('set-up: node_modules and .venv (skipped when up to date)');
if (run(process.execPath, [join(root, 'scripts', 'setup.mjs')]) !== 0) {
  console.error('[demo] set-up failed; see the messages above');
  process.exit(1);
}

const runDir = join(runsDir, runId);
const started = Date.now();
say(`local run ${runId} on ${input ?? 'fixtures/demo-corpus'} (tiny Llama model, real Llama 2 tokenizer)`);
const code = medllama([
  'local',
  'run',
  '--run-id',
  runId,
  '--runs-dir',
  runsDir,
  ...(input ? ['--input', input] : []),
  ...passThrough,
]);
const runSeconds = (Date.now() - started) / 1000;

if (!existsSync(join(runDir, 'state.json'))) {
  console.error(`[demo] the local run did not start (exit ${code}); see the messages above`);
  process.exit(code || 1);
}
say('report and slides');
const reportCode = medllama(['report', '--run', runDir]);
const totalSeconds = (Date.now() - started) / 1000;

const state = JSON.parse(readFileSync(join(runDir, 'state.json'), 'utf8'));
const steps = state.steps ?? {};
const gate = steps.QualityGate;
const model = steps.Train?.outputs?.model;
const registry = steps.Register?.properties?.RegistryEntry;
const gateRan = gate?.state === 'Succeeded' && typeof gate.outcome === 'boolean';
const failedSteps = Object.values(steps).filter((s) => s.state !== 'Succeeded' && s.type !== 'Fail');

const minutes = (s) => `${Math.floor(s / 60)} min ${(s % 60).toFixed(0)} s`;
console.log(`\n[demo] pipeline ${state.status}; wall time after set-up ${minutes(totalSeconds)}`);
console.log(
  `[demo]   local run ${runSeconds.toFixed(1)} s + report ${(totalSeconds - runSeconds).toFixed(1)} s` +
    ` (bar: 5 min on 2 cores: ${totalSeconds <= 300 ? 'met' : 'NOT met'})`,
);
for (const name of state.order ?? []) {
  const s = steps[name];
  console.log(`[demo]   ${name.padEnd(18)} ${String(s.state).padEnd(10)} ${(s.elapsedSeconds ?? 0).toFixed(1)} s`);
}
if (gateRan) {
  for (const c of gate.properties?.Conditions ?? []) {
    console.log(`[demo]   gate: ${c.left} ${c.type} ${c.right} → ${c.result}`);
  }
}
console.log(`[demo] run folder: ${runDir}`);
if (model && steps.Train.state === 'Succeeded') console.log(`[demo] model:      ${join(runDir, model)}`);
else console.log('[demo] model:      none (Train did not succeed)');
if (registry) console.log(`[demo] registry:   ${join(runDir, registry)} (quality gate passed)`);
else if (gateRan && gate.outcome === false) {
  console.log(`[demo] registry:   none: ${steps.QualityGateFailed?.failureReason ?? state.failureReason}`);
}
if (reportCode === 0) {
  console.log(`[demo] report:     ${join(runDir, 'report.html')} (and report.md)`);
  console.log(`[demo] slides:     ${join(runDir, 'slides.html')}`);
} else console.log(`[demo] report:     not written (medllama report exited ${reportCode})`);
if (failedSteps.length) console.log(`[demo] stopped at: ${state.failureReason ?? failedSteps[0].name}`);

if (code === 130) process.exit(130);
process.exit(gateRan && failedSteps.length === 0 && reportCode === 0 ? 0 : 1);
