/**
 * @module
 * The placement policy: which `auto` functions should leave their shard, for which tier, with how many partitions,
 * and when a promoted function comes back. Pure and deterministic: the shard measures its load, calls
 * {@link planPlacement}, and asks the registry for the moves it returns; nothing here reads a clock or a binding.
 *
 * The rules, in the order they are tried (docs/scaling.md, "Placement policy", says the same in prose):
 *
 * - **Who may move.** Only functions with `isolation: "auto"` (`pinned: false`) move, and only on the shard their
 *   placement points at (`placement.tier === shard.tier`): a function that already moved away keeps draining its old
 *   tasks on its old shard, where it still counts as a mate but is never moved again. A function moved less than
 *   `minDwellMs` ago does not move again, except that a dedicated function may gain partitions after `minDwellMs / 4`
 *   (load grows faster than it fades). A function that never moved (`reason: "initial"`) has no dwell.
 * - **Promotion to a dedicated shard** (from a shared or an account shard), for the first reason that holds:
 *   1. `backlog`: `queued ≥ promoteBacklog` and `queued ≥ dominance ×` the largest queue of any other function on
 *      the shard;
 *   2. `arrival-rate`: `arrivalsPerSec ≥ promoteRatePerSec` and `≥ dominance ×` the largest other arrival rate;
 *   3. `failures`: its failing calls (`inFlight × failingPerSec / callsPerSec`) hold at least `failureShare` of the
 *      shard's calls in flight, and the shard has at least {@link MIN_FAILURE_IN_FLIGHT} in flight;
 *   4. `shard-saturated`: the shard finishes `≥ shardCallsPerSec` calls/s, not counting the calls of functions that
 *      already moved away (they are leaving), and no other move (these rules or an account promotion) is planned
 *      for it; the movable function with the most calls/s goes, if it has at least a quarter of the shard's calls
 *      (one per shard per plan: the next measurement shows whether that was enough).
 *
 *   It starts with {@link partitionsFor}`(load, 1)` partitions. The lone function of an account shard is a special
 *   case: it has no mates to protect, and a dedicated shard's only advantage over an account shard of its own is
 *   partitions, which split the shard's work and not the function's window. So it moves only for arrival rate or
 *   saturation, and only when its call or arrival rate needs two partitions or more; never for backlog or failures
 *   alone (a deep queue behind a small window drains no faster on two shards).
 * - **Account promotion** (shared shards only): an account with at least `accountBusyFunctions` busy functions on the
 *   shard (each `queued ≥ promoteBacklog / 10` or `arrivalsPerSec ≥ promoteRatePerSec / 10`), none of which is
 *   promoted by the rules above, moves all its movable functions on the shard to an account shard.
 * - **Repartition** (dedicated shards): when {@link partitionsFor} differs from the current count.
 * - **Reclaim** (dedicated and account shards): a function with nothing queued, nothing in flight and no activity for
 *   `reclaimIdleMs` returns to the shared tier (the runtime picks the shared shard by hash).
 *
 * Hysteresis against flapping comes from three places: dwell (`minDwellMs` between two moves of a function), the
 * asymmetry between promotion (a threshold crossed now) and reclaim (idle for `reclaimIdleMs`, ten minutes by default,
 * so a load that comes back every few minutes stays promoted), and partitions that shrink only once the load is below
 * half of what the smaller count is sized for.
 */

import type { PlacementSettings } from "./settings";

export type Tier = "shared" | "account" | "dedicated";

/** Calls in flight a shard needs before the failure rule looks at it (a handful of slow calls is not a crowd). */
export const MIN_FAILURE_IN_FLIGHT = 8;
/** Share of the shard's calls/s the busiest function needs before saturation promotes it. */
export const SATURATION_SHARE = 0.25;
/** Fraction of promoteBacklog / promoteRatePerSec that makes a function "busy" for account promotion. */
export const BUSY_FRACTION = 0.1;

export interface FunctionPlacement {
  readonly tier: Tier;
  /** 1 unless dedicated. */
  readonly partitions: number;
  /** ms epoch of the last move (createdAt if never moved). */
  readonly since: number;
  /** Stable code of the last move, "initial" if never moved. */
  readonly reason: string;
  /** The function's isolation is not "auto": never move it automatically. */
  readonly pinned: boolean;
}

