import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { resolveRegion } from '../../aws/region.ts';
import {
  benchmarkObjects,
  DECONTAM_FILE,
  DEFAULT_BENCHMARKS_PREFIX,
  type Download,
  httpDownload,
  loadFromDir,
  loadFromGithub,
  PUBMEDQA_COMMIT,
  PUBMEDQA_EXPECTED,
  stageObjects,
  validatePubMedQa,
} from '../../data/benchmarks.ts';
import {
  DEFAULT_GENERAL_REPLAY_PREFIX,
  DEFAULT_GENERAL_TEXT_PREFIX,
  GENERAL_REPLAY_KIND,
  GENERAL_TEXT_KIND,
  GENERAL_TEXT_LICENSE,
  type GeneralTextSet,
  generalTextObjects,
  loadGeneralReplay,
  loadGeneralText,
  sharedText,
  type TextSetKind,
} from '../../data/general-text.ts';
import {
  loadSuiteFromDir,
  loadSuiteFromHub,
  SUITE_SOURCES,
  type SuiteFile,
  suiteObjects,
  validateSuite,
} from '../../data/suite-benchmarks.ts';
import { type CliCommand, UsageError } from '../command.ts';
import { cdkJsonRegion } from '../deploy-config.ts';
import { parseOptions, regionOption } from '../options.ts';

const usage = `usage: medllama stage-benchmarks (--to s3://BUCKET[/PREFIX] | --bucket NAME) [--from DIR] [--kms-key-id KEY]
                                 [--general-text-from DIR] [--general-text-to s3://BUCKET/PREFIX]
                                 [--replay-from DIR] [--replay-to s3://BUCKET/PREFIX] [--suite | --suite-from DIR]
                                 [--dry-run] [--any-size] [--region REGION] [--endpoint URL]

Stages the Evaluate step's inputs into the data bucket: PubMedQA (PQA-L: 1000 expert-labelled items, official
500-item test split; MIT license) with the decontamination list Ingest drops from the training corpus, and the
general-text set for the regression check (the project's own prose in fixtures/general-text, one topic per file;
${GENERAL_TEXT_LICENSE}). PubMedQA goes under PREFIX (default benchmarks/pubmedqa/, which is where the pipeline reads
the benchmark unless data.benchmarksS3Uri is set in the deploy config):

  <PREFIX>ori_pqal.json           the labelled items, as published
  <PREFIX>test_ground_truth.json  the test split {PMID: yes|no|maybe}, as published
  <PREFIX>pqal_all_pmids.txt      the 1000 PMIDs, sorted, one per line: set data.decontamPmidsS3Uri to its URI
  <PREFIX>LICENSE                 the upstream MIT license
  <PREFIX>SOURCE.md               origin (repository and commit, or local folder), license, staging date, sha256s

With --suite (or --suite-from DIR, a local copy in the same layout) the rest of Evaluate's benchmark suite goes
under PREFIX too, each from the Hugging Face dataset lm-evaluation-harness reads (its own records, read through the
datasets-server rows API), as JSON Lines with a SOURCE.md (dataset, config, split, revision, rows, sha256, license):

  <PREFIX>medqa/test.jsonl             GBaker/MedQA-USMLE-4-options-hf test (1,273)
  <PREFIX>medmcqa/validation.jsonl     openlifescienceai/medmcqa validation (4,183)
  <PREFIX>mmlu/<subject>/test.jsonl    cais/mmlu test: 6 medical subjects and the fixed non-medical subset of 5
  <PREFIX>arc_challenge/test.jsonl     allenai/ai2_arc ARC-Challenge test (1,172)
  <PREFIX>hellaswag/validation.jsonl   Rowan/hellaswag validation (10,042)
  <PREFIX>winogrande/validation.jsonl  allenai/winogrande winogrande_xl validation (1,267)

The general text goes under s3://BUCKET/${DEFAULT_GENERAL_TEXT_PREFIX} (where the pipeline reads it unless
data.generalTextS3Uri is set): every .txt file, and SOURCE.md (origin, license, paragraphs and sha256 per file).

A general replay sample (fixtures/general-replay: the project's own prose on other topics, ${GENERAL_TEXT_LICENSE})
goes under s3://BUCKET/${DEFAULT_GENERAL_REPLAY_PREFIX} the same way; an execution uses it only when that prefix is
its ReplayDataUri parameter. It must share no 13-word run with the general text (training on the evaluation text
would hide forgetting), or nothing is staged.

The files are validated first (JSON, 1000 items with yes/no/maybe decisions, 500 test ids that are among them, MIT
license; general text: UTF-8, at least two files, none empty). Idempotent: each object carries
x-amz-meta-content-sha256, and an object whose hash (and KMS key) already matches is not uploaded again.`;

