/**
 * @module
 * The time buckets of a function's stats and how figures from several shards become one answer. Pure: shards record
 * into the buckets (src/shard/observations.ts), the gateway merges what each shard returns.
 *
 * - Latency: one sketch per function and minute (src/latency-sketch.ts), kept 60 minutes. Percentiles and throughput
 *   are read over the *latency window*: the current minute and the 4 before it, so between 4 and 5 minutes of the
 *   most recent calls, merged across shards and minutes without sorting any task.
 * - History: a point per 10 s for the last hour (360 points): the most calls in flight and tasks queued sampled in
 *   those 10 s, the window at their last sample, and the throttled outcomes counted in them. A 10 s slot without any
 *   activity carries the last sample before it forward (nothing changed that the shard saw); before the first sample
 *   of the hour, the function was idle as far as the shard knows (zeros). The current slot includes the values at
 *   read time.
 */

import {
  emptySketch,
  type LatencySketch,
  mergeInto,
  parseSketch,
  percentiles,
  type SerializedSketch,
  serializeSketch,
} from "./latency-sketch";

export const MINUTE_MS = 60_000;
/** Minute sketches kept per function (older rows are deleted). */
export const SKETCH_RETENTION_MINUTES = 60;
/** Minutes in the latency window (the current one included). */
export const LATENCY_WINDOW_MINUTES = 5;
export const HISTORY_STEP_MS = 10_000;
/** History points per function: one hour of 10 s slots. */
export const HISTORY_POINTS = 360;

/**
 * Functions one account stats or metrics answer covers (the first ones by name): bounds the registry pages read, the
 * RPCs' size and the exposition's length whatever the account holds.
 */
export const MAX_OBSERVED_FUNCTIONS = 1_000;

export type Stage = "queueWait" | "execution" | "endToEnd";
export const STAGES: readonly Stage[] = ["queueWait", "execution", "endToEnd"];

/** One empty latency sketch per stage (a shard's buffer, a read, a merge of shards). */
export function emptyStageSketches(): Record<Stage, LatencySketch> {
  return { queueWait: emptySketch(), execution: emptySketch(), endToEnd: emptySketch() };
}

export function minuteOf(t: number): number {
  return Math.floor(t / MINUTE_MS) * MINUTE_MS;
}

/** The first minute of the latency window ending at `now`. */
export function latencyWindowStart(now: number): number {
  return minuteOf(now) - (LATENCY_WINDOW_MINUTES - 1) * MINUTE_MS;
}

/** Minute rows older than this are dropped. */
export function sketchCutoff(now: number): number {
  return minuteOf(now) - (SKETCH_RETENTION_MINUTES - 1) * MINUTE_MS;
}

export function slotOf(t: number): number {
  return Math.floor(t / HISTORY_STEP_MS) * HISTORY_STEP_MS;
}

/** The first slot of the hour of history ending with the slot of `now`. */
export function historyStart(now: number): number {
  return slotOf(now) - (HISTORY_POINTS - 1) * HISTORY_STEP_MS;
}

export interface HistoryPoint {
  /** Start of the 10 s slot, ms since the epoch. */
  t: number;
  /** The window at the slot's last sample. */
  concurrencyLimit: number;
  /** The most calls in flight and tasks queued sampled in the slot. */
  inFlight: number;
  queued: number;
  /** Throttled outcomes in the slot. */
  throttled: number;
  /** Calls in flight and queued at the slot's last sample (carried over quiet slots); absent: same as the peaks. */
  last?: { inFlight: number; queued: number };
}

/** The values of a function now (for the current slot), read when stats are asked for. */
export interface LiveValues {
  concurrencyLimit: number;
  inFlight: number;
  queued: number;
}

/**
 * HISTORY_POINTS points ending with the slot of `now`, from the stored slots (any order, any range: those outside are
 * ignored), the last stored slot before the hour (`before`, carried into its start) and the live values.
 */
export function fillHistory(
  rows: readonly HistoryPoint[],
  before: HistoryPoint | undefined,
  now: number,
  live: LiveValues | undefined,
): HistoryPoint[] {
  const start = historyStart(now);
  const bySlot = new Map<number, HistoryPoint>();
  for (const row of rows) if (row.t >= start) bySlot.set(slotOf(row.t), row);
  let last: LiveValues = before ? lastValues(before) : { concurrencyLimit: 0, inFlight: 0, queued: 0 };
  const points: HistoryPoint[] = [];
  for (let i = 0; i < HISTORY_POINTS; i++) {
    const t = start + i * HISTORY_STEP_MS;
    const row = bySlot.get(t);
    const point: HistoryPoint = row ? { ...row, t } : { t, ...last, throttled: 0 };
    if (i === HISTORY_POINTS - 1 && live) {
      // Now: the live values, or the slot's peaks if higher.
      point.concurrencyLimit = live.concurrencyLimit;
      point.inFlight = Math.max(row?.inFlight ?? 0, live.inFlight);
      point.queued = Math.max(row?.queued ?? 0, live.queued);
    }
    points.push(point);
    last = row ? lastValues(row) : last;
  }
  return points;
}

