/**
 * @module
 * `GET /v1/functions/:name/stats`, the minimal version: task counts per state over every shard holding the function's
 * tasks (purged tasks included), calls in flight, the AIMD window now, and the placement. Latency percentiles,
 * throughput and history (docs/api.md, "Observability") are not built yet.
 */

import { Hono } from "hono";
import { tierOf } from "../../src/placement";
import { requireFunction } from "./functions";
import type { GatewayEnv } from "./middleware";
import { shard, shardsOf } from "./shards";

export const statsRoutes = new Hono<GatewayEnv>().get("/:name/stats", async (c) => {
  const fn = await requireFunction(c.env, c.get("principal").account, c.req.param("name"));
  const perShard = await Promise.all(shardsOf(fn).map((name) => shard(c.env, name).countByState(fn.account, fn.name)));
  const counts: Record<string, number> = {};
  for (const part of perShard) for (const [state, n] of Object.entries(part)) counts[state] = (counts[state] ?? 0) + n;
  const window = await shard(c.env, fn.shard).concurrencyLimit(fn.account, fn.name);
  return c.json({
    counts,
    inFlight: counts.running ?? 0,
    queued: counts.queued ?? 0,
    concurrencyLimit: window ?? fn.spec.maxConcurrency,
    maxConcurrency: fn.spec.maxConcurrency,
    placement: { tier: tierOf(fn.shard), shard: fn.shard, partitions: 1 },
  });
});