export interface FunctionLoad {
  readonly account: string;
  readonly name: string;
  readonly placement: FunctionPlacement;
  /** Tasks queued (ready or delayed-but-due) now. */
  readonly queued: number;
  /** Smoothed over the last minute. */
  readonly arrivalsPerSec: number;
  /** Calls finished per second, smoothed over the last minute. */
  readonly callsPerSec: number;
  /** Calls in flight now. */
  readonly inFlight: number;
  /** Calls that ended failed/timed out/throttled per second, smoothed. */
  readonly failingPerSec: number;
  /** ms epoch of the last arrival or call; 0 if never. */
  readonly lastActiveAt: number;
}

export interface ShardLoad {
  readonly tier: Tier;
  /** All calls in flight on the shard. */
  readonly inFlight: number;
  /** All calls finished per second on the shard. */
  readonly callsPerSec: number;
  /**
   * The functions with tasks or recent activity on the shard. On a dedicated shard, the function's load summed over
   * its partitions (partitions share one decision).
   */
  readonly functions: readonly FunctionLoad[];
}

export type PromoteReason = "backlog" | "arrival-rate" | "failures" | "shard-saturated";

export type PlacementMove =
  | {
      readonly kind: "promote";
      readonly account: string;
      readonly name: string;
      readonly partitions: number;
      readonly reason: PromoteReason;
    }
  | {
      readonly kind: "promote-account";
      readonly account: string;
      readonly functions: readonly string[];
      readonly reason: "busy-account";
    }
  | {
      readonly kind: "repartition";
      readonly account: string;
      readonly name: string;
      readonly partitions: number;
      readonly reason: "load";
    }
  | {
      readonly kind: "reclaim";
      readonly account: string;
      readonly name: string;
      readonly to: "shared" | "account";
      readonly reason: "idle";
    };

