/**
 * @module
 * Splitting a list into RPC-sized batches, so that no call between Durable Objects grows with what tenants store:
 * each batch carries at most `maxBytes` (as counted by `sizeOf`) and `maxCount` items; an item larger than
 * `maxBytes` travels alone.
 */

export function batchBySize<T>(
  items: readonly T[],
  sizeOf: (item: T) => number,
  maxBytes: number,
  maxCount = Infinity,
): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && (bytes + size > maxBytes || current.length >= maxCount)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
