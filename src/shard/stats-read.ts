/**
 * @module
 * Stats and Prometheus figures read back from what observations.ts records: per function, or an account's functions
 * on this shard summed (src/observability.ts merges shards). Buffered finishes are written first, so a read sees them.
 */

import { mergeInto, parseSketch, serializeSketch } from "../latency-sketch";
import {
  emptyStageSketches,
  type FunctionMetrics,
  fillHistory,
  type HistoryPoint,
  historyStart,
  latencyWindowStart,
  type ShardStats,
  STAGES,
  sumHistories,
} from "../observability";
import type { Sql } from "../sql";
import { INT_PARAM } from "../sql";
import type { ShardContext } from "./context";
import { concurrencyLimit } from "./governor";
import { countByState } from "./listing";
import { flushFinishes, queuedOf, readTotals, STAGE_FIELDS } from "./observations";
import { functionInFlight } from "./running";

/** Which of the account's functions to read, and whether this shard is the function's current one. */
export interface ObservedFunction {
  readonly name: string;
  readonly current: boolean;
}

/** Stats of one function, or an account's functions on this shard, summed (src/observability.ts merges shards). */
export function readStats(
  ctx: ShardContext,
  account: string,
  functions: readonly ObservedFunction[],
  now: number,
): ShardStats {
  flushFinishes(ctx, now, { account });
  const counts: Record<string, number> = {};
  const sketches = emptyStageSketches();
  let finished = 0;
  let limit: number | null = null;
  const histories: HistoryPoint[][] = [];
  const start = historyStart(now);
  for (const { name, current } of functions) {
    const fnCounts = countByState(ctx, account, name);
    for (const [state, n] of Object.entries(fnCounts)) counts[state] = (counts[state] ?? 0) + n;
    const window = current ? (concurrencyLimit(ctx, account, name) ?? null) : null;
    if (window !== null) limit = (limit ?? 0) + window;
    for (const row of ctx.sql
      .exec<{ data: string }>(
        `SELECT data FROM latency_minutes WHERE account = ? AND function = ? AND minute >= ?`,
        account,
        name,
        latencyWindowStart(now),
      )
      .toArray()) {
      const data = JSON.parse(row.data) as Record<string, unknown>;
      finished += typeof data.f === "number" ? data.f : 0;
      for (const stage of STAGES) mergeInto(sketches[stage], parseSketch(data[STAGE_FIELDS[stage]]));
    }
    const rows = readHistoryRows(ctx.sql, account, name, `t >= ?`, start, HISTORY_ROWS_LIMIT);
    const before = readHistoryRows(ctx.sql, account, name, `t < ?`, start, 1, "DESC")[0];
    const live = { concurrencyLimit: window ?? 0, inFlight: fnCounts.running ?? 0, queued: fnCounts.queued ?? 0 };
    // Only the current shard knows the window: elsewhere it reads as 0, so a moved function is not counted twice.
    const history = fillHistory(rows, before, now, live);
    for (const p of history) {
      delete p.last;
      if (!current) p.concurrencyLimit = 0;
    }
    histories.push(history);
  }
  return {
    counts,
    inFlight: counts.running ?? 0,
    queued: counts.queued ?? 0,
    concurrencyLimit: limit,
    latency: {
      queueWait: serializeSketch(sketches.queueWait),
      execution: serializeSketch(sketches.execution),
      endToEnd: serializeSketch(sketches.endToEnd),
    },
    finished,
    history: sumHistories(histories),
  };
}

const HISTORY_ROWS_LIMIT = 400;

function readHistoryRows(
  sql: Sql,
  account: string,
  fnName: string,
  condition: string,
  t: number,
  limit: number,
  order: "ASC" | "DESC" = "ASC",
): HistoryPoint[] {
  return sql
    .exec<{
      t: number;
      concurrency_limit: number;
      in_flight: number;
      queued: number;
      throttled: number;
      last_in_flight: number;
      last_queued: number;
    }>(
      `SELECT t, concurrency_limit, in_flight, queued, throttled, last_in_flight, last_queued FROM history_slots
       WHERE account = ? AND function = ? AND ${condition} ORDER BY t ${order} LIMIT ${INT_PARAM}`,
      account,
      fnName,
      t,
      limit,
    )
    .toArray()
    .map((r) => ({
      t: r.t,
      concurrencyLimit: r.concurrency_limit,
      inFlight: r.in_flight,
      queued: r.queued,
      throttled: r.throttled,
      last: { inFlight: r.last_in_flight, queued: r.last_queued },
    }));
}

/** Prometheus figures per function: totals since counting started, and the gauges now. */
export function readMetrics(
  ctx: ShardContext,
  account: string,
  functions: readonly ObservedFunction[],
): FunctionMetrics[] {
  flushFinishes(ctx, Date.now(), { account });
  return functions.map(({ name, current }) => {
    const totals = readTotals(ctx.sql, account, name);
    return {
      name,
      endings: totals.endings,
      queued: queuedOf(ctx.sql, account, name),
      inFlight: functionInFlight(ctx.sql, account, name),
      concurrencyLimit: current ? (concurrencyLimit(ctx, account, name) ?? null) : null,
      throttled: totals.throttled,
      histograms: totals.stages,
      deliveries: totals.deliveries,
    };
  });
}
