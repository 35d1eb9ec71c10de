import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { UsageError } from '../lib/cli/command.ts';
import { parseFetchSampleArgs, runFetchSample } from '../lib/cli/commands/fetch-sample.ts';
import {
  candidatesFromKeys,
  checkMetadata,
  decodeInventoryKey,
  type FetchReport,
  md5FromUrl,
  newestInventoryDate,
  normalizeLicense,
  parseCsvLine,
} from '../lib/data/pmc-cloud.ts';
import { anonymousS3Client, getObjectVerified, md5Hex } from '../lib/data/s3-anonymous.ts';
import { type MotoServer, startMoto } from './support/moto.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'pmc-cloud', 'bucket');
const BUCKET = 'pmc-oa-opendata';
const FAST = { attempts: 2, baseDelayMs: 0 };

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
}

describe('pmc-cloud helpers', () => {
  test('license codes normalize like medllama.ingest', () => {
    expect(normalizeLicense('CC BY')).toBe('CC BY');
    expect(normalizeLicense(' cc-by-4.0 ')).toBe('CC BY');
    expect(normalizeLicense('CC BY-ND-NC')).toBe('CC BY-NC-ND');
    expect(normalizeLicense('cc0')).toBe('CC0');
    expect(normalizeLicense('CC BY-SA')).toBe('CC BY-SA');
    expect(normalizeLicense('tdm')).toBe('TDM');
    expect(normalizeLicense('all rights reserved')).toBeNull();
    expect(normalizeLicense(null)).toBeNull();
  });

  test('md5 from xml_url, CSV lines, URL-encoded inventory keys', () => {
    expect(md5FromUrl('https://x/PMC1.1/PMC1.1.xml?md5=0123456789ABCDEF0123456789abcdef')).toBe(
      '0123456789abcdef0123456789abcdef',
    );
    expect(md5FromUrl('https://x/PMC1.1/PMC1.1.xml?md5=nothex')).toBeUndefined();
    expect(md5FromUrl(null)).toBeUndefined();
    expect(parseCsvLine('"b","k,1","say ""hi""",plain')).toEqual(['b', 'k,1', 'say "hi"', 'plain']);
    expect(decodeInventoryKey('metadata/a%2Bb+c.json')).toBe('metadata/a+b c.json');
  });

  test('one candidate per PMCID, highest version, numeric order; other keys ignored', () => {
    const c = candidatesFromKeys([
      'metadata/PMC10000007.1.json',
      'metadata/PMC9000001.2.json',
      'metadata/PMC9000001.1.json',
      'metadata/PMC9000001.2.json',
      'PMC9000003.1/PMC9000003.1.xml',
      'metadata/README.txt',
    ]);
    expect(c).toEqual([
      { pmcid: 'PMC9000001', version: 2, olderVersions: [1] },
      { pmcid: 'PMC10000007', version: 1, olderVersions: [] },
    ]);
  });

  test('metadata checks give the ingest reasons', () => {
    const f = { licenses: ['CC0', 'CC BY'], allowManuscripts: false, allowOcr: false };
    expect(checkMetadata({ license_code: 'CC BY' }, f)).toBeNull();
    expect(checkMetadata({ license_code: 'CC BY-NC' }, f)?.reason).toBe('license-not-allowed');
    expect(checkMetadata({ license_code: null }, f)?.reason).toBe('license-unknown');
    expect(checkMetadata({ license_code: 'CC0', is_retracted: true }, f)?.reason).toBe('retracted');
    expect(checkMetadata({ license_code: 'CC0', is_manuscript: true }, f)?.reason).toBe('manuscript');
    expect(checkMetadata({ license_code: 'CC0', is_manuscript: true }, { ...f, allowManuscripts: true })).toBeNull();
    expect(checkMetadata({ license_code: 'CC0', is_historical_ocr: true }, f)?.reason).toBe('ocr-scan');
    expect(checkMetadata({ license_code: 'CC0', is_pmc_openaccess: false }, f)?.reason).toBe('not-open-access');
  });

  test('argument validation', () => {
    expect(() => parseFetchSampleArgs([])).toThrow(UsageError);
    expect(() => parseFetchSampleArgs(['--count', '0'])).toThrow(/--count/);
    expect(() => parseFetchSampleArgs(['--count', '2', '--licenses', 'CC BY,bogus'])).toThrow(/bogus/);
    expect(() => parseFetchSampleArgs(['--count', '2', '--inventory-date', '2026-01-08'])).toThrow(/--inventory-date/);
    expect(() => parseFetchSampleArgs(['--count', '2', '--concurrency', '0'])).toThrow(/--concurrency/);
    const o = parseFetchSampleArgs(['--count', '3', '--licenses', 'cc-by, CC0 ,CC BY']);
    expect(o.filter.licenses).toEqual(['CC BY', 'CC0']);
    expect(o.bucket).toBe('pmc-oa-opendata');
    expect(o.region).toBe('us-east-1');
    expect(o.outDir.endsWith(join('data', 'pmc-sample'))).toBe(true);
    expect(o.concurrency).toBe(8);
  });
});

