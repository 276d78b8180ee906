/**
 * @module
 * Retry timing. Exponential backoff with "equal jitter": half the delay is fixed so retries never bunch at zero,
 * half is random so many failing tasks do not retry in lockstep.
 */

export interface BackoffPolicy {
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

/**
 * Delay before the retry that follows failed attempt number `attempt` (1-based).
 * @example backoffDelayMs(3, { initialBackoffMs: 1000, maxBackoffMs: 60000 }, () => 0.5) // 3000
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(exponent, 40));
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}

/** Least wait before a retry, so `initialBackoffMs: 0` cannot turn a failing function into a hot loop. */
export const MIN_RETRY_DELAY_MS = 100;

/** Delay before retrying after failed attempt `attempt`: the function's backoff, never under MIN_RETRY_DELAY_MS. */
export function retryDelayMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  return Math.max(MIN_RETRY_DELAY_MS, backoffDelayMs(attempt, policy, random));
}

/** First wait after a throttled answer (429/503), doubled per consecutive throttle up to THROTTLE_MAX_DELAY_MS. */
export const THROTTLE_BASE_DELAY_MS = 100;
/** Persistent throttling settles at about one call per second per task. */
export const THROTTLE_MAX_DELAY_MS = 1_000;

/**
 * Delay before probing again after the `throttles`-th consecutive throttled answer (1-based): 100, 200, 400, 800 ms,
 * then about 1 s, each within ±25 % so throttled tasks do not come back in lockstep. A longer `Retry-After` wins.
 */
export function throttleDelayMs(throttles: number, random: () => number = Math.random): number {
  const ceiling = Math.min(
    THROTTLE_MAX_DELAY_MS,
    THROTTLE_BASE_DELAY_MS * 2 ** Math.min(Math.max(0, throttles - 1), 20),
  );
  return Math.round(ceiling * (0.75 + 0.5 * random()));
}

const HTTP_DATE =
  /^(?:[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT|[A-Za-z]+, \d{2}-[A-Za-z]{3}-\d{2} \d{2}:\d{2}:\d{2} GMT|[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4})$/;

/**
 * Parse a `Retry-After` header (delta seconds or an HTTP date) into milliseconds from `now`, or undefined.
 * Capped by `maxMs` so a function cannot park a task for a year.
 */
export function parseRetryAfterMs(header: string | null, now: number, maxMs: number): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed) * 1000, maxMs);
  // Only an HTTP-date (RFC 9110, e.g. "Sun, 06 Nov 1994 08:49:37 GMT"): Date.parse alone accepts junk like "1.5".
  if (!HTTP_DATE.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.min(Math.max(0, date - now), maxMs);
}
