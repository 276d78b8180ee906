/**
 * @module
 * Where a function's tasks are: its current shard first, then shards it was placed on before (newest tasks first).
 */

import type { FunctionRecord } from "../../src/records";

export function shardsOf(fn: FunctionRecord): string[] {
  return [fn.shard, ...[...(fn.previousShards ?? [])].reverse()];
}

export function shard(env: Env, name: string) {
  return env.SHARD.getByName(name);
}
