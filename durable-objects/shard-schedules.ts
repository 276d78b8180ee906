/**
 * @module
 * The side effects of a shard's schedules, run by its alarm (durable-objects/shard.ts): minting the due ticks' task
 * ids (an HMAC, so async, and so outside the transaction that fires them) and handing a moved function's schedules
 * to its new shard. The decisions are src/shard/schedules.ts's.
 */

import { mintDerivedTaskId } from "../src/ids";
import type { ShardStore, TickPlan } from "../src/shard";
import { logError } from "../workers/platform/log";
import { taskIdKey } from "../workers/platform/registry-client";
import type { Transactions } from "./shard-effects";

/** Hand-offs one alarm makes at most (each moves up to MOVE_BATCH rows of one function). */
const MOVES_PER_ALARM = 10;

/**
 * Fire the due ticks: plan (read), mint each tick's derived id, then fire in one transaction that re-checks every
 * row, so a plan overtaken by a change or another pass fires nothing. Returns how many tasks were fired.
 */
export async function fireDueSchedules(
  store: ShardStore,
  storage: Transactions,
  env: Env,
  shard: string,
): Promise<number> {
  const plans = store.planTicks(Date.now());
  if (plans.length === 0) return 0;
  const key = await taskIdKey(env);
  const taskIds = new Map<TickPlan, string>();
  for (const plan of plans) {
    if (plan.tick === null) continue;
    taskIds.set(plan, await mintDerivedTaskId(key, plan.account, shard, plan.tick, plan.label));
  }
  return storage.transactionSync(() => store.fireTicks(shard, plans, taskIds, Date.now())).length;
}

/**
 * Hand schedules of functions that moved away to the shard they live on now. Rows are forgotten here only once the
 * new shard adopted them; a failure leaves them (not firing) for the next alarm. Rows deleted by their owner while a
 * hand-off travelled are deleted on the new shard too.
 */
export async function moveSchedules(store: ShardStore, storage: Transactions, env: Env, shard: string): Promise<void> {
  for (let round = 0; round < MOVES_PER_ALARM; round++) {
    const outbound = store.outboundSchedules();
    if (!outbound) return;
    const { to, fn, rows } = outbound;
    const first = rows[0];
    if (!first) return;
    if (!fn) {
      // The function is gone here: its schedules go with it.
      storage.transactionSync(() => store.redirectMovedSchedules(first.account, first.function, to));
      continue;
    }
    try {
      const target = env.SHARD.getByName(to);
      const answer = await target.adoptSchedules(fn, rows);
      if (!answer.ok) {
        storage.transactionSync(() => store.redirectMovedSchedules(fn.account, fn.name, to, answer.movedTo));
        continue;
      }
      const gone = storage.transactionSync(() => store.forgetMovedSchedules(to, rows));
      for (const id of gone) await target.deleteSchedule(fn.account, fn.name, id);
    } catch (error) {
      logError("schedule hand-off failed; the alarm retries", error, { shard, to });
      return;
    }
  }
}
