/**
 * @module
 * One level of deficit round robin (Shreedhar and Varghese, 1996). Active children take turns in a fixed order; a turn
 * credits the child one quantum, and the child is served while its deficit covers the cost of its next call, then the
 * turn moves on. The state persists between dispatch passes, so a pass that fills one freed slot continues the
 * rotation where the previous pass left it. A child that leaves the active set loses its deficit: nobody banks credit
 * while idle. When no child can pay for its next call in a whole round (costs above one quantum), whole rounds are
 * credited at once, so a pass never spins.
 */

/** Credit one turn gives, in cost units. */
export const QUANTUM = 1;

export interface DrrLevel {
  readonly deficits: Map<string, number>;
  /** The child holding the turn. */
  turn: string | undefined;
  /** Whether that child has had its quantum for this turn. */
  credited: boolean;
}

export function newDrrLevel(): DrrLevel {
  return { deficits: new Map(), turn: undefined, credited: false };
}

/** Forget the deficit of every child not in `active` (memory stays bounded by the active children). */
export function retainActive(level: DrrLevel, active: ReadonlySet<string>): void {
  for (const key of level.deficits.keys()) if (!active.has(key)) level.deficits.delete(key);
}

/** Index of `key` in the ascending `sorted`, or of the first child after it (wrapping to 0). */
function positionOf(sorted: readonly string[], key: string | undefined): { index: number; found: boolean } {
  if (key === undefined) return { index: 0, found: false };
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] ?? "") < key) lo = mid + 1;
    else hi = mid;
  }
  if (sorted[lo] === key) return { index: lo, found: true };
  return { index: lo % sorted.length, found: false };
}

/**
 * The child to serve next among `active` (ascending, distinct), crediting turns as round robin does. It does not
 * charge (call {@link charge} when the call is dispatched), so asking twice without charging gives the same child.
 * @example nextTurn(newDrrLevel(), ["a", "b"], () => 1) // "a"
 */
export function nextTurn(
  level: DrrLevel,
  active: readonly string[],
  costOf: (key: string) => number,
): string | undefined {
  const n = active.length;
  if (n === 0) return undefined;
  const at = positionOf(active, level.turn);
  let index = at.index;
  if (!at.found) level.credited = false;
  const deficit = (key: string) => level.deficits.get(key) ?? 0;
  // One round visits every child once; after it, whole rounds are credited at once; the round after that must pay.
  for (let visit = 0; visit < 2 * n + 1; visit++) {
    const key = active[index] as string;
    level.turn = key;
    if (!level.credited) {
      level.deficits.set(key, deficit(key) + QUANTUM);
      level.credited = true;
    }
    if (deficit(key) >= costOf(key)) return key;
    if (visit === n - 1) {
      let rounds = Number.POSITIVE_INFINITY;
      for (const k of active) rounds = Math.min(rounds, Math.ceil((costOf(k) - deficit(k)) / QUANTUM));
      if (rounds > 1) for (const k of active) level.deficits.set(k, deficit(k) + (rounds - 1) * QUANTUM);
    }
    index = (index + 1) % n;
    level.credited = false;
  }
  // Unreachable with finite costs; serve the child holding the turn rather than nothing.
  return level.turn;
}

/** The child got a call of `cost`: take it from its deficit (the turn stays with it while the deficit lasts). */
export function charge(level: DrrLevel, key: string, cost: number): void {
  level.deficits.set(key, (level.deficits.get(key) ?? 0) - cost);
}