const options = [
  {
    name: 'to',
    value: 's3://BUCKET[/PREFIX]',
    description: 's3://BUCKET alone means s3://BUCKET/benchmarks/pubmedqa/ (give --to or --bucket)',
  },
  { name: 'bucket', value: 'NAME', description: 'the data bucket: same as --to s3://NAME/benchmarks/pubmedqa/' },
  {
    name: 'from',
    value: 'DIR',
    description:
      "a folder holding ori_pqal.json, test_ground_truth.json and LICENSE (from github.com/pubmedqa/pubmedqa's " +
      'data/ folder and its root; pqal_all_pmids.txt is checked when present).\nDefault: download those files from ' +
      `github.com/pubmedqa/pubmedqa at commit ${PUBMEDQA_COMMIT.slice(0, 12)} (sha256-checked; needs internet)`,
  },
  {
    name: 'general-text-from',
    value: 'DIR',
    description: "the general-text folder (default: this repository's fixtures/general-text)",
  },
  {
    name: 'general-text-to',
    value: 'URI',
    description: `s3://BUCKET/PREFIX for the general text (default: s3://BUCKET/${DEFAULT_GENERAL_TEXT_PREFIX} in the PubMedQA bucket)`,
  },
  {
    name: 'replay-from',
    value: 'DIR',
    description: "the general replay folder (default: this repository's fixtures/general-replay)",
  },
  {
    name: 'replay-to',
    value: 'URI',
    description: `s3://BUCKET/PREFIX for the replay sample (default: s3://BUCKET/${DEFAULT_GENERAL_REPLAY_PREFIX} in the PubMedQA bucket)`,
  },
  {
    name: 'suite',
    description: `also stage the rest of the benchmark suite (${SUITE_SOURCES.length} files) from the Hugging Face datasets-server (needs internet)`,
  },
  {
    name: 'suite-from',
    value: 'DIR',
    description:
      'stage the rest of the suite from a local copy laid out as the benchmarks folder (medqa/test.jsonl, …)',
  },
  { name: 'kms-key-id', value: 'KEY', description: 'upload with SSE-KMS under this key (id, ARN or alias)' },
  { name: 'dry-run', description: 'validate and show what would be uploaded, upload nothing' },
  {
    name: 'any-size',
    description: 'skip the size checks (PubMedQA 1000 items / 500 test ids, each suite split its rows): for fixtures',
  },
  regionOption(),
  { name: 'endpoint', value: 'URL', description: 'S3 endpoint override (tests: a moto server; path-style)' },
] as const;

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export interface StagedSet {
  readonly bucket: string;
  readonly prefix: string;
  readonly from?: string;
}

export interface StageBenchmarksArgs {
  readonly bucket: string;
  readonly prefix: string;
  readonly from?: string;
  /** Where the general-text set goes. */
  readonly generalText: StagedSet;
  /** Where the general replay sample goes. */
  readonly replay: StagedSet;
  /** Stage the rest of the suite: from the Hub ('hub') or a local folder. */
  readonly suite?: { readonly from: 'hub' } | { readonly from: 'dir'; readonly dir: string };
  readonly kmsKeyId?: string;
  readonly dryRun: boolean;
  readonly anySize: boolean;
  readonly region?: string;
  readonly endpoint?: string;
}

