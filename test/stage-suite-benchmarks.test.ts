import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseStageBenchmarksArgs, runStageBenchmarks } from '../lib/cli/commands/stage-benchmarks.ts';
import {
  loadSuiteFromDir,
  loadSuiteFromHub,
  PAGE,
  revisionUrl,
  SUITE_SOURCES,
  suiteObjects,
  validateSuite,
} from '../lib/data/suite-benchmarks.ts';

const ROOT = join(import.meta.dirname, '..');
const MINI = join(ROOT, 'fixtures', 'benchmarks-mini');

/** A Python tuple of strings assigned to `name` in `file` (the suite's subject lists live in medllama.evaluate). */
function pythonTuple(file: string, name: string): string[] {
  const text = readFileSync(join(ROOT, 'containers', 'medllama', 'evaluate', file), 'utf8');
  const m = new RegExp(`^${name} = \\(([^)]*)\\)`, 'm').exec(text);
  if (!m) throw new Error(`${name} not found in ${file}`);
  return [...m[1]!.matchAll(/"([^"]+)"/g)].map((x) => x[1]!);
}

describe('the benchmark suite sources', () => {
  test('cover exactly the files Evaluate reads: every task but PubMedQA, the MMLU subjects of medllama.evaluate.mmlu', () => {
    const medical = pythonTuple('mmlu.py', 'MEDICAL_SUBJECTS');
    const general = pythonTuple('mmlu.py', 'GENERAL_SUBJECTS');
    expect(medical).toHaveLength(6);
    expect(general).toHaveLength(5);
    const mmlu = SUITE_SOURCES.filter((s) => s.dataset === 'cais/mmlu');
    expect(mmlu.map((s) => s.config)).toEqual([...medical, ...general]);
    expect(mmlu.filter((s) => s.task === 'mmlu_general').map((s) => s.config)).toEqual(general);
    expect(new Set(SUITE_SOURCES.map((s) => s.task))).toEqual(
      new Set([
        'medqa',
        'medmcqa',
        ...medical.map((s) => `mmlu_${s}`),
        'mmlu_general',
        'arc_challenge',
        'hellaswag',
        'winogrande',
      ]),
    );
    for (const s of SUITE_SOURCES) expect(s.license, s.folder).not.toBe('');
  });

  test('the fixture folder has the staged layout and the fields; its sizes are not the real splits', async () => {
    const files = await loadSuiteFromDir(MINI);
    expect(files.map((f) => `${f.source.folder}/${f.source.file}`)).toContain('mmlu/anatomy/test.jsonl');
    expect(() =>
      validateSuite(
        files.filter((f) => f.source.task !== 'medqa'),
        true,
      ),
    ).not.toThrow();
    // the fixture's MedQA has the original fields (options/answer_idx), the staged file the harness' (sent1/ending*)
    expect(() => validateSuite(files, true)).toThrow(/medqa\/test.jsonl: record 1 lacks one of sent1/);
    expect(() => validateSuite(files, false)).toThrow(/arc_challenge\/test.jsonl: 5 records, expected 1172/);
  });
});

/** A fake Hub: `rows` rows per split (205 for anatomy, to cross a page), each with the source's fields. */
function fakeHub(opts: { truncate?: boolean } = {}) {
  const calls: string[] = [];
  const rowsOf = (config: string) => (config === 'anatomy' ? 2 * PAGE + 5 : 3);
  const download = async (url: string): Promise<Uint8Array> => {
    calls.push(url);
    const enc = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
    if (url.startsWith('https://huggingface.co/api/datasets/')) return enc({ sha: `sha-of-${url.split('/').pop()}` });
    const q = new URL(url).searchParams;
    const src = SUITE_SOURCES.find((s) => s.dataset === q.get('dataset') && s.config === q.get('config'))!;
    const total = rowsOf(src.config);
    const offset = Number(q.get('offset'));
    const rows = [];
    for (let i = offset; i < Math.min(total, offset + Number(q.get('length'))); i++) {
      const row = Object.fromEntries(src.fields.map((f) => [f, `${f}-${i}`]));
      rows.push({ row_idx: i, row, truncated_cells: opts.truncate && i === 1 ? ['question'] : [] });
    }
    return enc({ features: [], rows, num_rows_total: total, num_rows_per_page: PAGE, partial: false });
  };
  return { download, calls };
}

