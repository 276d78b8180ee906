/** Time buckets, history filling and retention, and merging shards' stats (src/observability.ts). */
import { describe, expect, it } from "vitest";
import { emptySketch, recordValue, serializeSketch } from "../../src/latency-sketch";
import {
  fillHistory,
  HISTORY_POINTS,
  HISTORY_STEP_MS,
  type HistoryPoint,
  historyStart,
  LATENCY_WINDOW_MINUTES,
  latencyWindowStart,
  MINUTE_MS,
  mergeMetrics,
  mergeShardStats,
  type ShardStats,
  sketchCutoff,
  slotOf,
  sumHistories,
} from "../../src/observability";

const NOW = Date.parse("2026-06-01T12:34:56.789Z");

function point(t: number, values: Partial<HistoryPoint> = {}): HistoryPoint {
  return { t, concurrencyLimit: 10, inFlight: 0, queued: 0, throttled: 0, ...values };
}

function shardStats(values: number[], extra: Partial<ShardStats> = {}): ShardStats {
  const sketch = emptySketch();
  for (const v of values) recordValue(sketch, v);
  const s = serializeSketch(sketch);
  return {
    counts: { succeeded: values.length },
    inFlight: 1,
    queued: 2,
    concurrencyLimit: null,
    latency: { queueWait: s, execution: s, endToEnd: s },
    finished: values.length,
    history: [],
    ...extra,
  };
}

describe("time buckets", () => {
  it("latency window: the current minute and the 4 before; sketches kept 60 minutes", () => {
    expect(latencyWindowStart(NOW)).toBe(Date.parse("2026-06-01T12:30:00Z"));
    expect(NOW - latencyWindowStart(NOW)).toBeLessThan(LATENCY_WINDOW_MINUTES * MINUTE_MS);
    expect(sketchCutoff(NOW)).toBe(Date.parse("2026-06-01T11:35:00Z"));
    expect(slotOf(NOW)).toBe(Date.parse("2026-06-01T12:34:50Z"));
    expect(historyStart(NOW)).toBe(slotOf(NOW) - 359 * HISTORY_STEP_MS);
  });
});

describe("history", () => {
  it("has 360 points, a slot each, ending with the current slot; rows past the hour are ignored", () => {
    const old = point(historyStart(NOW) - HISTORY_STEP_MS, { inFlight: 99 });
    const points = fillHistory([old], undefined, NOW, undefined);
    expect(points).toHaveLength(HISTORY_POINTS);
    expect(points[0]?.t).toBe(historyStart(NOW));
    expect(points[HISTORY_POINTS - 1]?.t).toBe(slotOf(NOW));
    for (let i = 1; i < points.length; i++) expect((points[i]?.t ?? 0) - (points[i - 1]?.t ?? 0)).toBe(HISTORY_STEP_MS);
    expect(points.every((p) => p.inFlight === 0)).toBe(true);
  });

  it("carries the last sample over quiet slots (throttled 0), starts from the sample before the hour, shows live values now", () => {
    const start = historyStart(NOW);
    const before = point(start - 5 * HISTORY_STEP_MS, { inFlight: 3, queued: 7 });
    const rows = [point(start + 100 * HISTORY_STEP_MS, { inFlight: 5, queued: 1, throttled: 4, concurrencyLimit: 6 })];
    const live = { concurrencyLimit: 8, inFlight: 2, queued: 0 };
    const points = fillHistory(rows, before, NOW, live);
    expect(points[0]).toEqual({ t: start, concurrencyLimit: 10, inFlight: 3, queued: 7, throttled: 0 });
    expect(points[100]).toEqual(rows[0]);
    expect(points[101]).toEqual({
      t: start + 101 * HISTORY_STEP_MS,
      concurrencyLimit: 6,
      inFlight: 5,
      queued: 1,
      throttled: 0,
    });
    expect(points[HISTORY_POINTS - 1]).toEqual({ t: slotOf(NOW), ...live, throttled: 0 });
  });

  it("sums pointwise across functions and shards", () => {
    const a = fillHistory([point(historyStart(NOW), { inFlight: 1, throttled: 2 })], undefined, NOW, undefined);
    const b = fillHistory([point(historyStart(NOW), { inFlight: 4, throttled: 1 })], undefined, NOW, undefined);
    const sum = sumHistories([a, b]);
    expect(sum).toHaveLength(HISTORY_POINTS);
    expect(sum[0]).toMatchObject({ inFlight: 5, throttled: 3, concurrencyLimit: 20 });
  });
});

describe("merging shards", () => {
  it("adds counts, merges sketches (never sorting tasks) and gives throughput per minute of the window", () => {
    const merged = mergeShardStats(
      [shardStats([10, 20, 30], { concurrencyLimit: 4 }), shardStats(Array.from({ length: 97 }, () => 1000))],
      NOW,
    );
    expect(merged.counts).toEqual({ succeeded: 100 });
    expect(merged.inFlight).toBe(2);
    expect(merged.concurrencyLimit).toBe(4);
    expect(merged.latencyMs.execution.p50).toBeGreaterThan(990);
    expect(merged.latencyMs.execution.p50).toBeLessThan(1010);
    const minutes = (NOW - latencyWindowStart(NOW)) / MINUTE_MS;
    expect(merged.throughputPerMinute).toBeCloseTo(100 / minutes, 1);
    expect(merged.latencyWindow.to).toBe(new Date(NOW).toISOString());
  });

  it("answers null percentiles and no window when nothing finished", () => {
    const merged = mergeShardStats([shardStats([])], NOW);
    expect(merged.latencyMs.endToEnd).toEqual({ p50: null, p95: null, p99: null });
    expect(merged.concurrencyLimit).toBeNull();
    expect(merged.throughputPerMinute).toBe(0);
  });

  it("sums a moved function's metrics from each shard, once per name, sorted", () => {
    const s = serializeSketch(emptySketch());
    const m = (name: string, n: number, limit: number | null) => ({
      name,
      endings: { succeeded: n },
      queued: n,
      inFlight: 0,
      concurrencyLimit: limit,
      throttled: n,
      histograms: { queueWait: s, execution: s, endToEnd: s },
      deliveries: { "webhook|delivered": n },
    });
    const merged = mergeMetrics([[m("b", 1, 5), m("a", 2, null)], [m("b", 3, null)]]);
    expect(merged.map((f) => f.name)).toEqual(["a", "b"]);
    expect(merged[1]).toMatchObject({ endings: { succeeded: 4 }, throttled: 4, concurrencyLimit: 5 });
    expect(merged[1]?.deliveries).toEqual({ "webhook|delivered": 4 });
  });
});