export function parseStageBenchmarksArgs(argv: string[]): StageBenchmarksArgs {
  const { values } = parseOptions(argv, options);
  if ((values.to === undefined) === (values.bucket === undefined)) {
    throw new UsageError('give exactly one of --to s3://BUCKET/PREFIX and --bucket NAME');
  }
  if (values.bucket !== undefined && !BUCKET_NAME.test(values.bucket)) {
    throw new UsageError(`--bucket: got "${values.bucket}", expected an S3 bucket name`);
  }
  const to = values.to ?? `s3://${values.bucket}/${DEFAULT_BENCHMARKS_PREFIX}`;
  const { bucket, prefix } = parseTarget('--to', to, DEFAULT_BENCHMARKS_PREFIX);
  const general = parseTarget(
    '--general-text-to',
    values['general-text-to'] ?? `s3://${bucket}/${DEFAULT_GENERAL_TEXT_PREFIX}`,
    DEFAULT_GENERAL_TEXT_PREFIX,
  );
  const replay = parseTarget(
    '--replay-to',
    values['replay-to'] ?? `s3://${bucket}/${DEFAULT_GENERAL_REPLAY_PREFIX}`,
    DEFAULT_GENERAL_REPLAY_PREFIX,
  );
  if (values['kms-key-id'] !== undefined && !values['kms-key-id'].trim()) throw new UsageError('--kms-key-id is empty');
  if (values.suite && values['suite-from'] !== undefined)
    throw new UsageError('give --suite or --suite-from, not both');
  if (values.endpoint !== undefined && !/^https?:\/\/\S+$/.test(values.endpoint)) {
    throw new UsageError(`--endpoint: got "${values.endpoint}", expected an http(s) URL`);
  }
  return {
    bucket,
    prefix,
    generalText: { ...general, ...(values['general-text-from'] ? { from: values['general-text-from'] } : {}) },
    replay: { ...replay, ...(values['replay-from'] ? { from: values['replay-from'] } : {}) },
    dryRun: values['dry-run'],
    anySize: values['any-size'],
    ...(values.suite ? { suite: { from: 'hub' as const } } : {}),
    ...(values['suite-from'] !== undefined ? { suite: { from: 'dir' as const, dir: values['suite-from'] } } : {}),
    ...(values.from ? { from: values.from } : {}),
    ...(values['kms-key-id'] ? { kmsKeyId: values['kms-key-id'] } : {}),
    ...(values.region ? { region: values.region } : {}),
    ...(values.endpoint ? { endpoint: values.endpoint } : {}),
  };
}

/** `s3://BUCKET[/PREFIX]` → bucket and a prefix ending in '/' (`fallback` when the URI names the bucket alone). */
function parseTarget(flag: string, uri: string, fallback: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(uri);
  if (!m || !BUCKET_NAME.test(m[1]!)) throw new UsageError(`${flag}: got "${uri}", expected s3://BUCKET[/PREFIX]`);
  let prefix = m[2] ?? '';
  if (prefix.startsWith('/') || prefix.includes('//')) throw new UsageError(`${flag}: "${uri}" has an empty path part`);
  if (prefix === '') prefix = fallback;
  if (!prefix.endsWith('/')) prefix += '/';
  return { bucket: m[1]!, prefix };
}

export interface StageBenchmarksDeps {
  readonly log?: (line: string) => void;
  /** The S3 client for the data bucket (default: the SDK's credential chain; path-style with --endpoint). */
  readonly s3?: (opts: StageBenchmarksArgs) => S3Client;
  /** `medllama.region` of cdk.json, the region when neither --region nor AWS_REGION/AWS_DEFAULT_REGION gives one. */
  readonly cdkJsonRegion?: () => string | undefined;
  /** The default source's downloader (tests inject one; this machine has no internet). */
  readonly download?: Download;
  /** Today's date for SOURCE.md (tests pin it). */
  readonly now?: () => Date;
}

function defaultClient(opts: StageBenchmarksArgs): S3Client {
  const config: S3ClientConfig = {};
  if (opts.region) config.region = opts.region;
  if (opts.endpoint) {
    config.endpoint = opts.endpoint;
    config.forcePathStyle = true;
  }
  return new S3Client(config);
}

