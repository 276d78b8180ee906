/**
 * @module
 * When the shard must next look at its tasks: the earliest of what each part asks for.
 */

import { nextAttention } from "./attention";
import type { ShardContext } from "./context";
import { MORE_DISPATCH_MS } from "./dispatch";
import { nextFlushAt } from "./finish-buffer";
import { nextUnpause } from "./governor";
import { BULK_CONTINUE_MS } from "./operations";
import { deliveryTiming, HANDOFF_RETRY_MS, nextSilenceCheck } from "./outbox";
import { nextRetentionWake } from "./retention";
import { nextScheduleWake } from "./schedules";

/**
 * When the shard must next look at its tasks: a delay or backoff ending, a lease running out, a task reaching its
 * age limit, an idempotency key expiring, unfinished bulk work, a dispatch pass that stopped at its budget, or a
 * schedule's next tick.
 */
export function nextWakeAt(ctx: ShardContext, now: number, moreReady: boolean): number | null {
  const times: (number | null)[] = [
    moreReady ? now + MORE_DISPATCH_MS : null,
    ctx.sql.exec<{ t: number | null }>(`SELECT MIN(lease_until) AS t FROM tasks WHERE state = 'running'`).one().t,
    ctx.sql.exec<{ t: number | null }>(`SELECT MIN(expires_at) AS t FROM idempotency`).one().t,
    ctx.sql.exec(`SELECT 1 FROM bulk_ops LIMIT 1`).toArray().length > 0 ? now + BULK_CONTINUE_MS : null,
    ctx.handoffsWaiting && ctx.sql.exec(`SELECT 1 FROM deliveries WHERE handed_off = 0 LIMIT 1`).toArray().length > 0
      ? now + HANDOFF_RETRY_MS
      : null,
    nextRetentionWake(ctx.sql),
    nextSilenceCheck(ctx.sql, deliveryTiming(ctx)),
    // The earliest tick of every schedule on the shard (one indexed MIN), or soon when rows wait to move.
    nextScheduleWake(ctx, now),
    ctx.sql.exec(`SELECT 1 FROM r2_garbage LIMIT 1`).toArray().length > 0 ? now + HANDOFF_RETRY_MS : null,
  ];
  // Due tasks and age limits of every function, from the in-memory attention times (attention.ts); a delay or backoff
  // ending is also read from one index, so a due time that was not noted still wakes the shard.
  times.push(nextAttention(ctx, now));
  // A function held by Retry-After has no call whose report would wake the shard when the pause ends.
  times.push(nextUnpause(ctx, now));
  // Finished tasks' timings still in memory are written by the alarm (an idle shard may be evicted).
  times.push(nextFlushAt(ctx));
  times.push(
    ctx.sql
      .exec<{ t: number | null }>(
        `SELECT MIN(not_before) AS t FROM tasks WHERE state = 'queued' AND not_before > ?`,
        now,
      )
      .one().t,
  );
  const valid = times.filter((t): t is number => typeof t === "number");
  return valid.length === 0 ? null : Math.max(now, Math.min(...valid));
}
