/**
 * @module
 * A dense queue-wait histogram for the simulation: the logarithmic mapping of src/latency-sketch.ts (every quantile
 * within 1 % of a value seen), counted in a typed array so that recording millions of waits costs one logarithm each.
 */

import { keyOf, MAX_VALUE_MS, valueOfKey } from "../src/latency-sketch";

const KEYS = keyOf(MAX_VALUE_MS) + 1;

export class Histogram {
  readonly counts = new Float64Array(KEYS);
  /** Waits below 1 ms (dispatched on accept). */
  zero = 0;
  count = 0;

  record(ms: number): void {
    this.count++;
    if (ms < 1) this.zero++;
    else this.counts[keyOf(ms)] = (this.counts[keyOf(ms)] as number) + 1;
  }

  /** The wait at quantile `q` (0..1), null when empty (the sketch's definition: rank ⌊q·(n − 1)⌋). */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.floor(Math.min(1, Math.max(0, q)) * (this.count - 1));
    let seen = this.zero;
    if (rank < seen) return 0;
    for (let k = 0; k < KEYS; k++) {
      seen += this.counts[k] as number;
      if (rank < seen) return valueOfKey(k);
    }
    return valueOfKey(KEYS - 1);
  }

  mergeFrom(other: Histogram): this {
    this.count += other.count;
    this.zero += other.zero;
    for (let k = 0; k < KEYS; k++) this.counts[k] = (this.counts[k] as number) + (other.counts[k] as number);
    return this;
  }
}