export async function runStageBenchmarks(argv: string[], deps: StageBenchmarksDeps = {}): Promise<number> {
  const opts = parseStageBenchmarksArgs(argv);
  const { region } = resolveRegion({ flag: opts.region, cdkJson: deps.cdkJsonRegion ?? cdkJsonRegion });
  const log = deps.log ?? ((line: string) => console.error(line));
  const target = `s3://${opts.bucket}/${opts.prefix}`;
  log(`stage-benchmarks: PubMedQA from ${opts.from ?? `github.com/pubmedqa/pubmedqa@${PUBMEDQA_COMMIT.slice(0, 12)}`}`);
  const raw = opts.from ? await loadFromDir(opts.from) : await loadFromGithub(deps.download ?? httpDownload);
  const summary = validatePubMedQa(raw, opts.anySize ? null : PUBMEDQA_EXPECTED);
  log(
    `stage-benchmarks: valid: ${summary.items} items, ${summary.testIds} test ids, license ${summary.licenseName} ` +
      `(${summary.copyright})`,
  );
  // validated before anything is uploaded, the replay sample against the evaluation set too
  const general = await loadGeneralText(opts.generalText.from);
  const replay = await loadGeneralReplay(opts.replay.from);
  const shared = sharedText(general, replay);
  if (shared.length) {
    throw new Error(
      `--replay-from ${replay.dir}: shares text with the general-text evaluation set ${general.dir} ` +
        `(${shared.length} pair(s) of files; training on evaluation text hides forgetting):\n  ${shared.slice(0, 10).join('\n  ')}`,
    );
  }
  let suite: SuiteFile[] = [];
  if (opts.suite) {
    suite =
      opts.suite.from === 'hub'
        ? await loadSuiteFromHub(deps.download ?? httpDownload, log)
        : await loadSuiteFromDir(opts.suite.dir);
    validateSuite(suite, opts.anySize);
    log(
      `stage-benchmarks: suite valid: ${suite.length} files, ${suite.reduce((n, f) => n + f.records.length, 0)} records`,
    );
  }
  const date = (deps.now ?? (() => new Date()))().toISOString().slice(0, 10);
  const objects = [...benchmarkObjects(raw, summary, date), ...suiteObjects(suite, date)];

  const client = (deps.s3 ?? defaultClient)({ ...opts, ...(region ? { region } : {}) });
  log(
    `stage-benchmarks: ${opts.dryRun ? 'dry run, ' : ''}${target}` +
      `${opts.kmsKeyId ? ` (SSE-KMS ${opts.kmsKeyId})` : ''}`,
  );
  const results = await stageObjects(
    client,
    {
      bucket: opts.bucket,
      prefix: opts.prefix,
      dryRun: opts.dryRun,
      ...(opts.kmsKeyId ? { kmsKeyId: opts.kmsKeyId } : {}),
    },
    objects,
    log,
  );
  const n = (action: string) => results.filter((r) => r.action === action).length;
  log(
    `stage-benchmarks: ${opts.dryRun ? `${n('would-upload')} to upload` : `${n('uploaded')} uploaded`}, ` +
      `${n('unchanged')} unchanged (${objects.length} objects)`,
  );
  if (opts.prefix !== DEFAULT_BENCHMARKS_PREFIX) {
    log(`stage-benchmarks: not the default prefix: set data.benchmarksS3Uri to ${target} in the deploy config`);
  }
  await stageTextSet(client, opts, general, GENERAL_TEXT_KIND, opts.generalText, date, log);
  await stageTextSet(client, opts, replay, GENERAL_REPLAY_KIND, opts.replay, date, log);
  log(`stage-benchmarks: for decontamination set data.decontamPmidsS3Uri to ${target}${DECONTAM_FILE}`);
  return 0;
}

/** Stages a validated text set (the general text or the replay sample; same idempotent upload as PubMedQA). */
async function stageTextSet(
  client: S3Client,
  opts: StageBenchmarksArgs,
  set: GeneralTextSet,
  kind: TextSetKind,
  to: StagedSet,
  date: string,
  log: (line: string) => void,
): Promise<void> {
  const { bucket, prefix } = to;
  const target = `s3://${bucket}/${prefix}`;
  const what = kind === GENERAL_TEXT_KIND ? 'general text' : 'general replay';
  const paragraphs = set.files.reduce((n, f) => n + f.paragraphs, 0);
  log(
    `stage-benchmarks: ${what} from ${set.dir}: ${set.files.length} files, ${paragraphs} paragraphs, ` +
      `license ${GENERAL_TEXT_LICENSE}`,
  );
  const objects = generalTextObjects(set, date, kind);
  const results = await stageObjects(
    client,
    { bucket, prefix, dryRun: opts.dryRun, ...(opts.kmsKeyId ? { kmsKeyId: opts.kmsKeyId } : {}) },
    objects,
    log,
  );
  const n = (action: string) => results.filter((r) => r.action === action).length;
  log(
    `stage-benchmarks: ${what} ${target}: ` +
      `${opts.dryRun ? `${n('would-upload')} to upload` : `${n('uploaded')} uploaded`}, ` +
      `${n('unchanged')} unchanged (${objects.length} objects)`,
  );
  if (kind === GENERAL_REPLAY_KIND) {
    log(`stage-benchmarks: to train with it, start an execution with --param ReplayDataUri=${target}`);
  } else if (prefix !== DEFAULT_GENERAL_TEXT_PREFIX || bucket !== opts.bucket) {
    log(`stage-benchmarks: not the default location: set data.generalTextS3Uri to ${target} in the deploy config`);
  }
}

/** The command with injected dependencies (tests: a moto client, a pinned date, a fake downloader). */
export function createStageBenchmarksCommand(deps: StageBenchmarksDeps = {}): CliCommand {
  return {
    name: 'stage-benchmarks',
    summary:
      'stage PubMedQA (with its license and the decontamination PMID list), the general-text set and a general replay sample into the data bucket',
    usage,
    options,
    run: (argv) => runStageBenchmarks(argv, deps),
  };
}

export const command: CliCommand = createStageBenchmarksCommand();
