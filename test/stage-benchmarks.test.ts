import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { UsageError } from '../lib/cli/command.ts';
import { parseStageBenchmarksArgs, runStageBenchmarks } from '../lib/cli/commands/stage-benchmarks.ts';
import { PUBMEDQA_SOURCES } from '../lib/data/benchmarks.ts';
import {
  countParagraphs,
  GENERAL_REPLAY_DIR,
  GENERAL_TEXT_DIR,
  loadGeneralReplay,
  loadGeneralText,
  sharedText,
} from '../lib/data/general-text.ts';
import { sha256Hex } from '../lib/data/s3-anonymous.ts';
import { type MotoServer, startMoto } from './support/moto.ts';
import { SHARED_DIR, sharedPath } from './support/shared.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'pubmedqa');
const SHARED = sharedPath(join('data', 'pubmedqa', 'ori_pqal.json'), 'the real-PubMedQA stage-benchmarks tests')
  ? join(SHARED_DIR, 'data', 'pubmedqa')
  : '';
const HAS_SHARED = SHARED !== '';
const BUCKET = 'medllama-data-stage';
const KEYS = ['LICENSE', 'SOURCE.md', 'ori_pqal.json', 'pqal_all_pmids.txt', 'test_ground_truth.json'];

describe('stage-benchmarks arguments', () => {
  test('--to and --bucket', () => {
    expect(parseStageBenchmarksArgs(['--to', 's3://b-1/x/y'])).toMatchObject({ bucket: 'b-1', prefix: 'x/y/' });
    expect(parseStageBenchmarksArgs(['--to', 's3://b-1'])).toMatchObject({ prefix: 'benchmarks/pubmedqa/' });
    expect(parseStageBenchmarksArgs(['--to', 's3://b-1/'])).toMatchObject({ prefix: 'benchmarks/pubmedqa/' });
    expect(parseStageBenchmarksArgs(['--bucket', 'b-1'])).toMatchObject({
      bucket: 'b-1',
      prefix: 'benchmarks/pubmedqa/',
    });
    expect(() => parseStageBenchmarksArgs([])).toThrow(UsageError);
    expect(() => parseStageBenchmarksArgs(['--bucket', 'b-1', '--to', 's3://b-1'])).toThrow(/exactly one/);
    expect(() => parseStageBenchmarksArgs(['--to', 'b-1/x'])).toThrow(/--to/);
    expect(() => parseStageBenchmarksArgs(['--to', 's3://Bad_Bucket/x'])).toThrow(/--to/);
    expect(() => parseStageBenchmarksArgs(['--to', 's3://b-1//x'])).toThrow(/empty path part/);
    expect(() => parseStageBenchmarksArgs(['--bucket', 'b-1', '--kms-key-id', ' '])).toThrow(/--kms-key-id/);
  });

  test('the general text goes to benchmarks/general-text/ of the same bucket unless --general-text-to says otherwise', () => {
    expect(parseStageBenchmarksArgs(['--to', 's3://b-1/x/y']).generalText).toEqual({
      bucket: 'b-1',
      prefix: 'benchmarks/general-text/',
    });
    expect(
      parseStageBenchmarksArgs(['--bucket', 'b-1', '--general-text-to', 's3://b-2/gt', '--general-text-from', 'd'])
        .generalText,
    ).toEqual({ bucket: 'b-2', prefix: 'gt/', from: 'd' });
    expect(() => parseStageBenchmarksArgs(['--bucket', 'b-1', '--general-text-to', 'gt/'])).toThrow(
      /--general-text-to: got "gt\/", expected s3:\/\/BUCKET\[\/PREFIX\]/,
    );
  });
});

