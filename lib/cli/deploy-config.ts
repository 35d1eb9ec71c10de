// The deploy config as the CLI reads it: cdk.json's `medllama` context, the same source `cdk synth` reads.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type MedLlamaConfig, parseConfig } from '../config.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function medllamaContext(root: string): unknown {
  const cdkJson = JSON.parse(readFileSync(join(root, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return cdkJson.context?.medllama;
}

/** The validated deploy config (defaults filled in); a ConfigError names each bad field. */
export function readDeployConfig(root = repoRoot): MedLlamaConfig {
  return parseConfig(medllamaContext(root));
}

/**
 * `medllama.region` when cdk.json sets it (the whole config is validated first, so a bad config stops the command
 * before any AWS call), else undefined: the region resolution then goes on to the AWS profile.
 */
export function cdkJsonRegion(root = repoRoot): string | undefined {
  if (!existsSync(join(root, 'cdk.json'))) return undefined;
  const raw = medllamaContext(root);
  const config = parseConfig(raw);
  const written = raw !== null && typeof raw === 'object' && 'region' in raw;
  return written ? config.region : undefined;
}
