/** The blinding: which model is shown as "Answer A" for one (reviewer, item). Server-side only. */
import { createHash } from 'node:crypto';
import { canonicalName, type Model } from './db.ts';

/** Fixed salt of the seeded hash; changing it reshuffles every reviewer's A/B order. */
export const BLINDING_SEED = 'medllama-review-v1';

/**
 * Deterministic, roughly balanced per (reviewer, item): the first byte of
 * sha256(seed, lower-cased canonical reviewer name, item id) decides, so a returning reviewer sees the same order
 * and different reviewers see different orders.
 */
export function modelForAnswerA(reviewer: string, itemId: string): Model {
  const digest = createHash('sha256')
    .update(`${BLINDING_SEED}\0${canonicalName(reviewer).toLowerCase()}\0${itemId}`)
    .digest();
  return (digest[0] & 1) === 1 ? 'tuned' : 'base';
}
