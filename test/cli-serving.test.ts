import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateEndpointCommand,
  CreateEndpointConfigCommand,
  CreateModelCommand,
  SageMakerClient,
} from '@aws-sdk/client-sagemaker';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { formatTable, listEndpoints } from '../lib/cli/commands/endpoints.ts';
import { parseInvokeArgs, runInvoke } from '../lib/cli/commands/invoke.ts';
import { generatedText, requestBody, SseDecoder, streamedText } from '../lib/serving/invoke.ts';
import { freePort } from '../pipeline-steps/local/ports.ts';
import { type MotoServer, startMoto, venvPython } from './support/moto.ts';

describe('serving request/response shapes', () => {
  test('vLLM gets an OpenAI completions body, TGI its inputs/parameters body', () => {
    const req = { prompt: 'Asthma is', maxNewTokens: 32, temperature: 0, stream: false };
    expect(JSON.parse(requestBody('vllm', req))).toEqual({
      model: 'medllama',
      prompt: 'Asthma is',
      max_tokens: 32,
      temperature: 0,
      stream: false,
    });
    expect(JSON.parse(requestBody('tgi', req))).toEqual({
      inputs: 'Asthma is',
      parameters: { max_new_tokens: 32, do_sample: false },
      stream: false,
    });
  });

  test('responses and container errors', () => {
    expect(generatedText('vllm', '{"choices":[{"text":" a chronic disease"}]}')).toBe(' a chronic disease');
    expect(generatedText('tgi', '[{"generated_text":" a chronic disease"}]')).toBe(' a chronic disease');
    expect(() => generatedText('vllm', '{"object":"error","message":"The model `x` does not exist."}')).toThrow(
      'the vllm container returned an error: The model `x` does not exist.',
    );
    expect(() => generatedText('vllm', 'Internal Server Error')).toThrow('answered with non-JSON');
  });

  test('SSE events survive frames cut anywhere, including inside a UTF-8 character', () => {
    const stream = new TextEncoder().encode(
      'data: {"choices":[{"text":"β-"}]}\n\ndata: {"choices":[{"text":"blocker"}]}\r\n\r\ndata: [DONE]\n\n',
    );
    const decoder = new SseDecoder();
    const events: string[] = [];
    for (let i = 0; i < stream.length; i += 7) events.push(...decoder.push(stream.slice(i, i + 7)));
    expect(events.map((e) => streamedText('vllm', e))).toEqual(['β-', 'blocker', null]);
    expect(streamedText('tgi', '{"token":{"text":" dose","special":false}}')).toBe(' dose');
    expect(streamedText('tgi', '{"token":{"text":"</s>","special":true}}')).toBe('');
  });

  test.each([
    [[], '--prompt is required'],
    [['--prompt', 'x', '--max-new-tokens', '0'], '--max-new-tokens: got "0"'],
    [['--prompt', 'x', '--temperature', 'hot'], '--temperature: got "hot"'],
    [['--prompt', 'x', '--container', 'lmi'], '--container: got "lmi", expected vllm or tgi'],
    [['--prompt', 'x', '--local', '--endpoint', 'e'], 'give --local or --endpoint, not both'],
  ])('invoke arguments are validated before any call: %j', (argv, message) => {
    expect(() => parseInvokeArgs(argv)).toThrow(message);
  });
});

describe('invoke and endpoints against a moto server', () => {
  let moto: MotoServer;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  test('invoke sends the vLLM body to InvokeEndpoint and prints the completion', async () => {
    // moto answers InvokeEndpoint from a queue of canned results.
    await fetch(`${moto.endpoint}/moto-api/static/sagemaker/endpoint-results`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        results: [
          { Body: JSON.stringify({ choices: [{ text: ' is an ACE inhibitor.' }] }), ContentType: 'application/json' },
        ],
      }),
    });
    let out = '';
    const code = await runInvoke(['--prompt', 'Lisinopril', '--endpoint', 'medllama-dev'], {
      write: (s) => {
        out += s;
      },
      runtime: new SageMakerRuntimeClient(moto.clientConfig),
    });
    expect(code).toBe(0);
    expect(out).toBe(' is an ACE inhibitor.\n');
  });

  test('endpoints lists status, instance and model version', async () => {
    const sm = new SageMakerClient(moto.clientConfig);
    await sm.send(
      new CreateModelCommand({
        ModelName: 'medllama-dev-v3',
        ExecutionRoleArn: 'arn:aws:iam::123456789012:role/r',
        PrimaryContainer: { Image: 'img' },
      }),
    );
    await sm.send(
      new CreateEndpointConfigCommand({
        EndpointConfigName: 'medllama-dev-v3-abc',
        ProductionVariants: [
          {
            VariantName: 'AllTraffic',
            ModelName: 'medllama-dev-v3',
            InstanceType: 'ml.p3.2xlarge',
            InitialInstanceCount: 1,
          },
        ],
      }),
    );
    await sm.send(
      new CreateEndpointCommand({ EndpointName: 'medllama-dev', EndpointConfigName: 'medllama-dev-v3-abc' }),
    );
    const rows = await listEndpoints(sm, 'medllama');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      name: 'medllama-dev',
      status: 'InService',
      instance: 'ml.p3.2xlarge',
      model: 'medllama-dev-v3',
    });
    expect(formatTable(rows)).toMatch(
      /^ENDPOINT\s+STATUS\s+INSTANCE\s+COUNT\s+MODEL\s+UPDATED\nmedllama-dev\s+InService\s+ml\.p3\.2xlarge/,
    );
    expect(formatTable([])).toBe('no endpoints found');
  });
});

