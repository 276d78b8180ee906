/**
 * @module
 * Who gets a shard's free call slots: hierarchical deficit round robin (drr.ts), across accounts first, then across
 * each account's functions (fairness keys, the third level, are ordered inside a function by shard/lanes.ts). A call
 * costs its function's recent execution time in units of {@link COST_UNIT_MS}, so shares are shares of slot time:
 * a tenant of 10 s calls does not hold 100 times the slots of one with 100 ms calls. The allocation is work
 * conserving: it stops only when the slots run out or no function has both ready work and room (its AIMD window,
 * `maxConcurrency`, its account's `maxConcurrency`).
 */

import { charge, type DrrLevel, newDrrLevel, nextTurn, retainActive } from "./drr";

/** Execution time one cost unit stands for. */
export const COST_UNIT_MS = 100;
/** The most a single call costs (a call of 10 minutes and one of an hour weigh the same). */
export const MAX_COST = 6_000;

/** Cost units of one call of a function whose calls take `executionMs` (at least 1: every call costs something). */
export function callCost(executionMs: number | undefined): number {
  if (executionMs === undefined || !Number.isFinite(executionMs)) return 1;
  return Math.min(MAX_COST, Math.max(1, Math.round(executionMs / COST_UNIT_MS)));
}

export interface Demand {
  readonly account: string;
  /** The function's key (unique). */
  readonly key: string;
  /** Tasks ready to run now (may be capped by the caller). */
  readonly ready: number;
  /** Calls it may start now: its window minus its calls in flight. */
  readonly room: number;
  /** Cost units of one of its calls ({@link callCost}). */
  readonly cost: number;
}

/** The rotation state of both levels, kept by the shard between passes. */
export interface FairShareState {
  readonly accounts: DrrLevel;
  readonly functions: Map<string, DrrLevel>;
}

export function newFairShareState(): FairShareState {
  return { accounts: newDrrLevel(), functions: new Map() };
}

export interface Allocation {
  /** Calls to start per function key. */
  readonly calls: Map<string, number>;
  /** True when slots ran out while some function still had ready work and room. */
  readonly more: boolean;
}

/**
 * Share `slots` calls among `demands`. `accountRoom(account)` is how many more calls the account may start (its
 * `maxConcurrency` minus its calls in flight; Infinity without a limit).
 * @example allocateFairly(newFairShareState(), [{ account: "a", key: "a/f", ready: 9, room: 9, cost: 1 },
 *   { account: "b", key: "b/g", ready: 9, room: 9, cost: 1 }], 4, () => Infinity).calls // a/f: 2, b/g: 2
 */
export function allocateFairly(
  state: FairShareState,
  demands: readonly Demand[],
  slots: number,
  accountRoom: (account: string) => number,
): Allocation {
  const left = new Map<string, number>();
  const cost = new Map<string, number>();
  const byAccount = new Map<string, string[]>();
  for (const d of demands) {
    const n = Math.max(0, Math.min(d.ready, d.room));
    if (n === 0) continue;
    left.set(d.key, n);
    cost.set(d.key, Math.max(1, d.cost));
    const keys = byAccount.get(d.account) ?? [];
    keys.push(d.key);
    byAccount.set(d.account, keys);
  }
  const accountLeft = new Map<string, number>();
  for (const account of byAccount.keys()) accountLeft.set(account, Math.max(0, accountRoom(account)));
  forgetIdle(state, byAccount);

  const active = [...byAccount.keys()].filter((a) => (accountLeft.get(a) ?? 0) > 0).sort();
  for (const keys of byAccount.values()) keys.sort();
  const levelOf = (account: string): DrrLevel => {
    let level = state.functions.get(account);
    if (!level) {
      level = newDrrLevel();
      state.functions.set(account, level);
    }
    return level;
  };
  const costOfKey = (key: string) => cost.get(key) ?? 1;
  // The account pays what the function it would serve next costs.
  const innerPick = (account: string) => nextTurn(levelOf(account), byAccount.get(account) ?? [], costOfKey);
  const costOfAccount = (account: string) => costOfKey(innerPick(account) ?? "");

  const calls = new Map<string, number>();
  let remaining = Math.max(0, Math.floor(slots));
  while (remaining > 0 && active.length > 0) {
    const account = nextTurn(state.accounts, active, costOfAccount);
    const key = account === undefined ? undefined : innerPick(account);
    if (account === undefined || key === undefined) break;
    const c = costOfKey(key);
    charge(state.accounts, account, c);
    charge(levelOf(account), key, c);
    calls.set(key, (calls.get(key) ?? 0) + 1);
    remaining--;
    const fnLeft = (left.get(key) ?? 1) - 1;
    left.set(key, fnLeft);
    const keys = byAccount.get(account) ?? [];
    if (fnLeft === 0) keys.splice(keys.indexOf(key), 1);
    const acctLeft = (accountLeft.get(account) ?? 1) - 1;
    accountLeft.set(account, acctLeft);
    if (keys.length === 0 || acctLeft === 0) active.splice(active.indexOf(account), 1);
  }
  return { calls, more: active.length > 0 };
}

/** Children with nothing to run lose their credit; accounts with nothing to run lose their function rotation. */
function forgetIdle(state: FairShareState, byAccount: ReadonlyMap<string, readonly string[]>): void {
  retainActive(state.accounts, new Set(byAccount.keys()));
  for (const [account, level] of state.functions) {
    const keys = byAccount.get(account);
    if (!keys) state.functions.delete(account);
    else retainActive(level, new Set(keys));
  }
}
