/**
 * @module
 * `GET /v1/functions/:name/stats`, the minimal version: task counts per state over every shard holding the function's
 * tasks (purged tasks included), calls in flight, the AIMD window now, the placement, the fairness-key lanes with
 * work, and the account's limits with its calls in flight over all its shards. Latency percentiles, throughput and
 * history (docs/api.md, "Observability") are not built yet.
 */

import { Hono } from "hono";
import { tierOf } from "../../src/placement";
import { requireFunction } from "./functions";
import type { GatewayEnv } from "./middleware";
import { shard, shardsOf, shardsOfAccount } from "./shards";

export const statsRoutes = new Hono<GatewayEnv>().get("/:name/stats", async (c) => {
  const fn = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
  const perShard = await Promise.all(shardsOf(fn).map((name) => shard(c.env, name).countByState(fn.account, fn.name)));
  const counts: Record<string, number> = {};
  for (const part of perShard) for (const [state, n] of Object.entries(part)) counts[state] = (counts[state] ?? 0) + n;
  const current = shard(c.env, fn.shard);
  const [window, fairnessLanes, accountShards] = await Promise.all([
    current.concurrencyLimit(fn.account, fn.name),
    current.fairnessLanes(fn.account, fn.name),
    shardsOfAccount(c.env, fn.account),
  ]);
  const accountInFlight = await Promise.all(
    accountShards.map((name) => shard(c.env, name).accountInFlight(fn.account)),
  );
  const limits = c.get("principal").limits;
  return c.json({
    counts,
    inFlight: counts.running ?? 0,
    queued: counts.queued ?? 0,
    concurrencyLimit: window ?? fn.spec.maxConcurrency,
    maxConcurrency: fn.spec.maxConcurrency,
    placement: { tier: tierOf(fn.shard), shard: fn.shard, partitions: 1 },
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
