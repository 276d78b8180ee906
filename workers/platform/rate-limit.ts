/**
 * @module
 * `limits.submitPerSecond` at the gateway: tokens leased from the account's limiter Durable Object
 * (durable-objects/account-limiter.ts) and spent in this isolate. A request that gets none answers 429 with
 * `Retry-After`, before anything is stored.
 */

import { limiterName } from "../../src/placement";
import { Problem, validationProblem } from "../../src/problem";
import type { AccountLimits } from "../../src/registry/store";

/** How long an isolate may spend a lease; what is left after that lapses (never overshoot, at most under-use). */
const LEASE_MS = 1_000;
/** A lease is a tenth of a second's worth of tokens, so a busy isolate asks about ten times a second. */
const LEASE_FRACTION = 0.1;

const leases = new Map<string, { tokens: number; expiresAt: number }>();

function limiter(env: Env, account: string) {
  return env.LIMITER.getByName(limiterName(account));
}

/** Spend `count` submissions of `account` (a batch counts each item), or throw the 429. */
export async function admitSubmissions(env: Env, account: string, limits: AccountLimits, count: number): Promise<void> {
  const rate = limits.submitPerSecond;
  if (rate === undefined) return;
  if (count > rate) {
    // The bucket holds one second's worth: a larger batch could never be admitted, so say so instead of a 429.
    throw validationProblem(
      [
        {
          path: "(body)",
          message: `${count} tasks exceed this account's submitPerSecond (${rate}); send smaller batches`,
        },
      ],
      "The batch is larger than the account's rate limit allows at once.",
    );
  }
  const now = Date.now();
  const local = leases.get(account);
  if (local && local.expiresAt > now && local.tokens >= count) {
    local.tokens -= count;
    return;
  }
  const want = Math.max(count, Math.ceil(rate * LEASE_FRACTION));
  const { granted, retryAfterMs } = await limiter(env, account).lease(rate, count, want);
  if (granted < count) {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    throw new Problem("rate-limited", `This account accepts ${rate} tasks per second; retry after ${seconds} s.`, {
      headers: { "retry-after": String(seconds) },
      extensions: { limit: rate },
    });
  }
  if (leases.size > 10_000) leases.clear();
  leases.set(account, { tokens: granted - count, expiresAt: now + LEASE_MS });
}
