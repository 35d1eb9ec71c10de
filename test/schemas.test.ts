import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { defineStepConfig, toJsonSchema } from '../pipeline-steps/configs/define.ts';
import { renderSchemas } from '../scripts/gen-schemas.ts';

const root = join(import.meta.dirname, '..');

describe('generated step-config JSON Schemas (TypeScript → Python contract)', () => {
  test('every committed schema equals what the zod configs generate', async () => {
    const rendered = await renderSchemas();
    for (const [rel, text] of rendered) {
      const abs = join(root, rel);
      expect(existsSync(abs), `${rel} missing: run npm run gen:schemas`).toBe(true);
      expect(readFileSync(abs, 'utf8'), `${rel} is stale: run npm run gen:schemas`).toBe(text);
    }
  });

  test('a config renders defaults, ranges and descriptions', () => {
    const config = defineStepConfig(
      'example',
      'Example step.',
      z.object({ seq_len: z.number().int().min(8).max(8192).default(4096).describe('tokens per block') }),
    );
    const schema = toJsonSchema(config) as { properties: Record<string, Record<string, unknown>>; $id: string };
    expect(schema.$id).toBe('medllama/example.schema.json');
    expect(schema.properties.seq_len).toMatchObject({ type: 'integer', minimum: 8, maximum: 8192, default: 4096 });
    expect(schema.properties.seq_len.description).toBe('tokens per block');
  });

  test('rejects names that cannot be Python flags', () => {
    expect(() => defineStepConfig('example', 'x', z.object({ seqLen: z.number() }))).toThrow(
      /"seqLen" must be snake_case/,
    );
    expect(() => defineStepConfig('Example', 'x', z.object({}))).toThrow(/snake_case module name/);
  });
});
