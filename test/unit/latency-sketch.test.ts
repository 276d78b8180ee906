/** The latency sketch: relative error against exact percentiles, merging, bounds, the stored form, Prometheus buckets. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  cumulativeBuckets,
  emptySketch,
  keyOf,
  MAX_VALUE_MS,
  mergeInto,
  PROMETHEUS_BUCKETS_SECONDS,
  parseSketch,
  quantile,
  RELATIVE_ACCURACY,
  recordValue,
  serializeSketch,
} from "../../src/latency-sketch";

/** DDSketch's rank: the value at ⌊q·(n − 1)⌋ in sorted order (sorting here, in the test, is the point of comparison). */
function exact(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))] as number;
}

/** A seeded generator, so a failure replays. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("latency sketch", () => {
  it("answers p50, p95 and p99 within 1 % of the exact value on random data of several shapes", () => {
    const next = random(42);
    const shapes: Record<string, () => number> = {
      uniform: () => 1 + next() * 5000,
      lognormal: () => Math.exp(3 + 2 * Math.sqrt(-2 * Math.log(next() || 1e-9)) * Math.cos(2 * Math.PI * next())),
      bimodal: () => (next() < 0.9 ? 5 + next() * 10 : 2000 + next() * 8000),
    };
    for (const [shape, draw] of Object.entries(shapes)) {
      const values = Array.from({ length: 20_000 }, () => Math.max(1, draw()));
      const sketch = emptySketch();
      for (const v of values) recordValue(sketch, v);
      for (const q of [0.5, 0.95, 0.99]) {
        const want = exact(values, q);
        const got = quantile(sketch, q) as number;
        expect(Math.abs(got - want) / want, `${shape} q=${q}`).toBeLessThanOrEqual(RELATIVE_ACCURACY + 1e-9);
      }
    }
  });

  it("keeps the error bound for any values and quantile (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 1, max: 1e8, noNaN: true }), { minLength: 1, maxLength: 300 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (values, q) => {
          const sketch = emptySketch();
          for (const v of values) recordValue(sketch, v);
          const want = exact(values, q);
          const got = quantile(sketch, q) as number;
          return Math.abs(got - want) / want <= RELATIVE_ACCURACY + 1e-9;
        },
      ),
    );
  });

  it("merges like one sketch of all values, in any order (shards and minutes)", () => {
    const next = random(7);
    const parts = Array.from({ length: 5 }, () => {
      const s = emptySketch();
      for (let i = 0; i < 1000; i++) recordValue(s, next() < 0.2 ? 0 : 1 + next() * 100 * (1 + i));
      return s;
    });
    const all = emptySketch();
    for (const p of parts) mergeInto(all, p);
    const reversed = emptySketch();
    for (const p of [...parts].reverse())
      mergeInto(reversed, parseSketch(JSON.parse(JSON.stringify(serializeSketch(p)))));
    expect(serializeSketch(reversed).n).toBe(5000);
    for (const q of [0, 0.5, 0.95, 0.99, 1]) expect(quantile(reversed, q)).toBe(quantile(all, q));
    expect(reversed.sumMs).toBeCloseTo(all.sumMs, 6);
    expect(reversed.prom).toEqual(all.prom);
  });

  it("is bounded whatever it sees: values below 1 ms count as 0, huge ones are clamped, bad ones ignored", () => {
    const sketch = emptySketch();
    for (let v = 0; v < 200_000; v += 7) recordValue(sketch, v * v);
    recordValue(sketch, 10 * MAX_VALUE_MS);
    recordValue(sketch, -5);
    recordValue(sketch, Number.NaN);
    recordValue(sketch, 0.4);
    expect(sketch.bins.size).toBeLessThanOrEqual(keyOf(MAX_VALUE_MS) + 1);
    expect(sketch.zero).toBe(2);
    expect(quantile(sketch, 0)).toBe(0);
    expect(quantile(emptySketch(), 0.5)).toBeNull();
  });

  it("reads a damaged stored form without growing: bad keys and counts are dropped", () => {
    const parsed = parseSketch({ n: 3, s: 10, z: -1, b: [[5, 2], [-1, 4], [1e9, 1], "x", [7, -3]], p: [1, "a"] });
    expect([...parsed.bins]).toEqual([[5, 2]]);
    expect(parsed.zero).toBe(0);
    expect(parsed.prom.length).toBe(PROMETHEUS_BUCKETS_SECONDS.length + 1);
    expect(parseSketch(null).count).toBe(0);
  });

  it("counts Prometheus buckets exactly at their bounds (le is inclusive), cumulative up to +Inf", () => {
    const sketch = emptySketch();
    for (const ms of [5, 5.0001, 100, 100, 250, 3_600_000, 3_600_001]) recordValue(sketch, ms);
    const cumulative = cumulativeBuckets(sketch);
    const at = (le: number) => cumulative[PROMETHEUS_BUCKETS_SECONDS.indexOf(le)];
    expect(at(0.005)).toBe(1);
    expect(at(0.01)).toBe(2);
    expect(at(0.1)).toBe(4);
    expect(at(0.25)).toBe(5);
    expect(at(3600)).toBe(6);
    expect(cumulative[cumulative.length - 1]).toBe(7);
  });
});