/** What a slot leaves for the quiet slots after it. */
function lastValues(p: HistoryPoint): LiveValues {
  return {
    concurrencyLimit: p.concurrencyLimit,
    inFlight: p.last?.inFlight ?? p.inFlight,
    queued: p.last?.queued ?? p.queued,
  };
}

/** Pointwise sums of histories on the same slots (functions of an account, shards of a function). */
export function sumHistories(histories: readonly (readonly HistoryPoint[])[]): HistoryPoint[] {
  const bySlot = new Map<number, HistoryPoint>();
  for (const history of histories) {
    for (const p of history) {
      const sum = bySlot.get(p.t) ?? { t: p.t, concurrencyLimit: 0, inFlight: 0, queued: 0, throttled: 0 };
      sum.concurrencyLimit += p.concurrencyLimit;
      sum.inFlight += p.inFlight;
      sum.queued += p.queued;
      sum.throttled += p.throttled;
      bySlot.set(p.t, sum);
    }
  }
  return [...bySlot.values()].sort((a, b) => a.t - b.t);
}

/** What one shard answers for a set of functions (one, or an account's functions on that shard), summed. */
export interface ShardStats {
  counts: Record<string, number>;
  inFlight: number;
  queued: number;
  /** Sum of the AIMD windows of the functions whose current shard this is (null: none is). */
  concurrencyLimit: number | null;
  /** The latency window's sketches, merged over its minutes and the functions. */
  latency: Record<Stage, SerializedSketch>;
  /** Tasks that finished (succeeded or failed after a call) in the latency window. */
  finished: number;
  history: HistoryPoint[];
}

export interface LatencyFigures {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface MergedStats {
  counts: Record<string, number>;
  inFlight: number;
  queued: number;
  concurrencyLimit: number | null;
  latencyMs: Record<Stage, LatencyFigures>;
  /** The latency window the percentiles and throughput cover (ISO 8601). */
  latencyWindow: { from: string; to: string };
  throughputPerMinute: number;
  history: { t: string; concurrencyLimit: number; inFlight: number; queued: number; throttled: number }[];
}

/** Merge shards' answers into the stats figures: sums, merged sketches, throughput over the window's length. */
export function mergeShardStats(parts: readonly ShardStats[], now: number): MergedStats {
  const counts: Record<string, number> = {};
  const sketches = emptyStageSketches();
  let inFlight = 0;
  let queued = 0;
  let finished = 0;
  let concurrencyLimit: number | null = null;
  for (const part of parts) {
    for (const [state, n] of Object.entries(part.counts)) counts[state] = (counts[state] ?? 0) + n;
    inFlight += part.inFlight;
    queued += part.queued;
    finished += part.finished;
    if (part.concurrencyLimit !== null) concurrencyLimit = (concurrencyLimit ?? 0) + part.concurrencyLimit;
    for (const stage of STAGES) mergeInto(sketches[stage], parseSketch(part.latency[stage]));
  }
  const from = latencyWindowStart(now);
  const minutes = Math.max(1, now - from) / MINUTE_MS;
  return {
    counts,
    inFlight,
    queued,
    concurrencyLimit,
    latencyMs: {
      queueWait: percentiles(sketches.queueWait),
      execution: percentiles(sketches.execution),
      endToEnd: percentiles(sketches.endToEnd),
    },
    latencyWindow: { from: new Date(from).toISOString(), to: new Date(now).toISOString() },
    throughputPerMinute: Math.round((finished / minutes) * 100) / 100,
    history: sumHistories(parts.map((p) => p.history)).map((p) => ({ ...p, t: new Date(p.t).toISOString() })),
  };
}

/** Prometheus figures of one function on one shard; a function on several shards is summed by {@link mergeMetrics}. */
export interface FunctionMetrics {
  name: string;
  /** Tasks that ended in each terminal state since this shard started counting (monotonic). */
  endings: Record<string, number>;
  queued: number;
  inFlight: number;
  /** The AIMD window, from the function's current shard only (null elsewhere). */
  concurrencyLimit: number | null;
  throttled: number;
  /** Since counting started, per stage: the Prometheus bucket counts, sum and count. */
  histograms: Record<Stage, SerializedSketch>;
  /** Final delivery outcomes: `<destination type>|<delivered|failed>` → count. */
  deliveries: Record<string, number>;
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}

/** Sum the shards' figures per function (a function moved between shards has figures on each). Sorted by name. */
export function mergeMetrics(parts: readonly (readonly FunctionMetrics[])[]): FunctionMetrics[] {
  const byName = new Map<string, FunctionMetrics>();
  for (const list of parts) {
    for (const m of list) {
      const into = byName.get(m.name);
      if (!into) {
        byName.set(m.name, structuredClone(m));
        continue;
      }
      addCounts(into.endings, m.endings);
      addCounts(into.deliveries, m.deliveries);
      into.queued += m.queued;
      into.inFlight += m.inFlight;
      into.throttled += m.throttled;
      if (m.concurrencyLimit !== null) into.concurrencyLimit = (into.concurrencyLimit ?? 0) + m.concurrencyLimit;
      for (const stage of STAGES) {
        into.histograms[stage] = serializeSketch(
          mergeInto(parseSketch(into.histograms[stage]), parseSketch(m.histograms[stage])),
        );
      }
    }
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