describe('fetch-sample against a moto PMC Cloud bucket', () => {
  let moto: MotoServer;
  let work: string;

  beforeAll(async () => {
    moto = await startMoto();
    work = mkdtempSync(join(tmpdir(), 'medllama-fetch-'));
    const admin = new S3Client(moto.clientConfig);
    await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
    for (const file of walk(FIXTURE)) {
      const key = relative(FIXTURE, file).split('\\').join('/');
      const body = readFileSync(file);
      await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ACL: 'public-read' }));
      const m = /^(PMC\d+\.\d+)\/\1\.json$/.exec(key);
      if (m) {
        await admin.send(
          new PutObjectCommand({ Bucket: BUCKET, Key: `metadata/${m[1]}.json`, Body: body, ACL: 'public-read' }),
        );
      }
    }
    // A private object: anonymous GETs must be refused, which shows the client really sends unsigned requests.
    await admin.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'private/secret.txt', Body: 'secret' }));
    admin.destroy();
  });

  afterAll(async () => {
    await moto?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function run(args: string[]): Promise<{ code: number; log: string[]; out: string }> {
    const out = join(work, `out-${Math.random().toString(36).slice(2)}`);
    const log: string[] = [];
    const code = await runFetchSample(['--endpoint', moto.endpoint, '--out', out, ...args], {
      log: (l) => log.push(l),
      retry: FAST,
    });
    return { code, log, out };
  }

  function report(out: string): FetchReport {
    return JSON.parse(readFileSync(join(out, 'fetch-report.json'), 'utf8')) as FetchReport;
  }

  test('the client is anonymous: public objects are readable, private ones are refused (403)', async () => {
    const client = anonymousS3Client({ region: 'us-east-1', endpoint: moto.endpoint });
    const pub = await getObjectVerified(client, BUCKET, 'PMC9000006.1/PMC9000006.1.json', { retry: FAST });
    expect(pub?.bytes.byteLength).toBeGreaterThan(0);
    const err = await getObjectVerified(client, BUCKET, 'private/secret.txt', { retry: FAST }).catch((e) => e);
    expect((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(403);
    expect(await getObjectVerified(client, BUCKET, 'metadata/PMC1.1.json', { retry: FAST })).toBeNull();
    expect(await newestInventoryDate(client, BUCKET)).toBe('2026-01-08T01-00Z');
    client.destroy();
  });

  test('asks for more than exist: every skip reason reported, the kept articles written, exit 1', async () => {
    const { code, log, out } = await run(['--count', '10']);
    expect(code).toBe(1);
    const r = report(out);
    expect(r.inventory_date).toBe('2026-01-08T01-00Z');
    expect(r.inventory_manifest).toBe('inventory-reports/pmc-oa-opendata/metadata/2026-01-08T01-00Z/manifest.json');
    expect(r.inventory_metadata_keys).toBe(9);
    expect(r.candidate_pmcids).toBe(8);
    expect(r.superseded_versions).toBe(1);
    expect(r.examined).toBe(8);
    expect(r.written).toBe(3);
    expect(r.complete).toBe(false);
    expect(r.licenses).toEqual(['CC0', 'CC BY', 'CC BY-SA']);
    expect(r.skipped).toEqual({
      'checksum-mismatch': 1,
      'license-not-allowed': 1,
      manuscript: 1,
      'metadata-missing': 1,
      retracted: 1,
    });
    expect(r.skipped_articles.map((s) => `${s.pmcid}.${s.version} ${s.reason}`)).toEqual([
      'PMC9000002.1 license-not-allowed',
      'PMC9000003.1 retracted',
      'PMC9000004.1 manuscript',
      'PMC9000005.1 checksum-mismatch',
      'PMC9000008.1 metadata-missing',
    ]);
    expect(r.articles.map((a) => `${a.pmcid}.${a.version} ${a.license_code}`)).toEqual([
      'PMC9000001.2 CC BY',
      'PMC9000006.1 CC BY-SA',
      'PMC10000007.1 CC0',
    ]);
    expect(r.articles[0]).toMatchObject({ pmid: '89000001', doi: '10.9999/medllama.pmc9000001', reused: false });

    // The local mirror: exactly the kept versions, XML and JSON byte-identical to the bucket's.
    expect(readdirSync(out).sort()).toEqual(['PMC10000007.1', 'PMC9000001.2', 'PMC9000006.1', 'fetch-report.json']);
    for (const id of ['PMC9000001.2', 'PMC9000006.1', 'PMC10000007.1']) {
      expect(readdirSync(join(out, id)).sort()).toEqual([`${id}.json`, `${id}.xml`]);
      for (const ext of ['xml', 'json']) {
        expect(readFileSync(join(out, id, `${id}.${ext}`))).toEqual(readFileSync(join(FIXTURE, id, `${id}.${ext}`)));
      }
      const meta = JSON.parse(readFileSync(join(out, id, `${id}.json`), 'utf8')) as { xml_url: string };
      expect(md5Hex(readFileSync(join(out, id, `${id}.xml`)))).toBe(md5FromUrl(meta.xml_url));
    }
    expect(existsSync(join(out, 'PMC9000005.1'))).toBe(false);
    expect(log.some((l) => l.includes('[1/10] PMC9000001.2 CC BY'))).toBe(true);
    expect(log.some((l) => l.includes('retry 1: ChecksumMismatchError'))).toBe(true);
    expect(log.some((l) => l.includes('only 3 of 10 articles passed the filters'))).toBe(true);
  });

  test('--count 2 takes the first PMCIDs in numeric order; a rerun reuses verified files and is identical', async () => {
    const first = await run(['--count', '2', '--concurrency', '1']);
    expect(first.code).toBe(0);
    const r = report(first.out);
    expect(r.complete).toBe(true);
    expect(r.articles.map((a) => `${a.pmcid}.${a.version}`)).toEqual(['PMC9000001.2', 'PMC9000006.1']);
    expect(r.examined).toBe(6);

    const log: string[] = [];
    const code = await runFetchSample(['--endpoint', moto.endpoint, '--out', first.out, '--count', '2'], {
      log: (l) => log.push(l),
      retry: FAST,
    });
    expect(code).toBe(0);
    const again = report(first.out);
    expect(again.reused).toBe(2);
    expect(again.articles.map((a) => a.reused)).toEqual([true, true]);
    expect(again.articles.map((a) => a.xml_md5)).toEqual(r.articles.map((a) => a.xml_md5));

    // A corrupted local copy is not trusted: it is downloaded again.
    const xml = join(first.out, 'PMC9000006.1', 'PMC9000006.1.xml');
    writeFileSync(xml, 'corrupted');
    await runFetchSample(['--endpoint', moto.endpoint, '--out', first.out, '--count', '2'], {
      log: () => {},
      retry: FAST,
    });
    expect(report(first.out).articles.map((a) => a.reused)).toEqual([true, false]);
    expect(readFileSync(xml)).toEqual(readFileSync(join(FIXTURE, 'PMC9000006.1', 'PMC9000006.1.xml')));
  });

  test('--allow-manuscripts keeps the manuscript; --licenses narrows; --inventory-date picks an older inventory', async () => {
    const manuscripts = await run(['--count', '4', '--allow-manuscripts']);
    expect(manuscripts.code).toBe(0);
    expect(report(manuscripts.out).articles.map((a) => a.pmcid)).toEqual([
      'PMC9000001',
      'PMC9000004',
      'PMC9000006',
      'PMC10000007',
    ]);

    const cc0 = await run(['--count', '1', '--licenses', 'CC0']);
    expect(cc0.code).toBe(0);
    const r = report(cc0.out);
    expect(r.articles.map((a) => a.pmcid)).toEqual(['PMC10000007']);
    expect(r.skipped).toEqual({ 'checksum-mismatch': 1, 'license-not-allowed': 5, 'metadata-missing': 1 });

    const older = await run(['--count', '5', '--inventory-date', '2026-01-07T01-00Z']);
    expect(older.code).toBe(1);
    const o = report(older.out);
    expect(o.inventory_date).toBe('2026-01-07T01-00Z');
    expect(o.articles.map((a) => a.pmcid)).toEqual(['PMC10000007']);

    await expect(run(['--count', '1', '--inventory-date', '2025-12-31T01-00Z'])).rejects.toThrow(/does not exist/);
  });
});
