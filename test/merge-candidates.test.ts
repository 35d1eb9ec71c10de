import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CandidateSpecError, parseCandidates } from '../pipeline-steps/merge-candidates.ts';

const table = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'merge-candidate-specs.json'), 'utf8'),
) as {
  accept: Record<string, string[]>;
  reject: Record<string, string>;
};

// containers/tests/test_merge_back.py runs the same table through Python's parse_candidates.
describe('MergeCandidates grammar (the same table as Python)', () => {
  test.each(Object.entries(table.accept))('accepts %j', (spec, names) => {
    expect(parseCandidates(spec).map((c) => c.name)).toEqual(names);
  });
  test.each(Object.entries(table.reject))('refuses %j', (spec, message) => {
    expect(() => parseCandidates(spec)).toThrow(CandidateSpecError);
    expect(() => parseCandidates(spec)).toThrow(message);
  });
});
