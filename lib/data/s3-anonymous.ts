// S3 helpers for the data commands: an unsigned (anonymous) client for public buckets such as the PMC Cloud
// Service, GETs that verify an MD5 and retry with backoff, and a bounded-concurrency map.
import { createHash } from 'node:crypto';
import { GetObjectCommand, S3Client, type S3ClientConfig, type S3Client as S3ClientType } from '@aws-sdk/client-s3';

export interface S3Target {
  readonly region: string;
  /** Endpoint override (tests: a moto server); implies path-style addressing. */
  readonly endpoint?: string;
}

/**
 * An S3 client that sends unsigned requests, like `aws s3 --no-sign-request`. SDK v3 (3.1142) still resolves an
 * identity before it calls the signer, so a no-op signer alone fails with "Could not load credentials from any
 * providers" on a machine without AWS credentials: the client gets an empty static identity as well, which the
 * no-op signer never uses. Verified against moto: no Authorization header is sent.
 */
export function anonymousS3Client(target: S3Target): S3ClientType {
  const config: S3ClientConfig = {
    region: target.region,
    signer: { sign: async (request) => request },
    credentials: async () => ({ accessKeyId: '', secretAccessKey: '' }),
    // Our own loop retries (with checksum verification); the SDK's would multiply the attempts.
    maxAttempts: 1,
  };
  if (target.endpoint) {
    config.endpoint = target.endpoint;
    config.forcePathStyle = true;
  }
  return new S3Client(config);
}

/** Lower-case hex MD5 of bytes. */
export function md5Hex(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

/** Lower-case hex SHA-256 of bytes. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The MD5 an S3 ETag stands for: only single-part, non-KMS uploads have one (`"<32 hex>"`). */
export function etagMd5(etag: string | undefined): string | undefined {
  if (!etag) return undefined;
  const value = etag.replace(/"/g, '').toLowerCase();
  return /^[0-9a-f]{32}$/.test(value) ? value : undefined;
}

/** A GET whose bytes do not hash to the expected MD5. Retried, then reported. */
export class ChecksumMismatchError extends Error {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`md5 of ${key} is ${actual}, expected ${expected}`);
    this.name = 'ChecksumMismatchError';
  }
}

/** The HTTP status of an SDK error, when it has one. */
export function httpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return meta?.httpStatusCode;
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : '';
}

/** Missing object (404 / NoSuchKey). */
export function isNotFound(err: unknown): boolean {
  return httpStatus(err) === 404 || errorName(err) === 'NoSuchKey' || errorName(err) === 'NotFound';
}

/** Errors worth another attempt: throttling, 5xx, timeouts, resets, checksum mismatches. Not 4xx. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof ChecksumMismatchError) return true;
  const status = httpStatus(err);
  if (status !== undefined) return status === 429 || status >= 500;
  const name = errorName(err);
  if (/Throttl|SlowDown|RequestTimeout|TimeoutError/.test(name)) return true;
  // No HTTP response at all: a network error (ECONNRESET, socket hang up...).
  const code = (err as { code?: string } | null)?.code;
  return typeof code === 'string' || name === 'Error' || name === 'TypeError';
}

export interface RetryOptions {
  /** Total attempts (≥ 1). */
  readonly attempts: number;
  /** First backoff in ms; doubles each attempt (with jitter), capped at 20 s. */
  readonly baseDelayMs: number;
  /** Called before each retry (progress). */
  readonly onRetry?: (attempt: number, err: unknown) => void;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, baseDelayMs: 200 };

/** Runs `fn`, retrying retryable errors with exponential backoff and full jitter. */
export async function withRetries<T>(fn: () => Promise<T>, opts: RetryOptions = DEFAULT_RETRY): Promise<T> {
  const attempts = Math.max(1, Math.floor(opts.attempts));
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      // A checksum mismatch is retried once (a corrupted transfer); a second one is the object's real content.
      const limit = err instanceof ChecksumMismatchError ? Math.min(attempts, 2) : attempts;
      if (attempt >= limit || !isRetryable(err)) throw err;
      opts.onRetry?.(attempt, err);
      const cap = Math.min(20_000, opts.baseDelayMs * 2 ** (attempt - 1));
      await new Promise((r) => setTimeout(r, opts.baseDelayMs === 0 ? 0 : cap / 2 + Math.random() * (cap / 2)));
    }
  }
}

export interface FetchedObject {
  readonly bytes: Uint8Array;
  readonly etag: string | undefined;
  /** The MD5 the bytes were checked against (the expected one, else the ETag's), or undefined if unchecked. */
  readonly verifiedMd5: string | undefined;
}

/**
 * GETs an object, verifying its bytes against `expectedMd5` (or, without one, the ETag when it is a plain MD5).
 * Resolves to null when the object does not exist; throws on other errors after the retries.
 */
export async function getObjectVerified(
  client: S3ClientType,
  bucket: string,
  key: string,
  options: { expectedMd5?: string; retry?: RetryOptions } = {},
): Promise<FetchedObject | null> {
  try {
    return await withRetries(async () => {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!res.Body) throw new Error(`s3://${bucket}/${key}: empty response body`);
      const bytes = await res.Body.transformToByteArray();
      const expected = options.expectedMd5?.toLowerCase() ?? etagMd5(res.ETag);
      if (expected) {
        const actual = md5Hex(bytes);
        if (actual !== expected) throw new ChecksumMismatchError(`s3://${bucket}/${key}`, expected, actual);
      }
      return { bytes, etag: res.ETag, verifiedMd5: expected };
    }, options.retry ?? DEFAULT_RETRY);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** A short description of an SDK error for reports (name, HTTP status, message). */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const status = httpStatus(err);
  const message = err.message && err.message !== err.name ? `: ${err.message}` : '';
  return `${err.name}${status ? ` (HTTP ${status})` : ''}${message}`.slice(0, 300);
}

/** `Promise.all(items.map(fn))` with at most `concurrency` calls in flight; results keep the input order. */
export async function mapBounded<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}
