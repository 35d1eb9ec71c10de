/**
 * The blinding: which model is shown as "Answer A" for one (reviewer, item). Server-side only.
 *
 * The order is HMAC-SHA256(study seed, reviewer id, item id), first bit. The seed is 32 random bytes made when
 * the ratings database is created and kept only in it (never sent to a browser), so nobody without the file can
 * recompute the order, while a returning reviewer still sees the same order. An item the reviewer has already
 * judged keeps the order stored with the judgement (answer_a), whatever the seed.
 */
import { createHmac } from 'node:crypto';
import type { Model } from './db.ts';

export class Blinding {
  private readonly key: Buffer;

  constructor(seedHex: string) {
    if (!/^[0-9a-f]{64}$/.test(seedHex)) throw new Error('blinding seed must be 32 bytes of hex');
    this.key = Buffer.from(seedHex, 'hex');
  }

  /** The model shown as Answer A to this reviewer for this item. */
  answerA(reviewerId: number, itemId: string): Model {
    const mac = createHmac('sha256', this.key).update(`${reviewerId}\0${itemId}`).digest();
    return (mac[0] & 1) === 1 ? 'tuned' : 'base';
  }
}
