/**
 * @module
 * One account's submission rate limit (`limits.submitPerSecond`), named `limiter:<account>`. Gateways do not call it
 * per request: each isolate leases a slice of tokens (a tenth of a second's worth, or what a batch needs) and spends
 * it locally, so the account's whole traffic costs about ten calls a second per busy isolate. The bucket is the only
 * authority, so isolates together never accept more than it grants; a lease an isolate does not use lapses.
 *
 * It also holds `limits.maxConcurrency` across shards: each shard with work of the account holds a grant of calls
 * (src/concurrency-grants.ts), asked for and renewed before its dispatch passes.
 */

import { DurableObject } from "cloudflare:workers";
import { type Grant, grantConcurrency } from "../src/concurrency-grants";
import { type Bucket, take } from "../src/token-bucket";

const BUCKET_KEY = "bucket";
const GRANTS_KEY = "concurrency-grants";

export class AccountLimiterDurableObject extends DurableObject<Env> {
  /** Take between `need` and `want` tokens from a bucket of `rate` per second (burst: one second's worth). */
  lease(rate: number, need: number, want: number): { granted: number; retryAfterMs: number } {
    const now = Date.now();
    const result = take(this.ctx.storage.kv.get<Bucket>(BUCKET_KEY), rate, rate, now, need, want);
    this.ctx.storage.kv.put(BUCKET_KEY, result.bucket);
    return { granted: result.granted, retryAfterMs: result.retryAfterMs };
  }

  /** Set `shard`'s share of the account's `maxConcurrency` (`limit`) to as much of `want` as is free. */
  acquireConcurrency(shard: string, want: number, limit: number, ttlMs: number): { granted: number } {
    const now = Date.now();
    const stored = this.ctx.storage.kv.get<Record<string, Grant>>(GRANTS_KEY) ?? {};
    const { granted, grants } = grantConcurrency(stored, shard, want, limit, now, ttlMs);
    this.ctx.storage.kv.put(GRANTS_KEY, grants);
    return { granted };
  }
}