describe('the general replay sample', () => {
  test('--replay-to defaults to replay/general/ of the PubMedQA bucket', () => {
    expect(parseStageBenchmarksArgs(['--bucket', 'b-1']).replay).toEqual({ bucket: 'b-1', prefix: 'replay/general/' });
    expect(
      parseStageBenchmarksArgs(['--bucket', 'b-1', '--replay-to', 's3://b-2/r', '--replay-from', 'd']).replay,
    ).toEqual({ bucket: 'b-2', prefix: 'r/', from: 'd' });
    expect(() => parseStageBenchmarksArgs(['--bucket', 'b-1', '--replay-to', 'r/'])).toThrow(/--replay-to: got "r\/"/);
  });

  test("the project's sample: licensed, and no 13-word run in common with the evaluation set", async () => {
    const [general, replay] = [await loadGeneralText(), await loadGeneralReplay()];
    expect(replay.dir).toBe(GENERAL_REPLAY_DIR);
    expect(replay.files.map((f) => f.name)).toHaveLength(6);
    expect(sharedText(general, replay)).toEqual([]);
    expect(readFileSync(join(GENERAL_REPLAY_DIR, 'README.md'), 'utf8')).toContain('**License**: Apache-2.0');
    const topics = (set: typeof general) => set.files.map((f) => f.name);
    expect(topics(replay).filter((n) => topics(general).includes(n))).toEqual([]);
  });
});

describe('the general-text set', () => {
  test("the project's set: 22 topic files of 4 paragraphs, counted as Evaluate counts documents", async () => {
    const set = await loadGeneralText();
    expect(set.dir).toBe(GENERAL_TEXT_DIR);
    expect(set.files).toHaveLength(22);
    expect(set.files.every((f) => f.paragraphs === 4)).toBe(true);
    expect(countParagraphs('a\n\n  \nb\r\n\r\nc\n')).toBe(3);
    expect(readFileSync(join(GENERAL_TEXT_DIR, 'README.md'), 'utf8')).toContain('**License**: Apache-2.0');
  });
});

