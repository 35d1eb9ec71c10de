#!/usr/bin/env node
// `npm run demo [-- --model tiny|smollm2] [-- --input DIR] [-- --runs-dir DIR] [-- --run-id ID] [-- --param N=V ...]`:
// set-up (node + .venv; the base model folder, cached), then the whole pipeline on this machine with the local
// runner, then the report and slides. `--model tiny` (the default): a seeded random 2-layer Llama with the real
// Llama 2 tokenizer on fixtures/demo-corpus, the fast smoke the tests run. `--model smollm2`: SmolLM2-135M-Instruct,
// a real pretrained model, on fixtures/pmc-oa-cc-sample (real CC BY / CC0 PMC articles). `medllama local run`
// prints the step table; the demo then prints the base model, the wall time of everything after set-up (and, for a
// complete run, whether it met that model's bar: 5 min tiny, 10 min smollm2), the quality gate's comparisons, and
// where the model, registry entry, report and slides are. Other options go to `medllama local run` unchanged.
//
// Exit code: 0 when every step ran and the quality gate gave a verdict, whichever branch it took (Register, or
// QualityGateFailed with its message: the pipeline execution is then "Failed", as on SageMaker, and the demo
// says so), and the report was written. 1 when a step failed or the report could not be written; 130 when
// stopped with Ctrl-C.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const argv = process.argv.slice(2);
let input;
let model = 'tiny';
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
  else if (argv[i] === '--model') model = value();
  else if (argv[i] === '--runs-dir') runsDir = resolve(value());
  else if (argv[i] === '--run-id') runId = value();
  else passThrough.push(argv[i]);
}
const MODELS = {
  tiny: 'tiny Llama model (seeded random weights), real Llama 2 tokenizer, fixtures/demo-corpus',
  smollm2: 'SmolLM2-135M-Instruct (pretrained), fixtures/pmc-oa-cc-sample (103 real CC BY / CC0 PMC articles)',
};
if (!(model in MODELS)) {
  console.error(`[demo] --model ${model}: unknown; expected one of ${Object.keys(MODELS).join(', ')}`);
  process.exit(2);
}
if (input !== undefined && !existsSync(input)) {
  console.error(`[demo] --input ${input} does not exist`);
  process.exit(2);
}

const say = (msg) => console.log(`\n[demo] ${msg}`);
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;
const medllama = (args) => run(process.execPath, ['--import', 'tsx', join(root, 'bin', 'medllama.ts'), ...args]);

say('set-up: node_modules and .venv (skipped when up to date)');
if (run(process.execPath, [join(root, 'scripts', 'setup.mjs'), ...(model === 'smollm2' ? ['--smollm2'] : [])]) !== 0) {
  console.error('[demo] set-up failed; see the messages above');
  process.exit(1);
}

const runDir = join(runsDir, runId);
// The base model folder (and for smollm2 the unpacked sample) are set-up: cached, and not part of the timed demo.
const { tsImport } = await import('tsx/esm/api');
const localRun = await tsImport('../lib/cli/commands/local-run.ts', import.meta.url);
const demo = localRun.demoModel(model);
say(`set-up: the ${model} base model${input ? '' : ' and its input'} (cached under ${join(runsDir, '.base-model')})`);
try {
  const python = localRun.venvPython();
  demo.ensureBase(runsDir, python);
  if (!input) input = demo.defaultInput(runsDir);
} catch (err) {
  console.error(`[demo] set-up failed: ${err.message}`);
  process.exit(1);
}
const started = Date.now();
say(`local run ${runId} on ${input} (${input === demo.defaultInput(runsDir) ? MODELS[model] : `${model} base model`})`);
const code = medllama([
  'local',
  'run',
  '--model',
  model,
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
// The closing lines come from TypeScript (lib/cli/demo-summary.ts, tested on its own); tsx is
// installed by the set-up above.
const { demoCompleted, demoSummary } = await tsImport('../lib/cli/demo-summary.ts', import.meta.url);
const evaluationDir = state.steps.Evaluate?.outputs?.evaluation;
const evaluationFile = evaluationDir ? join(runDir, evaluationDir, 'evaluation.json') : undefined;
const outcome = {
  state,
  ...(evaluationFile && existsSync(evaluationFile)
    ? { evaluation: JSON.parse(readFileSync(evaluationFile, 'utf8')) }
    : {}),
  runDir,
  runSeconds,
  totalSeconds,
  reportCode,
  cores: availableParallelism(),
  model: { id: demo.id, label: demo.label, timeBarSeconds: demo.timeBarSeconds },
};
console.log('');
for (const line of demoSummary(outcome)) console.log(line);

if (code === 130) process.exit(130);
process.exit(demoCompleted(outcome) ? 0 : 1);