describe('invoke --local against `medllama local serve` (the real Python server, tiny model)', () => {
  let server: ChildProcess | undefined;
  let url = '';
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'medllama-serve-'));
    const made = spawnSync(venvPython, ['-m', 'medllama.tiny_model', '--output_dir', join(dir, 'model')], {
      encoding: 'utf8',
    });
    expect(made.status, made.stderr).toBe(0);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = spawn(venvPython, ['-m', 'medllama.serve', '--model_dir', join(dir, 'model'), '--port', String(port)], {
      stdio: 'ignore',
    });
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        if ((await fetch(`${url}/ping`)).ok) break;
      } catch {
        // starting
      }
      if (Date.now() > deadline) throw new Error('local server did not start');
      await new Promise((r) => setTimeout(r, 300));
    }
  }, 180_000);
  afterAll(() => {
    server?.kill('SIGTERM');
  });

  test('plain and streamed completions agree under greedy decoding', async () => {
    let plain = '';
    let streamed = '';
    const base = ['--local', '--url', url, '--prompt', 'Sepsis is', '--max-new-tokens', '6', '--temperature', '0'];
    await runInvoke(base, { write: (s) => (plain += s) });
    await runInvoke([...base, '--stream'], { write: (s) => (streamed += s) });
    expect(plain.length).toBeGreaterThan(1);
    expect(streamed).toBe(plain);
  });

  test('a missing server is a clear error', async () => {
    const port = await freePort();
    await expect(runInvoke(['--local', '--url', `http://127.0.0.1:${port}`, '--prompt', 'x'])).rejects.toThrow(
      /no server at http:\/\/127\.0\.0\.1:\d+ .*medllama local serve/,
    );
  });
});

describe('local serve picks the newest registered model by default', () => {
  test('reads ModelDataLocal of the newest registry entry, relative to its run folder', async () => {
    const { latestRegisteredModel } = await import('../lib/cli/commands/local-serve.ts');
    const { mkdirSync, writeFileSync, utimesSync } = await import('node:fs');
    const runs = mkdtempSync(join(tmpdir(), 'medllama-runs-'));
    expect(latestRegisteredModel(runs)).toBeUndefined();
    for (const [run, when] of [
      ['old', 1_000],
      ['new', 2_000],
    ] as const) {
      const model = join(runs, run, 's3', 'artifacts', 'model');
      mkdirSync(model, { recursive: true });
      writeFileSync(join(model, 'config.json'), '{}');
      const entry = join(runs, run, 'registry', 'medllama-local', '1.json');
      mkdirSync(join(entry, '..'), { recursive: true });
      writeFileSync(entry, JSON.stringify({ ModelDataLocal: { 'container-0': 's3/artifacts/model' } }));
      utimesSync(entry, when, when);
    }
    expect(latestRegisteredModel(runs)?.model).toBe(join(runs, 'new', 's3', 'artifacts', 'model'));
  });
});

describe('local serve options', () => {
  test('the connection cap, read timeout and context length are checked before Python starts', async () => {
    const { command } = await import('../lib/cli/commands/local-serve.ts');
    const { writeFileSync } = await import('node:fs');
    const model = mkdtempSync(join(tmpdir(), 'medllama-model-'));
    writeFileSync(join(model, 'config.json'), '{}');
    const cases: Array<[string[], RegExp]> = [
      [['--max-connections', '0'], /--max-connections: got "0", expected a whole number from 1 to 1024/],
      [['--max-connections=-1'], /--max-connections: got "-1"/],
      [['--read-timeout', '1e9'], /--read-timeout: got "1e9", expected a whole number from 1 to 3600/],
      [['--max-model-len', 'lots'], /--max-model-len: got "lots"/],
    ];
    for (const [args, message] of cases) {
      await expect(Promise.resolve().then(() => command.run(['--model', model, ...args]))).rejects.toThrow(message);
    }
  });
});
