/**
 * @module
 * A bounded, mergeable latency sketch: DDSketch's logarithmic mapping (Masson, Rim, Lee, VLDB 2019) with a fixed
 * relative accuracy and no collapsing, plus the fixed buckets of the Prometheus histograms, in one value.
 *
 * Why not `@datadog/sketches-js`: its quantiles work, but its only serialisation (`toProto`) needs `protobufjs`, which
 * the package does not declare, so `toProto` throws "Cannot find module 'protobufjs/minimal'" in Node and the Worker
 * bundle does not build ("Could not resolve"). Its stores are dense arrays behind private fields, and it has no
 * Prometheus buckets. The mapping below is the same as its default (`LogarithmicMapping`): a value v lands in key
 * ⌈log_γ v⌉ with γ = (1 + α)/(1 − α), and every quantile comes back within relative error α of a value seen.
 *
 * Bounds: values are milliseconds, clamped to [1 ms, 30 days]; anything below 1 ms counts as 0 (timings are whole
 * milliseconds). With α = 1 % that is at most 1,087 keys, so a sketch never holds more than about 1,100 numbers
 * whatever it has seen, and two sketches merge by adding counts key by key (shards, minutes and functions alike).
 * Nothing here sorts the recorded values: a quantile walks the keys in order.
 *
 * @example
 * const s = emptySketch();
 * recordValue(s, 120);
 * recordValue(s, 80);
 * quantile(s, 0.5); // ≈ 80 (within 1 %)
 */

/** Relative accuracy of every quantile. */
export const RELATIVE_ACCURACY = 0.01;
const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const LN_GAMMA = Math.log(GAMMA);
/** The largest value kept apart from others: 30 days in ms (a task's whole life fits; longer values are clamped). */
export const MAX_VALUE_MS = 30 * 86_400_000;
const MAX_KEY = Math.ceil(Math.log(MAX_VALUE_MS) / LN_GAMMA);

/**
 * Upper bounds (`le`, seconds) of the Prometheus histogram buckets, the same for every stage and function so series
 * aggregate across functions and shards; `+Inf` is implied after the last.
 */
export const PROMETHEUS_BUCKETS_SECONDS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600,
];

export interface LatencySketch {
  /** Values recorded. */
  count: number;
  /** Their sum in ms (as recorded, before clamping). */
  sumMs: number;
  /** Values below 1 ms. */
  zero: number;
  /** Count per key of the logarithmic mapping (sparse). */
  bins: Map<number, number>;
  /** Count per Prometheus bucket (not cumulative), the last one `+Inf`: PROMETHEUS_BUCKETS_SECONDS.length + 1. */
  prom: number[];
}

/** The stored form: plain JSON. */
export interface SerializedSketch {
  n: number;
  s: number;
  z: number;
  /** [key, count] pairs (plain arrays: RPC types do not keep tuples). */
  b: number[][];
  p: number[];
}

export function emptySketch(): LatencySketch {
  return {
    count: 0,
    sumMs: 0,
    zero: 0,
    bins: new Map(),
    prom: new Array(PROMETHEUS_BUCKETS_SECONDS.length + 1).fill(0),
  };
}

/** The mapping's key of a value (ms ≥ 1), clamped to the bounded key range. */
export function keyOf(valueMs: number): number {
  return Math.min(MAX_KEY, Math.max(0, Math.ceil(Math.log(valueMs) / LN_GAMMA)));
}

/** The value a key stands for: within RELATIVE_ACCURACY of every value the key holds. */
export function valueOfKey(key: number): number {
  return (2 * GAMMA ** key) / (GAMMA + 1);
}

function promBucketOf(valueMs: number): number {
  const seconds = valueMs / 1000;
  for (let i = 0; i < PROMETHEUS_BUCKETS_SECONDS.length; i++) {
    if (seconds <= (PROMETHEUS_BUCKETS_SECONDS[i] as number)) return i;
  }
  return PROMETHEUS_BUCKETS_SECONDS.length;
}

