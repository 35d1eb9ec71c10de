import { describe, expect, test } from 'vitest';
import {
  articlesUri,
  baseModelUri,
  benchmarksUri,
  ConfigError,
  decontamPmidsUri,
  parseConfig,
  parseS3Uri,
  tokenizerUri,
} from '../lib/config.ts';
import { builderOptions, parameterDefaults } from '../lib/stacks/pipeline-stack.ts';

/** The single error line of an invalid config. */
function errorOf(raw: unknown): string[] {
  try {
    parseConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be rejected`);
}

describe('pipeline configuration', () => {
  test('defaults: on-demand training, S3 base model in the data bucket, vLLM serving, no e-mail', () => {
    const c = parseConfig({});
    expect(c.spot).toBe(false);
    expect(c.tuning).toBe(false);
    expect(c.baseModel).toEqual({ source: 's3' });
    expect(c.servingContainer).toBe('vllm');
    expect(c.notificationEmail).toBeUndefined();
    expect(c.instances).toEqual({
      ingest: { type: 'ml.c5.4xlarge', count: 1 },
      dedup: { type: 'ml.r5.4xlarge' },
      tokenize: { type: 'ml.c5.4xlarge', count: 1 },
      train: { type: 'ml.g5.12xlarge', count: 1 },
      mergeBack: { type: 'ml.r5.2xlarge' },
      evaluate: { type: 'ml.g5.2xlarge' },
    });
    // Thresholds left unset keep the pipeline Parameters' own defaults (pipeline-steps/parameters.ts).
    expect(c.thresholds).toEqual({});
    expect(c.data).toEqual({ usePmcOpenData: false, maxArticles: 0, decontaminate: true });
  });

  test('a partial instances block keeps the other defaults', () => {
    const c = parseConfig({ instances: { train: { type: 'ml.p4d.24xlarge' } } });
    expect(c.instances.train).toEqual({ type: 'ml.p4d.24xlarge', count: 1 });
    expect(c.instances.ingest).toEqual({ type: 'ml.c5.4xlarge', count: 1 });
  });

  test('instances.mergeBack is the MergeInstanceType default', () => {
    const c = parseConfig({ instances: { mergeBack: { type: 'ml.m5.4xlarge' } } });
    expect(parameterDefaults(c).MergeInstanceType).toBe('ml.m5.4xlarge');
    expect(parameterDefaults(parseConfig({})).MergeInstanceType).toBe('ml.r5.2xlarge');
    expect(errorOf({ instances: { mergeBack: { type: 'ml.g5.12xlarge2' } } })[0]).toMatch(
      /^medllama\.instances\.mergeBack\.type: /,
    );
  });

  test('JumpStart weights need acceptLlama2Eula: true written explicitly', () => {
    expect(errorOf({ baseModel: { source: 'jumpstart' } })).toEqual([
      'medllama.baseModel.acceptLlama2Eula: got nothing, expected true (you must accept the Llama 2 license explicitly to use JumpStart weights)',
    ]);
    expect(errorOf({ baseModel: { source: 'jumpstart', acceptLlama2Eula: 'yes' } })[0]).toMatch(
      /^medllama\.baseModel\.acceptLlama2Eula: got "yes", expected true/,
    );
    const c = parseConfig({ region: 'eu-west-1', baseModel: { source: 'jumpstart', acceptLlama2Eula: true } });
    expect(baseModelUri(c, 'data')).toBe(
      's3://jumpstart-private-cache-prod-eu-west-1/meta-training/train-meta-textgeneration-llama-2-7b.tar.gz',
    );
    // No tokenizer to stage by hand: the definition reads the StageBaseModel output's tokenizer.json …
    expect(tokenizerUri(c, 'data')).toBeUndefined();
    // … unless one is given.
    const own = parseConfig({
      baseModel: { source: 'jumpstart', acceptLlama2Eula: true, tokenizerS3Uri: 's3://tok/llama-2/tokenizer.json' },
    });
    expect(tokenizerUri(own, 'data')).toBe('s3://tok/llama-2/tokenizer.json');
    expect(errorOf({ baseModel: { source: 'jumpstart', acceptLlama2Eula: true, tokenizerS3Uri: 'tok/' } })[0]).toMatch(
      /^medllama\.baseModel\.tokenizerS3Uri: got "tok\/", expected an s3:\/\/bucket\/key URI/,
    );
  });

  test('an unknown base model source names the allowed ones', () => {
    expect(errorOf({ baseModel: { source: 'huggingface' } })).toEqual([
      'medllama.baseModel.source: got "huggingface", expected one of "jumpstart" | "s3"',
    ]);
  });

  test('S3 base model: default prefix in the data bucket, or an explicit URI; the tokenizer comes with it', () => {
    expect(baseModelUri(parseConfig({}), 'bkt')).toBe('s3://bkt/base-model/');
    const c = parseConfig({ baseModel: { source: 's3', s3Uri: 's3://models/llama-2-7b-hf/' } });
    expect(baseModelUri(c, 'bkt')).toBe('s3://models/llama-2-7b-hf/');
    expect(tokenizerUri(c, 'bkt')).toBe('s3://models/llama-2-7b-hf/tokenizer.json');
    expect(errorOf({ baseModel: { source: 's3', s3Uri: 'https://x/y' } })[0]).toBe(
      'medllama.baseModel.s3Uri: got "https://x/y", expected an s3://bucket/key URI (Hugging Face model folder)',
    );
  });

  test('data selection: PMC Open Data or an input URI, not both', () => {
    expect(articlesUri(parseConfig({}), 'bkt')).toBe('s3://bkt/raw/pmc-oa/');
    expect(articlesUri(parseConfig({ data: { usePmcOpenData: true } }), 'bkt')).toBe('s3://pmc-oa-opendata/');
    expect(articlesUri(parseConfig({ data: { inputS3Uri: 's3://mine/jats/' } }), 'bkt')).toBe('s3://mine/jats/');
    expect(errorOf({ data: { usePmcOpenData: true, inputS3Uri: 's3://mine/jats/' } })).toEqual([
      'medllama.data.inputS3Uri: got "s3://mine/jats/", expected either usePmcOpenData: true or inputS3Uri, not both',
    ]);
    expect(benchmarksUri(parseConfig({}), 'bkt')).toBe('s3://bkt/benchmarks/pubmedqa/');
  });

  test.each([
    [{ spot: 'yes' }, 'medllama.spot: got "yes", expected a boolean'],
    [{ tuning: 1 }, 'medllama.tuning: got 1, expected a boolean'],
    [{ servingContainer: 'triton' }, 'medllama.servingContainer: got "triton", expected one of "vllm" | "tgi"'],
    [{ notificationEmail: 'ops' }, 'medllama.notificationEmail: got "ops", expected an e-mail address'],
    [
      { instances: { train: { type: 'g5.12xlarge' } } },
      'medllama.instances.train.type: got "g5.12xlarge", expected a training instance type: one of ml.g5.12xlarge, ml.g5.2xlarge, ml.g6e.2xlarge, ml.p4d.24xlarge',
    ],
    [
      { instances: { evaluate: { type: 'ml.m5.4xlarge' } } },
      'medllama.instances.evaluate.type: got "ml.m5.4xlarge", expected a GPU instance type: one of ml.g5.12xlarge, ml.g5.2xlarge, ml.g6e.2xlarge, ml.p4d.24xlarge',
    ],
    [{ instances: { train: { count: 0 } } }, 'medllama.instances.train.count: got 0, expected a number >= 1'],
    [{ instances: { ingest: { count: 1.5 } } }, 'medllama.instances.ingest.count: got 1.5, expected a whole number'],
    [{ instances: { dedup: { count: 2 } } }, 'medllama.instances.dedup: unknown field "count"; known fields: type'],
    [{ data: { maxArticles: -1 } }, 'medllama.data.maxArticles: got -1, expected a number >= 0'],
    [
      { data: { decontamPmidsS3Uri: 's3://bkt/pmids/' } },
      'medllama.data.decontamPmidsS3Uri: got "s3://bkt/pmids/", expected the URI of one file, not a folder',
    ],
    [{ thresholds: { pubmedqaTolerance: 2 } }, 'medllama.thresholds.pubmedqaTolerance: got 2, expected a number <= 1'],
    [
      { thresholds: { pubmedqaTolerance: 0.04, pubmedqaMinGain: 0.02 } },
      'medllama.thresholds.pubmedqaMinGain: got 0.02, expected either pubmedqaTolerance (non-inferiority) or pubmedqaMinGain (superiority), not both',
    ],
    [
      { thresholds: { minPerplexityImprovement: 'x' } },
      'medllama.thresholds.minPerplexityImprovement: got "x", expected a number',
    ],
  ])('rejects %j naming field, value and expectation', (raw, message) => {
    expect(errorOf(raw)).toEqual([message]);
  });

  test('accepts a notification e-mail and TGI serving', () => {
    const c = parseConfig({ notificationEmail: 'ml-team@example.org', servingContainer: 'tgi', spot: true });
    expect(c.notificationEmail).toBe('ml-team@example.org');
    expect(c.servingContainer).toBe('tgi');
    expect(c.spot).toBe(true);
  });

  test('parseS3Uri splits bucket and key and rejects other schemes', () => {
    expect(parseS3Uri('s3://bucket/a/b/')).toEqual({ bucket: 'bucket', key: 'a/b/' });
    expect(parseS3Uri('s3://bucket')).toEqual({ bucket: 'bucket', key: '' });
    expect(() => parseS3Uri('gs://bucket/x')).toThrow(/not an S3 URI: "gs:\/\/bucket\/x"/);
  });
});

describe('benchmark decontamination', () => {
  test('is on by default and reads the list stage-benchmarks writes', () => {
    expect(decontamPmidsUri(parseConfig({}), 'data-bucket')).toBe(
      's3://data-bucket/benchmarks/pubmedqa/pqal_all_pmids.txt',
    );
  });

  test('a custom list, or none when turned off', () => {
    const custom = parseConfig({ data: { decontamPmidsS3Uri: 's3://my-lists/pmids.txt' } });
    expect(decontamPmidsUri(custom, 'data-bucket')).toBe('s3://my-lists/pmids.txt');
    expect(decontamPmidsUri(parseConfig({ data: { decontaminate: false } }), 'data-bucket')).toBeUndefined();
  });

  test('the pipeline passes it to Ingest by default', () => {
    const options = builderOptions(parseConfig({}), 'medllama-dev');
    expect(options.decontamPmidsUri).toMatch(/benchmarks\/pubmedqa\/pqal_all_pmids\.txt$/);
  });
});
