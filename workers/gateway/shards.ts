/**
 * @module
 * Where a function's tasks are: its current shard first, then shards it was placed on before (newest tasks first).
 */

import type { FunctionRecord } from "../../src/records";
import { registry } from "../platform/registry-client";

export function shardsOf(fn: FunctionRecord): string[] {
  return [fn.shard, ...[...(fn.previousShards ?? [])].reverse()];
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
