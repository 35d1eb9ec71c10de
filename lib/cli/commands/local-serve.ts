import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type CliCommand, UsageError } from '../command.ts';
import { parseOptions } from '../options.ts';

const root = join(import.meta.dirname, '..', '..', '..');

/**
 * The model of the newest local registry entry under `runsDir` (`runs/<id>/registry/<group>/<version>.json`,
 * written by the local runner's Register step; its `ModelDataLocal` is relative to the run folder).
 */
export function latestRegisteredModel(runsDir: string): { model: string; entry: string } | undefined {
  if (!existsSync(runsDir)) return undefined;
  const entries: string[] = [];
  for (const run of readdirSync(runsDir)) {
    const registry = join(runsDir, run, 'registry');
    if (!existsSync(registry)) continue;
    for (const group of readdirSync(registry)) {
      const dir = join(registry, group);
      if (!statSync(dir).isDirectory()) continue;
      for (const f of readdirSync(dir)) if (f.endsWith('.json')) entries.push(join(dir, f));
    }
  }
  entries.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs || b.localeCompare(a));
  for (const entry of entries) {
    const data = JSON.parse(readFileSync(entry, 'utf8')) as { ModelDataLocal?: Record<string, string> };
    const rel = Object.values(data.ModelDataLocal ?? {})[0];
    if (!rel) continue;
    const model = join(dirname(dirname(dirname(entry))), rel);
    if (existsSync(join(model, 'config.json'))) return { model, entry };
  }
  return undefined;
}

const usage = `usage: medllama local serve [--model DIR] [--runs-dir DIR] [--port N] [--host ADDR] [--max-model-len N]
                           [--max-connections N] [--read-timeout S]

Serves a locally trained model over HTTP with the same request and response schema as the deployed
container (vLLM's OpenAI-shaped /invocations, and /ping), so \`medllama invoke --local\` behaves like the
endpoint. Stops with Ctrl-C.

Only requests to its own host names (127.0.0.1, localhost) are answered, completions must be
application/json, and requests from another origin (a web page) are refused.`;

const options = [
  {
    name: 'model',
    value: 'DIR',
    description:
      "the model folder (the Train step's output: config.json, safetensors, tokenizer);\n" +
      'default: the model of the newest local registry entry under --runs-dir',
  },
  { name: 'runs-dir', value: 'DIR', description: 'where `medllama local run` wrote its runs', default: 'runs' },
  { name: 'port', value: 'N', description: 'port (8080 is the SageMaker container port)', default: '8080' },
  { name: 'host', value: 'ADDR', description: 'address to listen on', default: '127.0.0.1' },
  { name: 'max-model-len', value: 'N', description: 'prompt + generated tokens limit', default: '512' },
  {
    name: 'max-connections',
    value: 'N',
    description: 'connections served at once; more are answered 503',
    default: '16',
  },
  { name: 'read-timeout', value: 'S', description: 'seconds a stalled client may hold a connection', default: '20' },
] as const;

/** A whole number in [min, max] from a flag, or a UsageError naming the flag. */
function intFlag(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max)
    throw new UsageError(`${flag}: got "${value}", expected a whole number from ${min} to ${max}`);
  return n;
}

export const command: CliCommand = {
  name: 'local serve',
  summary: 'serve a locally trained model with the endpoint’s HTTP schema on 127.0.0.1',
  usage,
  options,
  run(argv) {
    const { values } = parseOptions(argv, options);
    let modelArg = values.model;
    if (!modelArg) {
      const latest = latestRegisteredModel(resolve(values['runs-dir']));
      if (!latest) {
        throw new UsageError(
          `no --model given and no registered model under ${resolve(values['runs-dir'])}; run \`npm run demo\` first or pass --model`,
        );
      }
      console.log(`serving the newest registered model: ${latest.model} (${latest.entry})`);
      modelArg = latest.model;
    }
    const model = resolve(modelArg);
    if (!existsSync(join(model, 'config.json'))) {
      throw new UsageError(`--model: no model at ${model} (expected a folder with config.json and weights)`);
    }
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new UsageError(`--port: got "${values.port}", expected 1–65535`);
    const maxModelLen = intFlag('--max-model-len', values['max-model-len'], 2, 1_048_576);
    const maxConnections = intFlag('--max-connections', values['max-connections'], 1, 1024);
    const readTimeout = intFlag('--read-timeout', values['read-timeout'], 1, 3600);
    const python = join(root, '.venv', 'bin', 'python');
    if (!existsSync(python)) throw new Error(`${python} missing: run \`npm run setup\` first`);
    const child = spawn(
      python,
      [
        '-m',
        'medllama.serve',
        '--model_dir',
        model,
        '--port',
        String(port),
        '--host',
        values.host,
        '--max_model_len',
        String(maxModelLen),
        '--max_connections',
        String(maxConnections),
        '--read_timeout',
        String(readTimeout),
      ],
      { stdio: 'inherit' },
    );
    const stop = () => child.kill('SIGINT');
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return new Promise((done) => child.once('exit', (code) => done(code ?? 1)));
  },
};
