import {
  InvokeEndpointCommand,
  InvokeEndpointWithResponseStreamCommand,
  SageMakerRuntimeClient,
} from '@aws-sdk/client-sagemaker-runtime';
import { resolveRegion } from '../../aws/region.ts';
import {
  type GenerationRequest,
  generatedText,
  requestBody,
  type ServingContainer,
  SseDecoder,
  streamedText,
} from '../../serving/invoke.ts';
import { type CliCommand, UsageError } from '../command.ts';
import { cdkJsonRegion } from '../deploy-config.ts';
import { parseOptions, regionOption } from '../options.ts';

const usage = `usage: medllama invoke --prompt TEXT [--max-new-tokens N] [--temperature T] [--stream]
                       [--endpoint NAME | --local [--url URL]] [--container vllm|tgi] [--region REGION]

Generates a completion from the deployed MedLlama endpoint (IAM-signed InvokeEndpoint) or, with --local,
from \`medllama local serve\`. The request and response schema is the serving container's (vLLM by default).`;

const options = [
  {
    name: 'prompt',
    value: 'TEXT',
    description: 'text to continue (required; Llama 2 base continues text rather than following chat)',
  },
  { name: 'max-new-tokens', value: 'N', description: 'tokens to generate, 1 to 4096', default: '128' },
  { name: 'temperature', value: 'T', description: '0 for greedy decoding, up to 2', default: '0.7' },
  { name: 'stream', description: 'print tokens as they arrive (InvokeEndpointWithResponseStream / SSE)' },
  { name: 'endpoint', value: 'NAME', description: 'endpoint name (default medllama-dev)' },
  { name: 'local', description: 'talk to a local server (`medllama local serve`) instead of AWS' },
  { name: 'url', value: 'URL', description: 'the local server', default: 'http://127.0.0.1:8080' },
  { name: 'container', value: 'NAME', description: 'vllm or tgi: which request schema to speak', default: 'vllm' },
  regionOption(),
] as const;

export interface InvokeOptions extends GenerationRequest {
  readonly container: ServingContainer;
  readonly target:
    | { readonly kind: 'local'; readonly url: string }
    | { readonly kind: 'endpoint'; readonly name: string; readonly region?: string | undefined };
}

export function parseInvokeArgs(argv: string[]): InvokeOptions {
  const { values } = parseOptions(argv, options);
  if (!values.prompt) throw new UsageError('--prompt is required');
  const maxNewTokens = Number(values['max-new-tokens']);
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1 || maxNewTokens > 4096) {
    throw new UsageError(`--max-new-tokens: got "${values['max-new-tokens']}", expected a whole number from 1 to 4096`);
  }
  const temperature = Number(values.temperature);
  if (!Number.isFinite(temperature) || temperature < 0 || temperature > 2) {
    throw new UsageError(`--temperature: got "${values.temperature}", expected a number from 0 to 2`);
  }
  if (values.container !== 'vllm' && values.container !== 'tgi') {
    throw new UsageError(`--container: got "${values.container}", expected vllm or tgi`);
  }
  if (values.local && values.endpoint) throw new UsageError('give --local or --endpoint, not both');
  return {
    prompt: values.prompt,
    maxNewTokens,
    temperature,
    stream: values.stream,
    container: values.container,
    target: values.local
      ? { kind: 'local', url: values.url.replace(/\/$/, '') }
      : { kind: 'endpoint', name: values.endpoint ?? 'medllama-dev', region: values.region },
  };
}

async function invokeLocal(
  opts: InvokeOptions & { target: { kind: 'local'; url: string } },
  write: (s: string) => void,
) {
  let res: Response;
  try {
    res = await fetch(`${opts.target.url}/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: requestBody(opts.container, opts),
    });
  } catch (err) {
    throw new Error(
      `no server at ${opts.target.url} (${err instanceof Error ? err.message : String(err)}); start one with \`medllama local serve\``,
    );
  }
  if (!opts.stream || !res.ok || !res.body) {
    write(generatedText(opts.container, await res.text()));
    return;
  }
  const decoder = new SseDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    for (const data of decoder.push(chunk)) {
      const text = streamedText(opts.container, data);
      if (text === null) return;
      write(text);
    }
  }
}

async function invokeEndpoint(
  opts: InvokeOptions & { target: { kind: 'endpoint'; name: string; region?: string | undefined } },
  write: (s: string) => void,
  client: SageMakerRuntimeClient,
) {
  const request = {
    EndpointName: opts.target.name,
    ContentType: 'application/json',
    Body: new TextEncoder().encode(requestBody(opts.container, opts)),
  };
  if (!opts.stream) {
    const res = await client.send(new InvokeEndpointCommand({ ...request, Accept: 'application/json' }));
    write(generatedText(opts.container, new TextDecoder().decode(res.Body)));
    return;
  }
  const res = await client.send(new InvokeEndpointWithResponseStreamCommand(request));
  const decoder = new SseDecoder();
  for await (const event of res.Body ?? []) {
    if (event.ModelStreamError) throw new Error(`model stream error: ${event.ModelStreamError.Message}`);
    if (!event.PayloadPart?.Bytes) continue;
    for (const data of decoder.push(event.PayloadPart.Bytes)) {
      const text = streamedText(opts.container, data);
      if (text === null) return;
      write(text);
    }
  }
}

export async function runInvoke(
  argv: string[],
  deps: {
    write?: (s: string) => void;
    runtime?: SageMakerRuntimeClient;
    cdkJsonRegion?: () => string | undefined;
  } = {},
): Promise<number> {
  const opts = parseInvokeArgs(argv);
  const write = deps.write ?? ((s: string) => process.stdout.write(s));
  if (opts.target.kind === 'local') {
    await invokeLocal({ ...opts, target: opts.target }, write);
  } else {
    const { region } = resolveRegion({ flag: opts.target.region, cdkJson: deps.cdkJsonRegion ?? cdkJsonRegion });
    const client = deps.runtime ?? new SageMakerRuntimeClient({ maxAttempts: 4, ...(region ? { region } : {}) });
    try {
      await invokeEndpoint({ ...opts, target: opts.target }, write, client);
    } catch (err) {
      // The cause keeps the SDK error, so the CLI can explain a credentials or region problem (lib/aws/errors.ts).
      throw new Error(
        `InvokeEndpoint ${opts.target.name} failed: ${err instanceof Error ? err.message : String(err)}`,
        {
          cause: err,
        },
      );
    }
  }
  write('\n');
  return 0;
}

export const command: CliCommand = {
  name: 'invoke',
  summary: 'generate text from the deployed endpoint, or from a local server with --local',
  usage,
  options,
  run: (argv) => runInvoke(argv),
};
