/**
 * Request and response shapes of the serving containers, shared by `medllama invoke` (endpoint and local).
 * - vLLM DLC (default): OpenAI completions `{model, prompt, max_tokens, temperature, stream}` →
 *   `{choices: [{text}]}`; streaming is SSE with `choices[0].text` deltas, then `data: [DONE]`.
 * - TGI DLC: `{inputs, parameters: {max_new_tokens, temperature, do_sample}}` → `[{generated_text}]`;
 *   streaming is SSE with `token.text` per event.
 */

export type ServingContainer = 'vllm' | 'tgi';
export const SERVED_MODEL_NAME = 'medllama';

export interface GenerationRequest {
  readonly prompt: string;
  readonly maxNewTokens: number;
  readonly temperature: number;
  readonly stream: boolean;
}

export function requestBody(container: ServingContainer, req: GenerationRequest): string {
  if (container === 'tgi') {
    return JSON.stringify({
      inputs: req.prompt,
      parameters: {
        max_new_tokens: req.maxNewTokens,
        do_sample: req.temperature > 0,
        ...(req.temperature > 0 ? { temperature: req.temperature } : {}),
      },
      stream: req.stream,
    });
  }
  return JSON.stringify({
    model: SERVED_MODEL_NAME,
    prompt: req.prompt,
    max_tokens: req.maxNewTokens,
    temperature: req.temperature,
    stream: req.stream,
  });
}

/** The generated text of a non-streaming response; throws with the container's own error message. */
export function generatedText(container: ServingContainer, body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new Error(`the ${container} container answered with non-JSON: ${body.slice(0, 200)}`);
  }
  const obj = parsed as Record<string, unknown>;
  if (obj && typeof obj === 'object' && !Array.isArray(obj) && (obj.object === 'error' || 'error' in obj)) {
    const message = typeof obj.message === 'string' ? obj.message : JSON.stringify(obj.error ?? obj);
    throw new Error(`the ${container} container returned an error: ${message}`);
  }
  if (container === 'tgi') {
    const first = Array.isArray(parsed) ? (parsed[0] as { generated_text?: unknown }) : undefined;
    if (typeof first?.generated_text !== 'string') throw new Error(`unexpected TGI response: ${body.slice(0, 200)}`);
    return first.generated_text;
  }
  const text = (obj.choices as { text?: unknown }[] | undefined)?.[0]?.text;
  if (typeof text !== 'string') throw new Error(`unexpected vLLM response: ${body.slice(0, 200)}`);
  return text;
}

/**
 * Splits a server-sent-event stream into the `data:` payloads of complete events. Bytes may arrive cut
 * anywhere (SageMaker coalesces or splits PayloadPart frames), so it buffers until a blank line ends an event.
 */
export class SseDecoder {
  private buffer = '';
  private readonly utf8 = new TextDecoder('utf-8');

  push(chunk: Uint8Array | string): string[] {
    this.buffer += typeof chunk === 'string' ? chunk : this.utf8.decode(chunk, { stream: true });
    this.buffer = this.buffer.replace(/\r\n/g, '\n');
    const events: string[] = [];
    let end = this.buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data) events.push(data);
      end = this.buffer.indexOf('\n\n');
    }
    return events;
  }
}

/** The text delta one streamed event carries; `null` at the end of the stream. */
export function streamedText(container: ServingContainer, data: string): string | null {
  if (data === '[DONE]') return null;
  const obj = JSON.parse(data) as Record<string, unknown>;
  if (obj.object === 'error' || 'error' in obj) {
    throw new Error(
      `the ${container} container returned an error: ${String(obj.message ?? JSON.stringify(obj.error))}`,
    );
  }
  if (container === 'tgi') {
    const token = obj.token as { text?: string; special?: boolean } | undefined;
    return token && !token.special ? (token.text ?? '') : '';
  }
  return ((obj.choices as { text?: string }[] | undefined)?.[0]?.text ?? '') as string;
}
