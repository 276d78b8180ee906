/**
 * @module
 * `GET /v1/functions/:name/stats` and `GET /v1/account/stats` (docs/api.md, "Observability"): counts per state over
 * every shard holding the tasks (purged tasks included), calls in flight, the AIMD window now, latency percentiles
 * per stage and throughput over the latency window, and a point per 10 s for the last hour. One RPC per shard; the
 * shards' sketches and histories are merged here (src/observability.ts).
 */

import { Hono } from "hono";
import { MAX_OBSERVED_FUNCTIONS, mergeShardStats } from "../../src/observability";
import { tierOf } from "../../src/placement";
import { requireFunction } from "./functions";
import type { GatewayEnv } from "./middleware";
import { observedByShard, shard, shardsOf, shardsOfAccount } from "./shards";

export const statsRoutes = new Hono<GatewayEnv>().get("/:name/stats", async (c) => {
  const fn = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
  const now = Date.now();
  const current = shard(c.env, fn.shard);
  const [perShard, fairnessLanes, accountShards] = await Promise.all([
    Promise.all(
      shardsOf(fn).map((name) =>
        shard(c.env, name).observeStats(fn.account, [{ name: fn.name, current: name === fn.shard }], now),
      ),
    ),
    current.fairnessLanes(fn.account, fn.name),
    shardsOfAccount(c.env, fn.account),
  ]);
  const accountInFlight = await Promise.all(
    accountShards.map((name) => shard(c.env, name).accountInFlight(fn.account)),
  );
  const merged = mergeShardStats(perShard, now);
  const limits = c.get("principal").limits;
  return c.json({
    counts: merged.counts,
    inFlight: merged.inFlight,
    queued: merged.queued,
    concurrencyLimit: merged.concurrencyLimit ?? fn.spec.maxConcurrency,
    maxConcurrency: fn.spec.maxConcurrency,
    placement: { tier: tierOf(fn.shard), shard: fn.shard, partitions: 1 },
    latencyMs: merged.latencyMs,
    latencyWindow: merged.latencyWindow,
    throughputPerMinute: merged.throughputPerMinute,
    history: merged.history,
    /** Fairness-key lanes with work waiting (tasks without a key share one lane). */
    fairnessLanes,
    /** The account's limits and how much of them is in use now (calls in flight over all its functions). */
    account: {
      inFlight: accountInFlight.reduce((a, b) => a + b, 0),
      maxConcurrency: limits.maxConcurrency ?? null,
      submitPerSecond: limits.submitPerSecond ?? null,
    },
  });
});

/** `GET /v1/account/stats`: the same figures over the account's functions (the first MAX_OBSERVED_FUNCTIONS by name). */
export const accountStatsRoutes = new Hono<GatewayEnv>().get("/stats", async (c) => {
  const principal = c.get("principal");
  const now = Date.now();
  const { functions, byShard, truncated } = await observedByShard(c.env, principal.account, MAX_OBSERVED_FUNCTIONS);
  const perShard = await Promise.all(
    [...byShard].map(([name, observed]) => shard(c.env, name).observeStats(principal.account, observed, now)),
  );
  const merged = mergeShardStats(perShard, now);
  return c.json({
    functions: functions.length,
    /** True when the account has more functions than one answer covers (the first ones by name are counted). */
    truncated,
    counts: merged.counts,
    inFlight: merged.inFlight,
    queued: merged.queued,
    concurrencyLimit: merged.concurrencyLimit ?? 0,
    maxConcurrency: functions.reduce((sum, fn) => sum + fn.spec.maxConcurrency, 0),
    latencyMs: merged.latencyMs,
    latencyWindow: merged.latencyWindow,
    throughputPerMinute: merged.throughputPerMinute,
    history: merged.history,
    limits: {
      maxConcurrency: principal.limits.maxConcurrency ?? null,
      submitPerSecond: principal.limits.submitPerSecond ?? null,
    },
  });
});
