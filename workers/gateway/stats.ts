/**
 * @module
 * `GET /v1/functions/:name/stats` and `GET /v1/account/stats` (docs/api.md, "Observability"): counts per state over
 * every shard holding the tasks (purged tasks included), calls in flight, the AIMD window now, latency percentiles
 * per stage and throughput over the latency window, and a point per 10 s for the last hour. One RPC per shard; the
 * shards' sketches and histories are merged here (src/observability.ts).
 */

import { Hono } from "hono";
import { HISTORY_STEP_MS, MAX_OBSERVED_FUNCTIONS, mergeShardStats } from "../../src/observability";
import { currentShards } from "../../src/placement";
import { placementOf } from "../../src/placement-moves";
import { requireFunction } from "./functions";
import type { GatewayEnv } from "./middleware";
import { observedByShard, shard, shardsOf, shardsOfAccount } from "./shards";

export const statsRoutes = new Hono<GatewayEnv>().get("/:name/stats", async (c) => {
  const fn = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
  const now = Date.now();
  const partitions = currentShards(fn);
  const [perShard, fairnessLanes, accountShards] = await Promise.all([
    Promise.all(
      shardsOf(fn).map((name) =>
        shard(c.env, name).observeStats(fn.account, [{ name: fn.name, current: partitions.includes(name) }], now),
      ),
    ),
    Promise.all(partitions.map((name) => shard(c.env, name).fairnessLanes(fn.account, fn.name))),
    shardsOfAccount(c.env, fn.account),
  ]);
  const accountInFlight = await Promise.all(
    accountShards.map((name) => shard(c.env, name).accountInFlight(fn.account)),
  );
  const merged = mergeShardStats(perShard, now);
  const limits = c.get("principal").limits;
  const placement = placementOf(fn);
  // A point of the history whose 10 s covers a move names it (`move`: the move's reason).
  const moves = placement.log.map((m) => ({ ...m, slot: Math.floor(m.at / HISTORY_STEP_MS) * HISTORY_STEP_MS }));
  const history = merged.history.map((point) => {
    const move = moves.findLast((m) => m.slot === Date.parse(point.t));
    return move ? { ...point, move: { reason: move.reason, from: move.from, to: move.to } } : point;
  });
  return c.json({
    counts: merged.counts,
    inFlight: merged.inFlight,
    queued: merged.queued,
    concurrencyLimit: merged.concurrencyLimit ?? fn.spec.maxConcurrency,
    maxConcurrency: fn.spec.maxConcurrency,
    placement: {
      tier: placement.tier,
      shard: fn.shard,
      partitions: placement.partitions,
      since: new Date(placement.since).toISOString(),
      reason: placement.reason,
      moves: placement.moves,
      /** Shards it left still hold work: all of its shards split maxConcurrency with them. */
      draining: placement.draining ?? false,
      recentMoves: placement.log.map((m) => ({ ...m, at: new Date(m.at).toISOString() })),
    },
    latencyMs: merged.latencyMs,
    latencyWindow: merged.latencyWindow,
    throughputPerMinute: merged.throughputPerMinute,
    history,
    /** Fairness-key lanes with work waiting (tasks without a key share one lane), over the function's partitions. */
    fairnessLanes: fairnessLanes.reduce((a, b) => a + b, 0),
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
