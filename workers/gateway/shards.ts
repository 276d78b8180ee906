/**
 * @module
 * Where a function's tasks are: its current shards (every partition) first, then shards it was placed on before.
 */

import { currentShards, shardsHolding } from "../../src/placement";
import type { FunctionRecord } from "../../src/records";
import { registry } from "../platform/registry-client";

export function shardsOf(fn: FunctionRecord): string[] {
  return shardsHolding(fn);
}

export function shard(env: Env, name: string) {
  return env.SHARD.getByName(name);
}

/** Every shard holding tasks of any of the account's functions (paging through the registry's function list). */
export async function shardsOfAccount(env: Env, account: string): Promise<string[]> {
  const shards = new Set<string>();
  let after: string | undefined;
  do {
    const page = await registry(env).listFunctions(account, 100, after);
    for (const fn of page.functions) for (const name of shardsOf(fn)) shards.add(name);
    after = page.next;
  } while (after);
  return [...shards];
}

/**
 * The account's functions (at most `cap`, the first by name) grouped by every shard holding their tasks, each marked
 * with whether that shard is the function's current one: what account stats and metrics ask each shard about.
 */
export async function observedByShard(
  env: Env,
  account: string,
  cap: number,
): Promise<{
  functions: FunctionRecord[];
  byShard: Map<string, { name: string; current: boolean }[]>;
  truncated: boolean;
}> {
  const functions: FunctionRecord[] = [];
  let after: string | undefined;
  let truncated = false;
  do {
    const page = await registry(env).listFunctions(account, Math.min(100, cap - functions.length), after);
    functions.push(...page.functions);
    after = page.next;
    if (after && functions.length >= cap) {
      truncated = true;
      break;
    }
  } while (after);
  const byShard = new Map<string, { name: string; current: boolean }[]>();
  for (const fn of functions) {
    for (const name of shardsOf(fn)) {
      const list = byShard.get(name) ?? [];
      list.push({ name: fn.name, current: currentShards(fn).includes(name) });
      byShard.set(name, list);
    }
  }
  return { functions, byShard, truncated };
}
