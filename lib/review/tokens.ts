/**
 * Secrets of the review app: reviewer tokens (a reviewer's identity), the per-server enrolment code and the
 * per-study blinding seed. Tokens are stored only as their SHA-256, so the database does not hold usable
 * credentials; they are 256-bit random, so a plain hash (no salt, no stretching) is enough.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 32 random bytes, base64url (43 characters). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of two secrets (compares their hashes, so lengths may differ). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** A random blinding seed: 32 bytes as hex. */
export function newBlindingSeed(): string {
  return randomBytes(32).toString('hex');
}