describe('stage-benchmarks against a moto bucket', () => {
  let moto: MotoServer;
  let s3: S3Client;
  let work: string;

  beforeAll(async () => {
    moto = await startMoto();
    s3 = new S3Client(moto.clientConfig);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    work = mkdtempSync(join(tmpdir(), 'medllama-stage-'));
  });
  afterAll(async () => {
    s3?.destroy();
    await moto?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function stage(argv: string[], day = '2026-03-01', download?: (url: string) => Promise<Uint8Array>) {
    const log: string[] = [];
    const code = await runStageBenchmarks(argv, {
      s3: () => s3,
      log: (l) => log.push(l),
      now: () => new Date(`${day}T12:00:00Z`),
      ...(download ? { download } : {}),
    });
    return { code, log };
  }

  /** The log lines of one upload action for objects under `prefix` (`  put  s3://…/prefix/key (n bytes)`). */
  function lines(log: string[], action: 'put' | 'unchanged' | 'would put', prefix: string): string[] {
    return log.filter((l) => l.startsWith(`  ${action} `) && l.includes(`s3://${BUCKET}/${prefix}`));
  }

  async function keys(prefix: string): Promise<string[]> {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    return (res.Contents ?? []).map((o) => o.Key!.slice(prefix.length)).sort();
  }

  async function get(key: string): Promise<{ text: string; bytes: Uint8Array; contentType?: string }> {
    const res = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const bytes = await res.Body!.transformToByteArray();
    return { text: new TextDecoder().decode(bytes), bytes, contentType: res.ContentType };
  }

  function fixtureCopy(): string {
    const dir = mkdtempSync(join(work, 'pqa-'));
    cpSync(FIXTURE, dir, { recursive: true });
    return dir;
  }

  test('stages the fixture: keys, content, SOURCE.md, hash metadata; a rerun uploads nothing', async () => {
    const prefix = 'fixture/pubmedqa/';
    const first = await stage(['--to', `s3://${BUCKET}/fixture/pubmedqa`, '--from', FIXTURE, '--any-size']);
    expect(first.code).toBe(0);
    expect(await keys(prefix)).toEqual(KEYS);
    for (const name of ['ori_pqal.json', 'test_ground_truth.json', 'LICENSE', 'pqal_all_pmids.txt']) {
      expect(Buffer.from((await get(prefix + name)).bytes)).toEqual(readFileSync(join(FIXTURE, name)));
    }
    expect((await get(`${prefix}ori_pqal.json`)).contentType).toBe('application/json');
    expect((await get(`${prefix}pqal_all_pmids.txt`)).text).toBe('90000101\n90000102\n90000103\n');
    const source = (await get(`${prefix}SOURCE.md`)).text;
    expect(source).toContain(`- Origin: a local copy (${FIXTURE})`);
    expect(source).toContain('this copy differs from it');
    expect(source).toContain('- License: MIT (Copyright (c) 2026 The MedLlama project (authored test fixture))');
    expect(source).toContain('- Staged: 2026-03-01');
    expect(source).toContain('| ori_pqal.json | 3 labelled items (maybe 1 / no 1 / yes 1) |');
    expect(source).toContain('| test_ground_truth.json | official test split, 2 ids (maybe 1 / yes 1) |');
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${prefix}ori_pqal.json` }));
    expect(head.Metadata?.['content-sha256']).toBe(sha256Hex(readFileSync(join(FIXTURE, 'ori_pqal.json'))));
    expect(lines(first.log, 'put', prefix)).toHaveLength(5);
    expect(
      first.log.some((l) => l.includes('set data.benchmarksS3Uri to s3://medllama-data-stage/fixture/pubmedqa/')),
    ).toBe(true);
    expect(first.log.at(-1)).toBe(
      'stage-benchmarks: for decontamination set data.decontamPmidsS3Uri to ' +
        's3://medllama-data-stage/fixture/pubmedqa/pqal_all_pmids.txt',
    );

    // A later day: nothing changes, not even SOURCE.md's date.
    const again = await stage(
      ['--to', `s3://${BUCKET}/fixture/pubmedqa/`, '--from', FIXTURE, '--any-size'],
      '2026-04-02',
    );
    expect(again.code).toBe(0);
    expect(lines(again.log, 'unchanged', prefix)).toHaveLength(5);
    expect(again.log.some((l) => l.includes('0 uploaded, 5 unchanged'))).toBe(true);
    expect((await get(`${prefix}SOURCE.md`)).text).toContain('- Staged: 2026-03-01');
  });

  test('changed data: only the changed objects (and SOURCE.md) are uploaded again', async () => {
    const dir = fixtureCopy();
    const to = `s3://${BUCKET}/changing/`;
    expect((await stage(['--to', to, '--from', dir, '--any-size'])).code).toBe(0);
    writeFileSync(join(dir, 'test_ground_truth.json'), JSON.stringify({ '90000102': 'no' }));
    const second = await stage(['--to', to, '--from', dir, '--any-size'], '2026-05-05');
    const put = lines(second.log, 'put', 'changing/').map((l) => basename(l.split(' ').at(-3)!));
    expect(put).toEqual(['test_ground_truth.json', 'SOURCE.md']);
    expect((await get('changing/test_ground_truth.json')).text).toBe('{"90000102":"no"}');
    expect((await get('changing/SOURCE.md')).text).toContain('- Staged: 2026-05-05');
  });

  test('--bucket stages under benchmarks/pubmedqa/; --kms-key-id re-uploads with SSE-KMS, then is idempotent', async () => {
    expect((await stage(['--bucket', BUCKET, '--from', FIXTURE, '--any-size'])).code).toBe(0);
    expect(await keys('benchmarks/pubmedqa/')).toEqual(KEYS);
    const keyId = '1234abcd-12ab-34cd-56ef-1234567890ab';
    const kms = await stage(['--bucket', BUCKET, '--from', FIXTURE, '--any-size', '--kms-key-id', keyId]);
    expect(lines(kms.log, 'put', 'benchmarks/pubmedqa/')).toHaveLength(5);
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'benchmarks/pubmedqa/LICENSE' }));
    expect(head.ServerSideEncryption).toBe('aws:kms');
    const again = await stage(['--bucket', BUCKET, '--from', FIXTURE, '--any-size', '--kms-key-id', keyId]);
    expect(lines(again.log, 'unchanged', 'benchmarks/pubmedqa/')).toHaveLength(5);
  });

  test('stages the general-text set with SOURCE.md (license, paragraphs, sha256); idempotent', async () => {
    const to = `s3://${BUCKET}/gt-run/pubmedqa/`;
    const gt = 'gt-run/general-text/';
    const argv = ['--to', to, '--from', FIXTURE, '--any-size', '--general-text-to', `s3://${BUCKET}/${gt}`];
    const first = await stage(argv);
    expect(first.code).toBe(0);
    const names = (await loadGeneralText()).files.map((f) => f.name);
    expect(await keys(gt)).toEqual([...names, 'SOURCE.md'].sort());
    expect(lines(first.log, 'put', gt).at(-1)).toContain(`s3://${BUCKET}/${gt}SOURCE.md`); // SOURCE.md last
    expect(Buffer.from((await get(`${gt}tides.txt`)).bytes)).toEqual(readFileSync(join(GENERAL_TEXT_DIR, 'tides.txt')));
    const source = (await get(`${gt}SOURCE.md`)).text;
    expect(source).toContain('- Origin: fixtures/general-text in the MedLlama repository');
    expect(source).toContain("- License: Apache-2.0 (the MedLlama project's license)");
    expect(source).toContain('- Size: 22 files, 88 paragraphs');
    expect(source).toContain(`| tides.txt | 4 | ${sha256Hex(readFileSync(join(GENERAL_TEXT_DIR, 'tides.txt')))} |`);
    expect(first.log).toContain(
      `stage-benchmarks: not the default location: set data.generalTextS3Uri to s3://${BUCKET}/${gt} in the deploy config`,
    );
    const again = await stage(argv, '2026-06-01');
    expect(lines(again.log, 'unchanged', gt)).toHaveLength(23);
    expect((await get(`${gt}SOURCE.md`)).text).toContain('- Staged: 2026-03-01');
  });

  test('a general-text folder the regression cannot use is refused before anything is uploaded', async () => {
    const one = mkdtempSync(join(work, 'gt-one-'));
    writeFileSync(join(one, 'only.txt'), 'One topic.\n');
    const to = `s3://${BUCKET}/gt-refused/pubmedqa/`;
    const general = ['--general-text-to', `s3://${BUCKET}/gt-refused/general-text/`];
    await expect(
      stage(['--to', to, '--from', FIXTURE, '--any-size', '--general-text-from', one, ...general]),
    ).rejects.toThrow(/1 \.txt file\(s\), expected at least 2: the regression's CI resamples files/);
    writeFileSync(join(one, 'empty.txt'), ' \n\n');
    writeFileSync(join(one, 'latin1.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    await expect(
      stage(['--to', to, '--from', FIXTURE, '--any-size', '--general-text-from', one, ...general]),
    ).rejects.toThrow(/empty.txt: no text\n {2}latin1.txt: not UTF-8/);
    expect(await keys('gt-refused/')).toEqual([]);
  });

  test('stages the replay sample under replay/general/ with its SOURCE.md, and says how to use it', async () => {
    const to = `s3://${BUCKET}/rp-run/pubmedqa/`;
    const argv = ['--to', to, '--from', FIXTURE, '--any-size', '--replay-to', `s3://${BUCKET}/rp-run/replay/`];
    const first = await stage(argv);
    expect(first.code).toBe(0);
    const names = (await loadGeneralReplay()).files.map((f) => f.name);
    expect(await keys('rp-run/replay/')).toEqual([...names, 'SOURCE.md'].sort());
    const source = (await get('rp-run/replay/SOURCE.md')).text;
    expect(source).toContain('# General-domain replay sample');
    expect(source).toContain('- Origin: fixtures/general-replay in the MedLlama repository');
    expect(source).toContain("- License: Apache-2.0 (the MedLlama project's license)");
    expect(first.log).toContain(
      `stage-benchmarks: to train with it, start an execution with --param ReplayDataUri=s3://${BUCKET}/rp-run/replay/`,
    );
  });

  test('a replay set that shares text with the evaluation set is refused before anything is uploaded', async () => {
    const copy = mkdtempSync(join(work, 'rp-copy-'));
    const tides = readFileSync(join(GENERAL_TEXT_DIR, 'tides.txt'), 'utf8').split('\n\n')[1]!;
    writeFileSync(join(copy, 'mixed.txt'), `Some words of our own about kites.\n\n${tides}\n`);
    const to = `s3://${BUCKET}/rp-refused/pubmedqa/`;
    await expect(
      stage([
        '--to',
        to,
        '--from',
        FIXTURE,
        '--any-size',
        '--replay-from',
        copy,
        '--replay-to',
        `s3://${BUCKET}/rp-refused/r/`,
      ]),
    ).rejects.toThrow(
      /--replay-from .*: shares text with the general-text evaluation set[\s\S]*mixed.txt ~ tides.txt: "/,
    );
    expect(await keys('rp-refused/')).toEqual([]);
  });

  test('--dry-run validates and uploads nothing', async () => {
    const dry = await stage(['--to', `s3://${BUCKET}/dry/`, '--from', FIXTURE, '--any-size', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(lines(dry.log, 'would put', 'dry/')).toHaveLength(5);
    expect(await keys('dry/')).toEqual([]);
  });

  test('invalid inputs are refused before anything is uploaded', async () => {
    const to = `s3://${BUCKET}/refused/`;
    // The 1000 / 500 check applies unless --any-size.
    await expect(stage(['--to', to, '--from', FIXTURE])).rejects.toThrow(
      /ori_pqal.json: 3 items, expected 1000[\s\S]*test_ground_truth.json: 2 ids, expected 500/,
    );
    const badLabel = fixtureCopy();
    writeFileSync(join(badLabel, 'test_ground_truth.json'), JSON.stringify({ '90000101': 'perhaps' }));
    await expect(stage(['--to', to, '--from', badLabel, '--any-size'])).rejects.toThrow(
      /90000101 is "perhaps", ori_pqal.json says yes/,
    );
    const unknownId = fixtureCopy();
    writeFileSync(join(unknownId, 'test_ground_truth.json'), JSON.stringify({ '123': 'no' }));
    await expect(stage(['--to', to, '--from', unknownId, '--any-size'])).rejects.toThrow(/123 is not in ori_pqal.json/);
    const noDecision = fixtureCopy();
    const ori = JSON.parse(readFileSync(join(noDecision, 'ori_pqal.json'), 'utf8')) as Record<string, object>;
    ori['90000102'] = { ...ori['90000102'], final_decision: 'unsure' };
    writeFileSync(join(noDecision, 'ori_pqal.json'), JSON.stringify(ori));
    await expect(stage(['--to', to, '--from', noDecision, '--any-size'])).rejects.toThrow(/final_decision "unsure"/);
    const notJson = fixtureCopy();
    writeFileSync(join(notJson, 'ori_pqal.json'), '{"90000101": ');
    await expect(stage(['--to', to, '--from', notJson, '--any-size'])).rejects.toThrow(/ori_pqal.json: not valid/);
    const noLicense = fixtureCopy();
    unlinkSync(join(noLicense, 'LICENSE'));
    await expect(stage(['--to', to, '--from', noLicense, '--any-size'])).rejects.toThrow(/LICENSE missing/);
    const otherLicense = fixtureCopy();
    writeFileSync(join(otherLicense, 'LICENSE'), 'All rights reserved.\n');
    await expect(stage(['--to', to, '--from', otherLicense, '--any-size'])).rejects.toThrow(/not the MIT license/);
    const staleList = fixtureCopy();
    writeFileSync(join(staleList, 'pqal_all_pmids.txt'), '90000101\n');
    await expect(stage(['--to', to, '--from', staleList, '--any-size'])).rejects.toThrow(
      /pqal_all_pmids.txt: differs from the sorted keys/,
    );
    expect(await keys('refused/')).toEqual([]);
  });

  test('default source: the pinned GitHub raw URLs, sha256-checked; offline it points at --from', async () => {
    const urls: string[] = [];
    const wrongBytes = async (url: string) => {
      urls.push(url);
      return readFileSync(join(FIXTURE, basename(url)));
    };
    await expect(stage(['--to', `s3://${BUCKET}/github/`, '--any-size'], undefined, wrongBytes)).rejects.toThrow(
      /ori_pqal.json: sha256 [0-9a-f]{64}, expected 8b3276be/,
    );
    expect(urls).toEqual([
      'https://raw.githubusercontent.com/pubmedqa/pubmedqa/1cbae8e92f72f20c8d3747cbb3bf5bc53554d997/data/ori_pqal.json',
    ]);
    const offline = async () => {
      throw new TypeError('fetch failed');
    };
    await expect(stage(['--to', `s3://${BUCKET}/github/`], undefined, offline)).rejects.toThrow(
      /could not download https:\/\/raw.githubusercontent.com\/.*without internet use --from DIR/,
    );
    expect(await keys('github/')).toEqual([]);
  });

  test.skipIf(!HAS_SHARED)('the real PubMedQA (../shared/data/pubmedqa): 1000 items, 500 test ids', async () => {
    const prefix = 'real/pubmedqa/';
    const res = await stage(['--to', `s3://${BUCKET}/${prefix}`, '--from', SHARED]);
    expect(res.code).toBe(0);
    expect(res.log).toContain(
      'stage-benchmarks: valid: 1000 items, 500 test ids, license MIT (Copyright (c) 2019 pubmedqa)',
    );
    expect(await keys(prefix)).toEqual(KEYS);
    const ori = JSON.parse((await get(`${prefix}ori_pqal.json`)).text) as Record<string, unknown>;
    const truth = JSON.parse((await get(`${prefix}test_ground_truth.json`)).text) as Record<string, string>;
    expect(Object.keys(ori)).toHaveLength(1000);
    expect(Object.keys(truth)).toHaveLength(500);
    // The derived decontamination list is byte-identical to the one shipped beside the copy.
    expect(Buffer.from((await get(`${prefix}pqal_all_pmids.txt`)).bytes)).toEqual(
      readFileSync(join(SHARED, 'pqal_all_pmids.txt')),
    );
    const source = (await get(`${prefix}SOURCE.md`)).text;
    expect(source).toContain('this copy is byte-identical to it');
    expect(source).toContain('| ori_pqal.json | 1000 labelled items (maybe 110 / no 338 / yes 552) |');
  });

  test.skipIf(!HAS_SHARED)(
    'the default source path end to end, with a downloader serving the shared copy',
    async () => {
      const download = async (url: string) => {
        const name = Object.entries(PUBMEDQA_SOURCES).find(([, s]) => s.url === url)?.[0];
        if (!name) throw new Error(`unexpected URL ${url}`);
        return readFileSync(join(SHARED, name));
      };
      const res = await stage(['--to', `s3://${BUCKET}/from-github/`], '2026-03-01', download);
      expect(res.code).toBe(0);
      const source = (await get('from-github/SOURCE.md')).text;
      expect(source).toContain(
        '- Origin: https://github.com/pubmedqa/pubmedqa at commit 1cbae8e92f72f20c8d3747cbb3bf5bc53554d997',
      );
      expect(source).toContain(`  - LICENSE: ${PUBMEDQA_SOURCES.LICENSE.url}`);
      expect(await keys('from-github/')).toEqual(KEYS);
    },
  );
});
