/**
 * CacheConfig locally: a step's cache key is a hash of its cache-relevant resolved arguments, with every
 * input's S3 URI replaced by a content hash of what it maps to (so a step whose upstream outputs did not
 * change hits even though each run writes under its own execution id). Entries live in a cache folder
 * shared by all runs (`runs/.cache/<Step>-<key>/`): `entry.json` plus one folder per output.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeHyperparameter } from './jobs.ts';
import { contentHash, copyTree, type LocalS3 } from './storage.ts';
import type { Json, JsonObject, StepDefinition, StepProperties } from './types.ts';

/** JSON with object keys sorted, so equal values hash equally. */
export function canonicalJson(v: Json | undefined): string {
  if (v === undefined) return 'null';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  return `{${Object.keys(v)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`)
    .join(',')}}`;
}

function uriContent(uri: Json | undefined, s3: LocalS3, memo: Map<string, string>): string {
  if (typeof uri !== 'string') return 'none';
  try {
    return contentHash(s3.toLocal(uri), memo);
  } catch {
    return `unmapped:${uri}`;
  }
}

function asObject(v: Json | undefined): JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};
}

/** The arguments that decide a step's result (SageMaker's cache-relevant attributes), inputs by content. */
export function cacheMaterial(step: StepDefinition, args: JsonObject, s3: LocalS3, memo: Map<string, string>): Json {
  if (step.Type === 'Processing') {
    const inputs = ((args.ProcessingInputs as Json[] | undefined) ?? []).map((raw) => {
      const i = asObject(raw);
      const s = asObject(i.S3Input);
      const { S3Uri, ...rest } = s;
      return { InputName: i.InputName ?? null, S3Input: rest, content: uriContent(S3Uri, s3, memo) };
    });
    const outputs = ((asObject(args.ProcessingOutputConfig).Outputs as Json[] | undefined) ?? []).map((raw) => {
      const o = asObject(raw);
      return { OutputName: o.OutputName ?? null, LocalPath: asObject(o.S3Output).LocalPath ?? null };
    });
    return {
      Type: 'Processing',
      AppSpecification: args.AppSpecification ?? null,
      Environment: args.Environment ?? null,
      ProcessingResources: args.ProcessingResources ?? null,
      ProcessingInputs: inputs,
      Outputs: outputs,
      PropertyFiles: (step.PropertyFiles ?? []) as unknown as Json,
    };
  }
  if (step.Type === 'Training') {
    const hps = { ...asObject(args.HyperParameters) };
    const submit = hps.sagemaker_submit_directory;
    if (typeof submit === 'string') {
      const decoded = decodeHyperparameter(submit);
      hps.sagemaker_submit_directory = `content:${uriContent(decoded, s3, memo)}`;
    }
    const channels = ((args.InputDataConfig as Json[] | undefined) ?? []).map((raw) => {
      const c = asObject(raw);
      const src = asObject(asObject(c.DataSource).S3DataSource);
      const { S3Uri, ...rest } = src;
      return { ChannelName: c.ChannelName ?? null, S3DataSource: rest, content: uriContent(S3Uri, s3, memo) };
    });
    return {
      Type: 'Training',
      AlgorithmSpecification: args.AlgorithmSpecification ?? null,
      HyperParameters: hps,
      InputDataConfig: channels,
      ResourceConfig: args.ResourceConfig ?? null,
      Environment: args.Environment ?? null,
      CompressionType: asObject(args.OutputDataConfig).CompressionType ?? null,
    };
  }
  return { Type: step.Type, Arguments: args };
}

export function cacheKey(material: Json): string {
  return createHash('sha256').update(canonicalJson(material)).digest('hex');
}

/** ISO 8601 duration (PnYnMnWnDTnHnMnS) in milliseconds; months as 30 days, years as 365. */
export function parseDuration(text: string): number {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(
    text,
  );
  if (!m || text === 'P' || text.endsWith('T'))
    throw new Error(`CacheConfig.ExpireAfter "${text}" is not an ISO 8601 duration`);
  const [y, mo, w, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0));
  const days = y! * 365 + mo! * 30 + w! * 7 + d!;
  return ((days * 24 + h!) * 60 + mi!) * 60_000 + s! * 1000;
}

interface CacheEntry {
  step: string;
  key: string;
  createdAt: string;
  properties: StepProperties;
  outputs: string[];
}

export class StepCache {
  constructor(readonly dir: string) {}

  private entryDir(step: string, key: string): string {
    return join(this.dir, `${step}-${key.slice(0, 24)}`);
  }

  /** The cached entry for `key` if present and younger than `expireAfter`. */
  lookup(step: string, key: string, expireAfter: string | undefined, now: Date): CacheEntry | undefined {
    const file = join(this.entryDir(step, key), 'entry.json');
    if (!existsSync(file)) return undefined;
    let entry: CacheEntry;
    try {
      entry = JSON.parse(readFileSync(file, 'utf8')) as CacheEntry;
    } catch {
      return undefined;
    }
    if (entry.key !== key) return undefined;
    if (expireAfter && now.getTime() - Date.parse(entry.createdAt) > parseDuration(expireAfter)) return undefined;
    return entry;
  }

  /** Copies a cached entry's outputs to `targets` (output name → local path). */
  restore(entry: CacheEntry, targets: Readonly<Record<string, string>>): void {
    const base = this.entryDir(entry.step, entry.key);
    for (const [name, dest] of Object.entries(targets)) {
      if (!entry.outputs.includes(name)) throw new Error(`cache entry ${base} has no output "${name}"`);
      rmSync(dest, { recursive: true, force: true });
      mkdirSync(dest, { recursive: true });
      copyTree(join(base, 'outputs', name), dest);
    }
  }

  /** Stores a finished step's outputs (hard links) and properties under `key`. */
  store(
    step: string,
    key: string,
    properties: StepProperties,
    outputs: Readonly<Record<string, string>>,
    now: Date,
  ): void {
    const final = this.entryDir(step, key);
    const tmp = `${final}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(join(tmp, 'outputs'), { recursive: true });
    for (const [name, src] of Object.entries(outputs)) {
      mkdirSync(join(tmp, 'outputs', name), { recursive: true });
      copyTree(src, join(tmp, 'outputs', name));
    }
    const entry: CacheEntry = {
      step,
      key,
      createdAt: now.toISOString(),
      properties,
      outputs: Object.keys(outputs).sort(),
    };
    writeFileSync(join(tmp, 'entry.json'), `${JSON.stringify(entry, null, 2)}\n`);
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
  }
}
