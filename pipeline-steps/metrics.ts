import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTAINERS_DIR } from './containers.ts';
import type { MetricDefinition } from './steps/training.ts';

/** The training metrics' single source: `containers/medllama/metric_definitions.json` (owned by the train step). */
export const METRIC_DEFINITIONS_PATH = join(CONTAINERS_DIR, 'medllama', 'metric_definitions.json');

interface RawMetric {
  readonly Name?: unknown;
  readonly Regex?: unknown;
  readonly name?: unknown;
  readonly regex?: unknown;
}

/**
 * Reads the metric definitions for `AlgorithmSpecification.MetricDefinitions`. Accepts a list of
 * `{Name, Regex}` (or `{name, regex}`), or an object holding such a list under `metrics` / `MetricDefinitions`.
 * Throws naming the file when it is missing or malformed; the regexes must compile and have one group.
 */
export function loadMetricDefinitions(path = METRIC_DEFINITIONS_PATH): MetricDefinition[] {
  if (!existsSync(path)) throw new Error(`${path} is missing: the Train step's MetricDefinitions come from it`);
  const raw = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  const list = Array.isArray(raw)
    ? raw
    : raw && typeof raw === 'object'
      ? ((raw as Record<string, unknown>).metrics ?? (raw as Record<string, unknown>).MetricDefinitions)
      : undefined;
  if (!Array.isArray(list) || list.length === 0) {
    throw new Error(`${path}: expected a non-empty list of {Name, Regex} metric definitions`);
  }
  const out = (list as RawMetric[]).map((m, i) => {
    const name = m.Name ?? m.name;
    const regex = m.Regex ?? m.regex;
    if (typeof name !== 'string' || typeof regex !== 'string' || !name || !regex) {
      throw new Error(`${path}: entry ${i} needs string Name and Regex, got ${JSON.stringify(m)}`);
    }
    let groups: number;
    try {
      groups = new RegExp(`${regex}|`).exec('')!.length - 1;
    } catch (err) {
      throw new Error(`${path}: metric ${name}: regex does not compile: ${(err as Error).message}`);
    }
    if (groups !== 1) throw new Error(`${path}: metric ${name}: regex must have exactly one capture group`);
    return { Name: name, Regex: regex };
  });
  const names = out.map((m) => m.Name);
  if (new Set(names).size !== names.length) throw new Error(`${path}: duplicate metric names`);
  if (out.length > 40) throw new Error(`${path}: at most 40 metric definitions are allowed, got ${out.length}`);
  return out;
}
