/**
 * @module
 * When a gateway isolate asks the registry again for a function record it holds. A record lives for CACHE_TTL_MS
 * (10 s by default); a busy `auto` function's record is asked for again after BUSY_REFRESH_MS once the isolate has
 * used it BUSY_USES times since it loaded it. Automatic placement may move such a function at any moment (a surge is
 * promoted within a second, src/placement/review-timing.ts), and single submissions without an idempotency key are
 * minted for the shard the cached record names: without this a busy isolate would send them to the shard the flood
 * left for the rest of the TTL. The cost is bounded: at most one registry call per BUSY_REFRESH_MS per busy function
 * per isolate, as API keys already cost one per second (PRINCIPAL_TTL_MS).
 */

import type { FunctionRecord } from "./records";

export const BUSY_REFRESH_MS = 1_000;
export const BUSY_USES = 20;

export interface CachedRecord {
  readonly record: FunctionRecord | null;
  /** When this isolate loaded it (or took it from a shard's answer, or last failed to refresh it). */
  loadedAt: number;
  /** Submissions and reads that used it since. */
  uses: number;
}

/** Whether `cached` should be asked for again now although its TTL has not run out. */
export function refreshDue(cached: CachedRecord, now: number): boolean {
  if (cached.record?.spec.isolation !== "auto") return false;
  return cached.uses >= BUSY_USES && now - cached.loadedAt >= BUSY_REFRESH_MS;
}