/** A non-negative finite number, else 0 (a load measured as NaN or negative says nothing). */
function nonNegative(n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** Partitions a load needs, without hysteresis: the larger of its backlog's and its rate's need, at least 1. */
function partitionsNeeded(load: Pick<FunctionLoad, "queued" | "arrivalsPerSec" | "callsPerSec">, s: PlacementSettings) {
  const rate = Math.max(nonNegative(load.arrivalsPerSec), nonNegative(load.callsPerSec));
  const byBacklog = Math.ceil(nonNegative(load.queued) / s.partitionBacklog);
  const byRate = Math.ceil(rate / s.partitionRatePerSec);
  return clampPartitions(Math.max(byBacklog, byRate), s);
}

function clampPartitions(n: number, s: PlacementSettings): number {
  const max = Math.max(1, Math.floor(s.maxPartitions));
  return Number.isFinite(n) ? Math.min(max, Math.max(1, Math.floor(n))) : 1;
}

/**
 * Partitions a dedicated function with this load should have (1..maxPartitions), with hysteresis against `current`.
 * The need is `max(ceil(queued / partitionBacklog), ceil(max(arrivalsPerSec, callsPerSec) / partitionRatePerSec))`.
 * Above `current` it is taken at once; below, the count falls only to the smallest `n ≥` the need whose load is under
 * half of what `n` partitions are sized for, so a load that hovers around a boundary keeps its partitions.
 * @example partitionsFor({ queued: 0, arrivalsPerSec: 450, callsPerSec: 300 }, 1, DEFAULT_PLACEMENT) // 3
 * @example partitionsFor({ queued: 0, arrivalsPerSec: 150, callsPerSec: 150 }, 2, DEFAULT_PLACEMENT) // 2 (150 ≥ 200 / 2)
 */
export function partitionsFor(
  load: Pick<FunctionLoad, "queued" | "arrivalsPerSec" | "callsPerSec">,
  current: number,
  settings: PlacementSettings,
): number {
  const need = partitionsNeeded(load, settings);
  const now = clampPartitions(current, settings);
  if (need >= now) return need;
  // Fewest partitions that would run at under half their size: floor(load / (size / 2)) + 1 for each dimension.
  const rate = Math.max(nonNegative(load.arrivalsPerSec), nonNegative(load.callsPerSec));
  const halfFull = Math.max(
    Math.floor(nonNegative(load.queued) / (settings.partitionBacklog / 2)) + 1,
    Math.floor(rate / (settings.partitionRatePerSec / 2)) + 1,
  );
  return Math.min(now, Math.max(need, clampPartitions(halfFull, settings)));
}

/** `<account>/<name>`, the order moves come out in. */
function keyOf(f: Pick<FunctionLoad, "account" | "name">): string {
  return `${f.account}/${f.name}`;
}

/** The functions in `<account>/<name>` order (keys built once: a shard may report thousands of functions). */
function sortedByKey(functions: readonly FunctionLoad[]): FunctionLoad[] {
  const keyed = functions.map((f) => ({ key: keyOf(f), f }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.map(({ f }) => f);
}

/** The largest and second largest of `value` over `functions`, so "the largest other" is O(1) per function. */
function topTwo(functions: readonly FunctionLoad[], value: (f: FunctionLoad) => number) {
  let first = 0;
  let second = 0;
  let firstAt = -1;
  functions.forEach((f, i) => {
    const v = value(f);
    if (v > first) {
      second = first;
      first = v;
      firstAt = i;
    } else if (v > second) second = v;
  });
  return (i: number) => (i === firstAt ? second : first);
}

/** Moved less than `dwellMs` ago. A function that never moved (reason "initial") does not dwell: a new function
 * that floods at once is promoted at once. */
function dwelling(f: FunctionLoad, now: number, dwellMs: number): boolean {
  return f.placement.reason !== "initial" && now - f.placement.since < dwellMs;
}

/** Whether the function may take a move now: unpinned, placed on this shard's tier, past its dwell. */
function movable(f: FunctionLoad, shard: ShardLoad, now: number, dwellMs: number): boolean {
  return !f.placement.pinned && f.placement.tier === shard.tier && !dwelling(f, now, dwellMs);
}

/** The share of a function's finished calls that failed (0 when none finished: no evidence yet). */
function failureRatio(f: FunctionLoad): number {
  const calls = nonNegative(f.callsPerSec);
  return calls > 0 ? Math.min(1, nonNegative(f.failingPerSec) / calls) : 0;
}

/**
 * Moves this shard should ask for now, at most one per function, hysteresis applied. Deterministic: the same load,
 * time and settings give the same moves, in `<account>/<name>` order (account promotions after function moves).
 * @example planPlacement({ tier: "shared", inFlight: 10, callsPerSec: 20, functions: [flood, quiet] }, now,
 *   DEFAULT_PLACEMENT) // [{ kind: "promote", account: "a", name: "flood", partitions: 1, reason: "arrival-rate" }]
 */
export function planPlacement(shard: ShardLoad, now: number, settings: PlacementSettings): PlacementMove[] {
  const functions = sortedByKey(shard.functions);
  return shard.tier === "dedicated"
    ? planDedicated(shard, functions, now, settings)
    : planShared(shard, functions, now, settings);
}

function planShared(
  shard: ShardLoad,
  functions: readonly FunctionLoad[],
  now: number,
  s: PlacementSettings,
): PlacementMove[] {
  const moves: PlacementMove[] = [];
  const moved = new Set<string>();
  const otherQueued = topTwo(functions, (f) => nonNegative(f.queued));
  const otherRate = topTwo(functions, (f) => nonNegative(f.arrivalsPerSec));
  const shardInFlight = nonNegative(shard.inFlight);
  const lone = shard.tier === "account" && functions.length === 1;

  functions.forEach((f, i) => {
    if (!movable(f, shard, now, s.minDwellMs)) return;
    const reclaim = reclaimMove(f, shard, now, s);
    if (reclaim) {
      moves.push(reclaim);
      moved.add(keyOf(f));
      return;
    }
    let reason: PromoteReason | undefined;
    const queued = nonNegative(f.queued);
    const rate = nonNegative(f.arrivalsPerSec);
    if (!lone && queued >= s.promoteBacklog && queued >= s.dominance * otherQueued(i)) reason = "backlog";
    else if (rate >= s.promoteRatePerSec && rate >= s.dominance * otherRate(i)) reason = "arrival-rate";
    else if (
      !lone &&
      shardInFlight >= MIN_FAILURE_IN_FLIGHT &&
      nonNegative(f.inFlight) * failureRatio(f) >= s.failureShare * shardInFlight
    )
      reason = "failures";
    if (reason === undefined) return;
    const partitions = partitionsFor(f, 1, s);
    if (lone && byRateOnly(f, s) < 2) return;
    moves.push({ kind: "promote", account: f.account, name: f.name, partitions, reason });
    moved.add(keyOf(f));
  });

  if (shard.tier === "shared") moves.push(...accountMoves(functions, moved, now, s));
  // Saturation is the shard's own problem, not one function's: any move above already relieves it, and the next
  // measurement shows whether that was enough. So it promotes only when nothing else moves.
  if (moves.length === 0) {
    const saturated = saturationMove(shard, functions, moved, now, s, lone);
    if (saturated) moves.push(saturated);
  }
  return moves;
}

/** Partitions the function's rate alone needs (what a lone function on an account shard must justify). */
function byRateOnly(f: FunctionLoad, s: PlacementSettings): number {
  return partitionsNeeded({ queued: 0, arrivalsPerSec: f.arrivalsPerSec, callsPerSec: f.callsPerSec }, s);
}

/** Rule 4: the shard is near its own limit; its busiest movable caller leaves if it carries a quarter of the calls. */
function saturationMove(
  shard: ShardLoad,
  functions: readonly FunctionLoad[],
  moved: ReadonlySet<string>,
  now: number,
  s: PlacementSettings,
  lone: boolean,
): PlacementMove | undefined {
  // Calls of functions that already moved away still fade from the shard's smoothed rate; they are leaving, so they
  // do not count (or one saturated shard would promote a second function while the first one's average decays).
  let leaving = 0;
  for (const f of functions) if (f.placement.tier !== shard.tier) leaving += nonNegative(f.callsPerSec);
  const shardCalls = Math.max(0, nonNegative(shard.callsPerSec) - leaving);
  if (shardCalls < s.shardCallsPerSec) return undefined;
  let busiest: FunctionLoad | undefined;
  for (const f of functions) {
    if (moved.has(keyOf(f)) || !movable(f, shard, now, s.minDwellMs)) continue;
    if (!busiest || nonNegative(f.callsPerSec) > nonNegative(busiest.callsPerSec)) busiest = f;
  }
  if (!busiest || nonNegative(busiest.callsPerSec) < SATURATION_SHARE * shardCalls) return undefined;
  if (lone && byRateOnly(busiest, s) < 2) return undefined;
  const partitions = partitionsFor(busiest, 1, s);
  return { kind: "promote", account: busiest.account, name: busiest.name, partitions, reason: "shard-saturated" };
}

/** Accounts with several busy functions on a shared shard, none of them promoted alone, move as a whole. */
function accountMoves(
  functions: readonly FunctionLoad[],
  moved: ReadonlySet<string>,
  now: number,
  s: PlacementSettings,
): PlacementMove[] {
  const byAccount = new Map<string, FunctionLoad[]>();
  for (const f of functions) {
    const list = byAccount.get(f.account) ?? [];
    list.push(f);
    byAccount.set(f.account, list);
  }
  const moves: PlacementMove[] = [];
  const busy = (f: FunctionLoad) =>
    nonNegative(f.queued) >= s.promoteBacklog * BUSY_FRACTION ||
    nonNegative(f.arrivalsPerSec) >= s.promoteRatePerSec * BUSY_FRACTION;
  for (const [account, list] of [...byAccount].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    // A function of the account that is promoted alone is the dominant one: the account stays.
    if (list.some((f) => moved.has(keyOf(f)))) continue;
    const candidates = list.filter((f) => !f.placement.pinned && f.placement.tier === "shared");
    if (candidates.some((f) => dwelling(f, now, s.minDwellMs))) continue;
    if (candidates.filter(busy).length < s.accountBusyFunctions) continue;
    moves.push({ kind: "promote-account", account, functions: candidates.map((f) => f.name), reason: "busy-account" });
  }
  return moves;
}

/** Reclaim from a dedicated or account shard: nothing queued, nothing in flight, idle for reclaimIdleMs. */
function reclaimMove(f: FunctionLoad, shard: ShardLoad, now: number, s: PlacementSettings): PlacementMove | undefined {
  if (shard.tier === "shared") return undefined;
  if (nonNegative(f.queued) > 0 || nonNegative(f.inFlight) > 0) return undefined;
  if (f.lastActiveAt > now - s.reclaimIdleMs) return undefined;
  return { kind: "reclaim", account: f.account, name: f.name, to: "shared", reason: "idle" };
}

function planDedicated(
  shard: ShardLoad,
  functions: readonly FunctionLoad[],
  now: number,
  s: PlacementSettings,
): PlacementMove[] {
  const moves: PlacementMove[] = [];
  for (const f of functions) {
    if (!movable(f, shard, now, s.minDwellMs / 4)) continue;
    const settled = !dwelling(f, now, s.minDwellMs);
    const reclaim = settled ? reclaimMove(f, shard, now, s) : undefined;
    if (reclaim) {
      moves.push(reclaim);
      continue;
    }
    const current = clampPartitions(f.placement.partitions, s);
    const partitions = partitionsFor(f, current, s);
    // Up after a quarter of the dwell (load grows fast), down only after the whole dwell.
    const allowed = partitions > current || (partitions < current && settled);
    // A stored count outside today's bounds (maxPartitions lowered) is corrected as a repartition too.
    if (allowed || (partitions === current && current !== f.placement.partitions && settled))
      moves.push({ kind: "repartition", account: f.account, name: f.name, partitions, reason: "load" });
  }
  return moves;
}
