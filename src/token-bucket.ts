/**
 * @module
 * A token bucket: `rate` tokens a second, holding at most `burst`. The account limiter Durable Object keeps one per
 * account and hands gateways leases of tokens, so the bucket, not any isolate, decides how many submissions an account
 * gets: isolates never overshoot it, they can only hold tokens they then do not use (for at most a lease's lifetime).
 */

export interface Bucket {
  readonly tokens: number;
  readonly updatedAt: number;
}

/** The bucket at `now`: refilled for the time since it was last touched, never above `burst`. */
export function refill(bucket: Bucket | undefined, rate: number, burst: number, now: number): Bucket {
  if (!bucket) return { tokens: burst, updatedAt: now };
  const elapsed = Math.max(0, now - bucket.updatedAt) / 1000;
  return { tokens: Math.min(burst, bucket.tokens + elapsed * rate), updatedAt: Math.max(now, bucket.updatedAt) };
}

/**
 * Take up to `want` whole tokens (at least `need` of them, or none). Returns what was granted, the bucket after, and
 * when `need` tokens will next be there (for `Retry-After`).
 */
export function take(
  bucket: Bucket | undefined,
  rate: number,
  burst: number,
  now: number,
  need: number,
  want: number,
): { granted: number; bucket: Bucket; retryAfterMs: number } {
  const current = refill(bucket, rate, burst, now);
  const available = Math.floor(current.tokens);
  if (available < need) {
    const missing = need - current.tokens;
    return { granted: 0, bucket: current, retryAfterMs: Math.ceil((missing / rate) * 1000) };
  }
  const granted = Math.min(available, Math.max(need, want));
  return { granted, bucket: { tokens: current.tokens - granted, updatedAt: current.updatedAt }, retryAfterMs: 0 };
}
