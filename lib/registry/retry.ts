// Retries with exponential backoff and jitter for transient failures (connection reset, timeouts,
// 5xx, 408, 429 with Retry-After); anything else is thrown at once.
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryError } from './errors.js';
import { isTransientNetworkError } from './http.js';

export interface RetryOptions {
  /** Extra attempts after the first (default 4). */
  retries?: number;
  /** First backoff delay in ms (default 250), doubled each time. */
  retryDelayMs?: number;
  /** Longest backoff delay in ms (default 10 s); a longer Retry-After (up to 60 s) is still honoured. */
  maxRetryDelayMs?: number;
  /** Stops the waiting between attempts too. */
  signal?: AbortSignal;
}

const MAX_RETRY_AFTER_MS = 60_000;

/** Whether an error may go away if the same request is made again. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof RegistryError) return e.transient;
  return isTransientNetworkError(e);
}

/** The delay before attempt `n` (1-based retry count). */
export function backoffMs(n: number, e: unknown, opts: RetryOptions): number {
  const base = opts.retryDelayMs ?? 250;
  const max = opts.maxRetryDelayMs ?? 10_000;
  const exp = Math.min(max, base * 2 ** (n - 1));
  const jittered = exp / 2 + Math.random() * (exp / 2);
  const after = e instanceof RegistryError ? e.retryAfterMs : undefined;
  return after !== undefined ? Math.max(jittered, Math.min(after, MAX_RETRY_AFTER_MS)) : jittered;
}

/**
 * Runs `fn` until it succeeds, it throws something not retryable, or the retries are used up
 * (then the last error is thrown). `onRetry` hears about each failure that will be retried.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  opts: RetryOptions = {},
  onRetry?: (e: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  const retries = opts.retries ?? 4;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= retries || !isRetryable(e) || opts.signal?.aborted) throw e;
      if (e instanceof RegistryError && e.retryAfterMs !== undefined && e.retryAfterMs > MAX_RETRY_AFTER_MS) throw e;
      const delay = backoffMs(attempt + 1, e, opts);
      onRetry?.(e, attempt + 1, delay);
      await sleep(delay, undefined, opts.signal !== undefined ? { signal: opts.signal } : {});
    }
  }
}
