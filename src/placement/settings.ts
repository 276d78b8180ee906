/**
 * @module
 * The placement policy's settings (the `PLACEMENT_*` vars): what each one means, its default, and how a var's text
 * is parsed (nonsense falls back to that setting's default alone). The rules that use them are in policy.ts.
 */

export interface PlacementSettings {
  /** Queued tasks a function needs before backlog alone can promote it (PLACEMENT_PROMOTE_BACKLOG, default 1000). */
  readonly promoteBacklog: number;
  /** Arrivals/s a function needs before its rate alone can promote it (PLACEMENT_PROMOTE_RATE, default 50). */
  readonly promoteRatePerSec: number;
  /** How far above its shard-mates (× the largest other function's backlog/rate on the shard) (PLACEMENT_DOMINANCE, default 4). */
  readonly dominance: number;
  /** Share of the shard's calls in flight that failing/timing-out calls of one function may hold before it is promoted (PLACEMENT_FAILURE_SHARE, default 0.5). */
  readonly failureShare: number;
  /** Calls/s at which a shard counts as near its own limit (PLACEMENT_SHARD_CALLS_PER_SEC, default 300: a Durable Object serves about 1,000 requests/s and each call costs about 3). */
  readonly shardCallsPerSec: number;
  /** Idle time after which a dedicated/account placement is reclaimed (PLACEMENT_RECLAIM_IDLE_MS, default 600000). */
  readonly reclaimIdleMs: number;
  /** No second move of the same function within this time of its last move (PLACEMENT_MIN_DWELL_MS, default 120000). */
  readonly minDwellMs: number;
  /** Upper bound on partitions of one function (PLACEMENT_MAX_PARTITIONS, default 8). */
  readonly maxPartitions: number;
  /** Calls/s (or arrivals/s) one partition is sized for (PLACEMENT_PARTITION_RATE, default 200). */
  readonly partitionRatePerSec: number;
  /** Backlog one partition is sized for (PLACEMENT_PARTITION_BACKLOG, default 20000). */
  readonly partitionBacklog: number;
  /** Busy functions of one account on a shared shard that move the whole account to an account shard (PLACEMENT_ACCOUNT_FUNCTIONS, default 3). */
  readonly accountBusyFunctions: number;
}

export const DEFAULT_PLACEMENT: PlacementSettings = Object.freeze({
  promoteBacklog: 1_000,
  promoteRatePerSec: 50,
  dominance: 4,
  failureShare: 0.5,
  shardCallsPerSec: 300,
  reclaimIdleMs: 600_000,
  minDwellMs: 120_000,
  maxPartitions: 8,
  partitionRatePerSec: 200,
  partitionBacklog: 20_000,
  accountBusyFunctions: 3,
});

const VAR = {
  promoteBacklog: "PLACEMENT_PROMOTE_BACKLOG",
  promoteRatePerSec: "PLACEMENT_PROMOTE_RATE",
  dominance: "PLACEMENT_DOMINANCE",
  failureShare: "PLACEMENT_FAILURE_SHARE",
  shardCallsPerSec: "PLACEMENT_SHARD_CALLS_PER_SEC",
  reclaimIdleMs: "PLACEMENT_RECLAIM_IDLE_MS",
  minDwellMs: "PLACEMENT_MIN_DWELL_MS",
  maxPartitions: "PLACEMENT_MAX_PARTITIONS",
  partitionRatePerSec: "PLACEMENT_PARTITION_RATE",
  partitionBacklog: "PLACEMENT_PARTITION_BACKLOG",
  accountBusyFunctions: "PLACEMENT_ACCOUNT_FUNCTIONS",
} as const satisfies Record<keyof PlacementSettings, string>;

/** Settings that count things (tasks, functions, partitions, milliseconds) must be whole numbers. */
const WHOLE: ReadonlySet<keyof PlacementSettings> = new Set([
  "promoteBacklog",
  "reclaimIdleMs",
  "minDwellMs",
  "maxPartitions",
  "partitionBacklog",
  "accountBusyFunctions",
]);

function parseSetting(key: keyof PlacementSettings, text: string | undefined): number {
  const fallback = DEFAULT_PLACEMENT[key];
  if (text === undefined || text.trim() === "") return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) return fallback;
  if (WHOLE.has(key) && !Number.isInteger(n)) return fallback;
  // A share is a fraction of the shard's calls; dominance below 1 would promote a function smaller than its mates.
  if (key === "failureShare" && n > 1) return fallback;
  if (key === "dominance" && n < 1) return fallback;
  return n;
}

/**
 * Parse the PLACEMENT_* vars (strings, possibly undefined) into settings, defaults above; reject nonsense
 * (non-positive, NaN, a fraction where a count is meant, a failure share above 1, a dominance below 1) by falling
 * back to the default of that setting alone.
 * @example placementSettings({ PLACEMENT_RECLAIM_IDLE_MS: "2000" }).reclaimIdleMs // 2000
 */
export function placementSettings(vars: Record<string, string | undefined>): PlacementSettings {
  const out: Record<string, number> = {};
  for (const key of Object.keys(VAR) as (keyof PlacementSettings)[]) out[key] = parseSetting(key, vars[VAR[key]]);
  return Object.freeze(out as unknown as PlacementSettings);
}