/** Record one value in ms. Negative or non-finite values (a clock step) are ignored. */
export function recordValue(sketch: LatencySketch, valueMs: number): void {
  if (!Number.isFinite(valueMs) || valueMs < 0) return;
  sketch.count += 1;
  sketch.sumMs += valueMs;
  const bucket = promBucketOf(valueMs);
  sketch.prom[bucket] = (sketch.prom[bucket] ?? 0) + 1;
  if (valueMs < 1) {
    sketch.zero += 1;
    return;
  }
  const key = keyOf(valueMs);
  sketch.bins.set(key, (sketch.bins.get(key) ?? 0) + 1);
}

/** Add `from` into `into` (commutative and associative: merge order does not matter). */
export function mergeInto(into: LatencySketch, from: LatencySketch): LatencySketch {
  into.count += from.count;
  into.sumMs += from.sumMs;
  into.zero += from.zero;
  for (const [key, n] of from.bins) into.bins.set(key, (into.bins.get(key) ?? 0) + n);
  for (let i = 0; i < into.prom.length; i++) into.prom[i] = (into.prom[i] ?? 0) + (from.prom[i] ?? 0);
  return into;
}

/**
 * The value at quantile `q` (0..1), DDSketch's definition: the value of rank ⌊q·(n − 1)⌋ in sorted order, found by
 * walking the (at most ~1,100) keys in order. Null for an empty sketch.
 */
export function quantile(sketch: LatencySketch, q: number): number | null {
  if (sketch.count === 0) return null;
  const rank = Math.floor(Math.min(1, Math.max(0, q)) * (sketch.count - 1));
  let seen = sketch.zero;
  if (rank < seen) return 0;
  const keys = [...sketch.bins.keys()].sort((a, b) => a - b);
  for (const key of keys) {
    seen += sketch.bins.get(key) ?? 0;
    if (rank < seen) return valueOfKey(key);
  }
  const last = keys[keys.length - 1];
  return last === undefined ? 0 : valueOfKey(last);
}

/** p50, p95 and p99 in whole ms (null when nothing was recorded). */
export function percentiles(sketch: LatencySketch): { p50: number | null; p95: number | null; p99: number | null } {
  const round = (v: number | null) => (v === null ? null : Math.round(v));
  return { p50: round(quantile(sketch, 0.5)), p95: round(quantile(sketch, 0.95)), p99: round(quantile(sketch, 0.99)) };
}

export function serializeSketch(sketch: LatencySketch): SerializedSketch {
  return { n: sketch.count, s: sketch.sumMs, z: sketch.zero, b: [...sketch.bins], p: [...sketch.prom] };
}

/**
 * Read a stored sketch. Anything malformed (keys out of range, negative counts) is dropped, so a damaged row costs its
 * own figures and never an unbounded map.
 */
export function parseSketch(data: unknown): LatencySketch {
  const sketch = emptySketch();
  if (typeof data !== "object" || data === null) return sketch;
  const raw = data as Partial<SerializedSketch>;
  const count = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0);
  sketch.count = count(raw.n);
  sketch.sumMs = count(raw.s);
  sketch.zero = count(raw.z);
  if (Array.isArray(raw.b)) {
    for (const pair of raw.b.slice(0, MAX_KEY + 1)) {
      if (!Array.isArray(pair)) continue;
      const [key = -1, n] = pair;
      if (Number.isInteger(key) && key >= 0 && key <= MAX_KEY && count(n) > 0) {
        sketch.bins.set(key, (sketch.bins.get(key) ?? 0) + count(n));
      }
    }
  }
  if (Array.isArray(raw.p)) for (let i = 0; i < sketch.prom.length; i++) sketch.prom[i] = count(raw.p[i]);
  return sketch;
}

/** Cumulative bucket counts for the Prometheus text format: one per `le` of PROMETHEUS_BUCKETS_SECONDS, then `+Inf`. */
export function cumulativeBuckets(sketch: LatencySketch): number[] {
  let total = 0;
  return sketch.prom.map((n) => (total += n));
}