describe('staging the suite from the Hub', () => {
  test('reads every split page by page in row order and records the revision and license', async () => {
    const hub = fakeHub();
    const files = await loadSuiteFromHub(hub.download, () => {});
    const anatomy = files.find((f) => f.source.config === 'anatomy')!;
    expect(anatomy.records).toHaveLength(205);
    expect(anatomy.records.map((r) => r.question)).toEqual(Array.from({ length: 205 }, (_, i) => `question-${i}`));
    expect(hub.calls.filter((u) => u.includes('config=anatomy'))).toHaveLength(3);
    expect(hub.calls.filter((u) => u === revisionUrl('cais/mmlu'))).toHaveLength(1); // once per dataset
    expect(() => validateSuite(files, false)).toThrow(/expected 135/);
    expect(() => validateSuite(files, true)).not.toThrow();
    const objects = suiteObjects(files, '2026-03-01');
    expect(objects.map((o) => o.name)).toContain('mmlu/anatomy/test.jsonl');
    expect(objects.map((o) => o.name)).toContain('winogrande/SOURCE.md');
    const jsonl = objects.find((o) => o.name === 'mmlu/anatomy/test.jsonl')!;
    expect(new TextDecoder().decode(jsonl.body).split('\n')[0]).toBe(JSON.stringify(anatomy.records[0]));
    const source = new TextDecoder().decode(objects.find((o) => o.name === 'arc_challenge/SOURCE.md')!.body);
    expect(source).toContain('allenai/ai2_arc at revision sha-of-ai2_arc');
    expect(source).toContain('License: CC-BY-SA-4.0');
    // the staging date is not part of the content hash: a rerun another day uploads nothing new
    const again = suiteObjects(files, '2026-04-02');
    expect(again.map((o) => o.contentSha256)).toEqual(objects.map((o) => o.contentSha256));
  });

  test('a page with truncated cells is refused', async () => {
    await expect(loadSuiteFromHub(fakeHub({ truncate: true }).download, () => {})).rejects.toThrow(
      /row 1 has truncated cells/,
    );
  });

  test('--suite and --suite-from', async () => {
    expect(parseStageBenchmarksArgs(['--bucket', 'b-1', '--suite']).suite).toEqual({ from: 'hub' });
    expect(parseStageBenchmarksArgs(['--bucket', 'b-1', '--suite-from', 'd']).suite).toEqual({ from: 'dir', dir: 'd' });
    expect(parseStageBenchmarksArgs(['--bucket', 'b-1']).suite).toBeUndefined();
    expect(() => parseStageBenchmarksArgs(['--bucket', 'b-1', '--suite', '--suite-from', 'd'])).toThrow(/not both/);
  });

  test('the command stages the suite beside PubMedQA under the benchmarks prefix', async () => {
    const put: string[] = [];
    const s3 = {
      send: async (cmd: { constructor: { name: string }; input: { Key: string } }) => {
        if (cmd.constructor.name === 'HeadObjectCommand') {
          throw Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
        }
        put.push(cmd.input.Key);
        return {};
      },
    };
    const code = await runStageBenchmarks(
      [
        '--bucket',
        'b-1',
        '--from',
        join(import.meta.dirname, 'fixtures', 'pubmedqa'),
        '--any-size',
        '--suite',
        '--region',
        'eu-west-1',
      ],
      {
        // biome-ignore lint/suspicious/noExplicitAny: a minimal S3 double
        s3: () => s3 as any,
        log: () => {},
        download: fakeHub().download,
        now: () => new Date('2026-03-01T00:00:00Z'),
      },
    );
    expect(code).toBe(0);
    expect(put).toContain('benchmarks/pubmedqa/ori_pqal.json');
    expect(put).toContain('benchmarks/pubmedqa/mmlu/philosophy/test.jsonl');
    expect(put).toContain('benchmarks/pubmedqa/hellaswag/SOURCE.md');
  });
});
