/**
 * @module
 * A bounded number of slots per key (e.g. calls in flight from this isolate to one shard), shared by every request
 * of an isolate. Plain counting, no waiting: a caller that finds no slot free takes another way at once, so no request
 * ever waits for another's work (which a Worker may not do) and memory is one small counter per busy key.
 */

export class KeyedSlots {
  readonly #used = new Map<string, number>();

  constructor(readonly perKey: number) {}

  /** Take a slot of `key` if one is free. Every true must be followed by one `release(key)`. */
  tryTake(key: string): boolean {
    const used = this.#used.get(key) ?? 0;
    if (used >= this.perKey) return false;
    this.#used.set(key, used + 1);
    return true;
  }

  release(key: string): void {
    const used = (this.#used.get(key) ?? 0) - 1;
    if (used > 0) this.#used.set(key, used);
    else this.#used.delete(key);
  }

  /** Slots of `key` in use. */
  inUse(key: string): number {
    return this.#used.get(key) ?? 0;
  }

  /** Keys with a slot in use (bounded by the isolate's open requests). */
  get keys(): number {
    return this.#used.size;
  }
}
