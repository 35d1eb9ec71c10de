/**
 * The grammar of merge-back candidate specs (`MergeCandidates`, medllama.merge_back's `--candidates`): the same rules
 * as `parse_candidates` / `Candidate.parse` in containers/medllama/merge_back/candidates.py, so a bad spec is refused
 * before any AWS call. test/merge-candidates.test.ts and containers/tests/test_merge_back.py run one shared table of
 * accepted and refused specs (fixtures/merge-candidate-specs.json) through both.
 */

/** Each method's parameters and their defaults (null: required). */
export const MERGE_METHODS: Readonly<Record<string, Readonly<Record<string, number | null>>>> = {
  tuned: {},
  linear: { t: null },
  slerp: { t: null },
  ties: { weight: null, density: 0.5 },
  dare_ties: { weight: null, density: 0.5 },
};

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export interface MergeCandidate {
  readonly method: string;
  readonly params: Readonly<Record<string, number>>;
  /** The folder name, as Python's `Candidate.name`: `slerp-t0.5`, `ties-weight0.5-density0.5`, `tuned`. */
  readonly name: string;
}

export class CandidateSpecError extends Error {}

/** Python's `f"{v:g}"` for the numbers a spec may hold (6 significant digits, no trailing zeros). */
function formatG(v: number): string {
  if (v === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(v)));
  if (exp < -4 || exp >= 6) {
    const [mant, e] = v.toExponential(5).split('e');
    const m = mant!.replace(/\.?0+$/, '');
    const n = Number(e);
    return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  return String(Number(v.toPrecision(6)));
}

const sorted = (keys: string[]) =>
  `[${[...keys]
    .sort()
    .map((k) => `'${k}'`)
    .join(', ')}]`;

/** One spec (`slerp:t=0.5`); throws CandidateSpecError naming the spec. */
export function parseCandidate(spec: string): MergeCandidate {
  const text = spec.trim();
  const colon = text.indexOf(':');
  const method = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? '' : text.slice(colon + 1);
  const q = `'${spec}'`;
  const allowed = MERGE_METHODS[method];
  if (!Object.hasOwn(MERGE_METHODS, method) || !allowed) {
    throw new CandidateSpecError(
      `candidate ${q}: unknown method '${method}', expected one of ${sorted(Object.keys(MERGE_METHODS))}`,
    );
  }
  const given: Record<string, number> = {};
  for (const part of rest.split(',').filter(Boolean)) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (!Object.hasOwn(allowed, key) || eq < 0) {
      const keys = Object.keys(allowed);
      throw new CandidateSpecError(
        `candidate ${q}: '${part}' is not key=value with a key of ${keys.length ? sorted(keys) : 'none'}`,
      );
    }
    if (!NUMBER.test(value.trim())) throw new CandidateSpecError(`candidate ${q}: ${key}='${value}' is not a number`);
    given[key] = Number(value);
  }
  const params: Record<string, number> = {};
  for (const [key, def] of Object.entries(allowed)) {
    if (given[key] === undefined && def === null) {
      throw new CandidateSpecError(`candidate ${q}: ${key} is required (e.g. ${method}:${key}=0.5)`);
    }
    const v = given[key] ?? (def as number);
    params[key] = v;
    if (!(v >= 0 && v <= 1) || (key === 'density' && v === 0)) {
      const interval = key === 'density' ? '(0, 1]' : '[0, 1]';
      throw new CandidateSpecError(`candidate ${q}: ${key}=${formatG(v)}, expected a number in ${interval}`);
    }
  }
  const name = [method, ...Object.entries(params).map(([k, v]) => `${k}${formatG(v)}`)].join('-');
  return { method, params, name };
}

/**
 * Every candidate of a `MergeCandidates` value, `tuned` first: specs separated by spaces or commas, a `key=value`
 * without a method continuing the spec before it. Throws CandidateSpecError naming the bad spec.
 */
export function parseCandidates(text: string): MergeCandidate[] {
  const specs: string[] = [];
  for (const token of text
    .trim()
    .split(/[\s,]+/)
    .filter(Boolean)) {
    if (!token.includes(':') && token.includes('=')) {
      const last = specs.at(-1);
      if (last === undefined || !last.includes(':')) {
        throw new CandidateSpecError(`'${token}' has no method before it (e.g. ties:weight=0.5,${token})`);
      }
      specs[specs.length - 1] = `${last},${token}`;
    } else {
      specs.push(token);
    }
  }
  const out: MergeCandidate[] = [{ method: 'tuned', params: {}, name: 'tuned' }];
  for (const spec of specs) {
    const c = parseCandidate(spec);
    if (c.method === 'tuned') continue;
    if (out.some((o) => o.name === c.name))
      throw new CandidateSpecError(`candidate '${spec}': ${c.name} is given twice`);
    out.push(c);
  }
  return out;
}
