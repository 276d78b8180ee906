/**
 * @module
 * Fair dispatch inside a shard: round robin with a quantum of one task (deficit round robin with equal weights and
 * unit cost), so one function with a deep backlog cannot starve the others sharing the shard.
 */

export interface DispatchCandidate {
  readonly key: string;
  /** How many more tasks this function may have in flight now (its window minus in-flight). */
  readonly room: number;
  /** How many of its tasks are ready to run (may be capped by the caller). */
  readonly ready: number;
}

/**
 * Decide how many tasks of each candidate to dispatch in this pass, at most `budget` in total, starting the rotation
 * at `start` so successive passes do not always favour the first function.
 * @example allocateDispatch([{ key: "a", room: 5, ready: 100 }, { key: "b", room: 5, ready: 1 }], 4, 0) // a:3, b:1
 */
export function allocateDispatch(
  candidates: readonly DispatchCandidate[],
  budget: number,
  start = 0,
): Map<string, number> {
  const allocation = new Map<string, number>();
  const limits = candidates.map((c) => Math.max(0, Math.min(c.room, c.ready)));
  let remaining = budget;
  let progressed = true;
  while (remaining > 0 && progressed) {
    progressed = false;
    for (let offset = 0; offset < candidates.length && remaining > 0; offset++) {
      const index = (start + offset) % candidates.length;
      const candidate = candidates[index];
      const limit = limits[index] ?? 0;
      if (!candidate) continue;
      const given = allocation.get(candidate.key) ?? 0;
      if (given < limit) {
        allocation.set(candidate.key, given + 1);
        remaining--;
        progressed = true;
      }
    }
  }
  return allocation;
}

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
