/** Shard store settings for tests that build a ShardStore directly (small pool, quick AIMD). */
import type { ShardSettings } from "../../src/shard";

export const TEST_SHARD_SETTINGS: ShardSettings = {
  leaseGraceMs: 1000,
  invokers: 4,
  callsPerInvoker: 6,
  aimdDecreaseFactor: 0.7,
  aimdCooldownMs: 100,
  // Store-level tests of dispatch and isolation start with the whole window; slow start has its own tests.
  aimdInitialWindow: 10_000,
};
