// Writes containers/medllama/schemas/<step>.schema.json from the zod step configs in
// pipeline-steps/configs. `--check` exits non-zero when a committed file is stale (used by the tests).
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toJsonSchema } from '../pipeline-steps/configs/define.ts';
import { loadStepConfigs, schemaPath } from '../pipeline-steps/configs/registry.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function renderSchemas(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const config of await loadStepConfigs()) {
    out.set(schemaPath(config.step), `${JSON.stringify(toJsonSchema(config), null, 2)}\n`);
  }
  return out;
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const rendered = await renderSchemas();
  const dir = join(root, 'containers/medllama/schemas');
  mkdirSync(dir, { recursive: true });
  const stale: string[] = [];
  for (const [rel, text] of rendered) {
    const abs = join(root, rel);
    const current = existsSync(abs) ? readFileSync(abs, 'utf8') : undefined;
    if (current === text) continue;
    if (check) stale.push(rel);
    else writeFileSync(abs, text);
  }
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.schema.json'))) {
    const rel = `containers/medllama/schemas/${f}`;
    if (rendered.has(rel)) continue;
    if (check) stale.push(`${rel} (no config defines it)`);
    else unlinkSync(join(dir, f));
  }
  if (stale.length) {
    console.error(`Stale generated schemas; run \`npm run gen:schemas\`:\n  ${stale.join('\n  ')}`);
    process.exit(1);
  }
  console.log(
    check ? `schemas up to date (${rendered.size})` : `wrote ${rendered.size} schema(s) to ${dirname(schemaPath('x'))}`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
