/**
 * @module
 * Which invoker of a shard's pool gets a call (who gets the shard's call slots is src/fair-share.ts).
 */

/**
 * Which invoker gets the next call: the first one with a free slot, so a burst lands on few invokers (one hand-off
 * RPC and one alarm per six calls, not per call); when all are full, the least loaded one queues it.
 * @example pickInvoker([6, 2, 0], 6) // 1
 */
export function pickInvoker(load: readonly number[], callsPerInvoker: number): number {
  let least = 0;
  for (let i = 0; i < load.length; i++) {
    if ((load[i] ?? 0) < callsPerInvoker) return i;
    if ((load[i] ?? 0) < (load[least] ?? 0)) least = i;
  }
  return least;
}
