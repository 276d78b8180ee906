/**
 * @module
 * Seeded randomness for the placement simulation: a small fast generator (mulberry32), exponential gaps for Poisson
 * arrivals, and Zipf weights. Same seed, same run.
 */

/** A generator of uniform numbers in [0, 1) from a 32-bit seed (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The gap (ms) to the next arrival of a Poisson process of `perSec` arrivals per second. */
export function exponentialGapMs(random: () => number, perSec: number): number {
  return perSec > 0 ? (-Math.log(1 - random()) / perSec) * 1000 : Number.POSITIVE_INFINITY;
}

/** Weights ∝ 1 / rank^s for ranks 1..n, summing to 1. */
export function zipfWeights(n: number, s: number): Float64Array {
  const w = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    w[i] = 1 / (i + 1) ** s;
    sum += w[i] as number;
  }
  for (let i = 0; i < n; i++) w[i] = (w[i] as number) / sum;
  return w;
}
