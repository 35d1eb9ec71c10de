import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type CliCommand, UsageError } from '../command.ts';

const root = join(import.meta.dirname, '..', '..', '..');

const usage = `usage: medllama local serve --model DIR [--port N] [--host ADDR] [--max-model-len N]

Serves a locally trained model over HTTP with the same request and response schema as the deployed
container (vLLM's OpenAI-shaped /invocations, and /ping), so \`medllama invoke --local\` behaves like the
endpoint. Stops with Ctrl-C.

  --model DIR          the model folder (the Train step's output: config.json, safetensors, tokenizer)
  --port N             port (default 8080, the SageMaker container port)
  --host ADDR          address (default 127.0.0.1)
  --max-model-len N    prompt + generated tokens limit (default 512)`;

export const command: CliCommand = {
  name: 'local serve',
  summary: 'serve a locally trained model with the endpoint’s HTTP schema on 127.0.0.1',
  usage,
  run(argv) {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        model: { type: 'string' },
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '127.0.0.1' },
        'max-model-len': { type: 'string', default: '512' },
      },
    });
    if (!values.model) throw new UsageError('--model is required (the folder the Train step wrote)');
    const model = resolve(values.model);
    if (!existsSync(join(model, 'config.json'))) {
      throw new UsageError(`--model: no model at ${model} (expected a folder with config.json and weights)`);
    }
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new UsageError(`--port: got "${values.port}", expected 1–65535`);
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
        values['max-model-len'],
      ],
      { stdio: 'inherit' },
    );
    const stop = () => child.kill('SIGINT');
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    return new Promise((done) => child.once('exit', (code) => done(code ?? 1)));
  },
};
