import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StepConfig } from './define.ts';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Every step config in this folder: each `<step>.ts` module exports one `StepConfig` named `config`.
 * Discovered from the folder so adding a step needs no edit here.
 */
export async function loadStepConfigs(): Promise<StepConfig[]> {
  const files = readdirSync(here)
    .filter((f) => f.endsWith('.ts') && !['define.ts', 'registry.ts'].includes(f) && !f.endsWith('.test.ts'))
    .sort();
  const configs: StepConfig[] = [];
  for (const file of files) {
    const mod = (await import(join(here, file))) as { config?: StepConfig };
    if (!mod.config) throw new Error(`pipeline-steps/configs/${file} must export a StepConfig named "config"`);
    if (`${mod.config.step}.ts` !== file) {
      throw new Error(
        `pipeline-steps/configs/${file} defines step "${mod.config.step}"; the file must be named after it`,
      );
    }
    configs.push(mod.config);
  }
  return configs;
}

/** Where the generated JSON Schema of a step lives (relative to the repository root). */
export function schemaPath(step: string): string {
  return `containers/medllama/schemas/${step}.schema.json`;
}
