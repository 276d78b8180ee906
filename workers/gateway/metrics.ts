/**
 * @module
 * `GET /v1/metrics`: the key's account in the Prometheus text format (src/prometheus.ts). One RPC per shard holding
 * the account's functions (at most MAX_OBSERVED_FUNCTIONS of them, the first by name), each reading one totals row and
 * two index counts per function, so a scrape every 15 s costs little whatever the account's backlog or history.
 */

import { Hono } from "hono";
import { MAX_OBSERVED_FUNCTIONS, mergeMetrics } from "../../src/observability";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "../../src/prometheus";
import type { GatewayEnv } from "./middleware";
import { observedByShard, shard } from "./shards";

export const metricsRoutes = new Hono<GatewayEnv>().get("/", async (c) => {
  const account = c.get("principal").account;
  const { byShard, truncated } = await observedByShard(c.env, account, MAX_OBSERVED_FUNCTIONS);
  const perShard = await Promise.all(
    [...byShard].map(([name, observed]) => shard(c.env, name).observeMetrics(account, observed)),
  );
  let text = renderMetrics(mergeMetrics(perShard));
  // A comment line (allowed by the format) says the answer covers only the first functions.
  if (truncated) text = `# sluice: only the first ${MAX_OBSERVED_FUNCTIONS} functions by name are exported\n${text}`;
  return c.body(text, 200, { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" });
});
