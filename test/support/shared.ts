/**
 * The one way a vitest file reaches ../shared (the team's data and reference folder beside the repo; users'
 * clones have none). `MEDLLAMA_SHARED_DIR` overrides the location; `npm test` sets it to a missing folder and
 * runs every file that imports this module once more, which proves a clone without ../shared passes.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const SHARED_DIR = process.env.MEDLLAMA_SHARED_DIR || join(import.meta.dirname, '..', '..', '..', 'shared');

/** A folder under ../shared, or undefined (with a visible warning naming the tests skipped) when absent. */
export function sharedPath(relative: string, skipping: string): string | undefined {
  const path = join(SHARED_DIR, relative);
  if (existsSync(path)) return path;
  console.warn(`skipping ${skipping}: ${path} absent (../shared is team-internal; CI has it)`);
  return undefined;
}
