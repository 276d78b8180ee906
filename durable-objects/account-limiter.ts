/**
 * @module
 * One account's submission rate limit (`limits.submitPerSecond`), named `limiter:<account>`. Gateways do not call it
 * per request: each isolate leases a slice of tokens (a tenth of a second's worth, or what a batch needs) and spends
 * it locally, so the account's whole traffic costs about ten calls a second per busy isolate. The bucket is the only
 * authority, so isolates together never accept more than it grants; a lease an isolate does not use lapses.
 */

import { DurableObject } from "cloudflare:workers";
import { type Bucket, take } from "../src/token-bucket";

const BUCKET_KEY = "bucket";

export class AccountLimiterDurableObject extends DurableObject<Env> {
  /** Take between `need` and `want` tokens from a bucket of `rate` per second (burst: one second's worth). */
  lease(rate: number, need: number, want: number): { granted: number; retryAfterMs: number } {
    const now = Date.now();
    const result = take(this.ctx.storage.kv.get<Bucket>(BUCKET_KEY), rate, rate, now, need, want);
    this.ctx.storage.kv.put(BUCKET_KEY, result.bucket);
    return { granted: result.granted, retryAfterMs: result.retryAfterMs };
  }
}
