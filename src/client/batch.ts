/**
 * @module
 * Splitting a long list of tasks into batch requests the API takes: at most {@link MAX_BATCH} items and at most
 * {@link BATCH_BODY_BUDGET} bytes of JSON each (the server refuses a batch body over 10 MiB with 413).
 */

import { MAX_BATCH_BODY_BYTES } from "../limits";
import { MAX_BATCH } from "../schemas";

export { MAX_BATCH };

/** What one chunk may weigh: the server's 10 MiB less room for the brackets and commas. */
export const BATCH_BODY_BUDGET = MAX_BATCH_BODY_BYTES - 64 * 1024;

const encoder = new TextEncoder();

/**
 * Consecutive index ranges `[start, end)` covering `items`, each at most `maxItems` long and, where an item alone does
 * not exceed it, at most `maxBytes` of JSON. An item heavier than `maxBytes` gets a chunk of its own (the server
 * then refuses that one request, not its neighbours).
 *
 * @example
 * chunkRanges([1, 2, 3], { maxItems: 2 }) // [[0, 2], [2, 3]]
 */
export function chunkRanges(
  items: readonly unknown[],
  options: { maxItems?: number; maxBytes?: number } = {},
): [number, number][] {
  const maxItems = Math.max(1, Math.min(options.maxItems ?? MAX_BATCH, MAX_BATCH));
  const maxBytes = options.maxBytes ?? BATCH_BODY_BUDGET;
  const ranges: [number, number][] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < items.length; i++) {
    const size = encoder.encode(JSON.stringify(items[i]) ?? "null").byteLength + 1;
    const full = i - start >= maxItems || (i > start && bytes + size > maxBytes);
    if (full) {
      ranges.push([start, i]);
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (items.length > start) ranges.push([start, items.length]);
  return ranges;
}
