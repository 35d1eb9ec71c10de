/**
 * Reviewer names: how they are displayed, compared and validated. A name is a label, not an identity (the
 * reviewer's secret token is, see tokens.ts), but two reviewers must never be able to pick names that look
 * the same, or one could pass for the other in the exports.
 */
import { MAX_NAME } from './limits.ts';

/** Display form: NFC, trimmed, runs of whitespace (any Unicode space) collapsed to one space. */
export function canonicalName(name: string): string {
  return name.normalize('NFC').trim().replace(/\s+/g, ' ');
}

/**
 * Comparison key: names with the same key are the same reviewer. NFKC first (full-width "Ａｌｉｃｅ" and the
 * Kelvin sign fold to ASCII), then upper- and lower-casing, which like Unicode full case folding maps "ß" and
 * "ẞ" to "ss" and final sigma to "σ" (plain toLowerCase, and SQLite's NOCASE, fold ASCII or single letters only).
 */
export function nameKey(name: string): string {
  return canonicalName(name).normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}

/**
 * Characters a name must not contain: controls, format characters (zero-width spaces and joiners, the bidi
 * embeddings, overrides and isolates, soft hyphen, BOM), other default-ignorable code points (invisible
 * fillers), private-use, unassigned and lone surrogate code points, and line or paragraph separators. With them
 * "Ada" and "Ada\u200b" look identical, and a right-to-left override can make a name display as another.
 */
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;

export type NameCheck =
  | { readonly ok: true; readonly name: string; readonly key: string }
  | { readonly ok: false; readonly reason: string };

/** Validates a reviewer name typed by a person; the reason is a sentence for them. */
export function checkName(raw: unknown): NameCheck {
  if (typeof raw !== 'string' || !raw.trim()) return { ok: false, reason: 'reviewer name is required' };
  const name = canonicalName(raw);
  if ([...name].length > MAX_NAME) return { ok: false, reason: `reviewer name must be at most ${MAX_NAME} characters` };
  // Checked before trimming (trim() silently drops a BOM); tabs and line breaks are only whitespace.
  const bad = FORBIDDEN.exec(raw.replace(/[\t\n\r]/g, ' '));
  if (bad) {
    const code = `U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    return {
      ok: false,
      reason: `reviewer name must not contain control, invisible or text-direction characters (found ${code})`,
    };
  }
  return { ok: true, name, key: nameKey(name) };
}
