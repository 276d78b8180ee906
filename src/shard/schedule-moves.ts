/**
 * @module
 * Moving a function's schedules to the shard it lives on now (its isolation changed): the old shard marks the rows
 * `moved_to` (schedules.ts notePlacement) so they stop firing there, the Durable Object hands them over in batches
 * (durable-objects/shard-schedules.ts), the new shard adopts them keeping the latest tick fired, and only then does
 * the old shard forget them. So each tick fires on the old shard or the new one, never both, and no schedule is lost
 * on the way: a failed hand-off leaves the rows, not firing, for the next alarm.
 */

import type { FunctionRecord, ScheduleTransfer } from "../records";
import { INT_PARAM } from "../sql";
import { functionKey, type ShardContext } from "./context";
import { upsertFunction } from "./functions";
import { nextRunAt, readSchedule, type ScheduleRow } from "./schedules";

/** Rows handed to another shard per hand-off (one RPC). */
export const MOVE_BATCH = 100;

/** Rows waiting to move to another shard: the first such shard's, at most MOVE_BATCH, with the function record. */
export function outboundSchedules(
  ctx: ShardContext,
): { to: string; fn: FunctionRecord | undefined; rows: ScheduleTransfer[] } | undefined {
  const first = ctx.sql.exec<ScheduleRow>(`SELECT * FROM schedules WHERE moved_to IS NOT NULL LIMIT 1`).toArray()[0];
  if (!first?.moved_to) return undefined;
  const rows = ctx.sql
    .exec<ScheduleRow>(
      `SELECT * FROM schedules WHERE moved_to = ? AND account = ? AND function = ? LIMIT ${INT_PARAM}`,
      first.moved_to,
      first.account,
      first.function,
      MOVE_BATCH,
    )
    .toArray();
  return {
    to: first.moved_to,
    fn: ctx.functions.get(functionKey(first.account, first.function)),
    rows: rows.map(transferOf),
  };
}

function transferOf(row: ScheduleRow): ScheduleTransfer {
  return {
    account: row.account,
    function: row.function,
    id: row.id,
    cron: row.cron,
    timezone: row.timezone,
    payload: row.payload,
    contentType: row.content_type,
    paused: row.paused === 1,
    origin: row.origin,
    anchor: row.anchor,
    lastTick: row.last_tick,
    lastRunAt: row.last_run_at,
    lastTaskId: row.last_task_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * Forget rows another shard adopted (only those unchanged since they were sent). Returns the ids sent that are no
 * longer here: deleted by their owner while the hand-off was on its way, so the new shard must delete them too.
 */
export function forgetMoved(ctx: ShardContext, to: string, rows: readonly ScheduleTransfer[]): string[] {
  const gone: string[] = [];
  for (const sent of rows) {
    const deleted = ctx.sql
      .exec(
        `DELETE FROM schedules WHERE account = ? AND function = ? AND id = ? AND moved_to = ? RETURNING id`,
        sent.account,
        sent.function,
        sent.id,
        to,
      )
      .toArray().length;
    if (deleted === 0) gone.push(sent.id);
  }
  return gone;
}

/** The new shard refused the rows: the function moved on again (or was deleted, `to` undefined). */
export function redirectMoved(ctx: ShardContext, account: string, fnName: string, from: string, to?: string): void {
  if (to === undefined) {
    ctx.sql.exec(`DELETE FROM schedules WHERE account = ? AND function = ? AND moved_to = ?`, account, fnName, from);
  } else {
    ctx.sql.exec(
      `UPDATE schedules SET moved_to = ? WHERE account = ? AND function = ? AND moved_to = ?`,
      to,
      account,
      fnName,
      from,
    );
  }
}

/**
 * Take rows another shard hands over. Refused unless the function lives here now (`movedTo` says where it went,
 * undefined when it is gone). A row already here (put while the hand-off travelled) keeps the newer settings, and
 * both keep the latest tick fired, so the tick fired on the old shard is not fired again here.
 */
export function adoptSchedules(
  ctx: ShardContext,
  shard: string,
  fn: FunctionRecord,
  rows: readonly ScheduleTransfer[],
): { ok: true; adopted: number } | { ok: false; movedTo?: string } {
  upsertFunction(ctx, fn);
  const known = ctx.functions.get(functionKey(fn.account, fn.name));
  if (!known) return { ok: false };
  if (known.shard !== shard) return { ok: false, movedTo: known.shard };
  let adopted = 0;
  for (const sent of rows) {
    if (sent.account !== fn.account || sent.function !== fn.name) continue;
    const here = readSchedule(ctx, sent.account, sent.function, sent.id);
    const newer = here && here.updated_at >= sent.updatedAt ? transferOf(here) : sent;
    const lastTick = Math.max(here?.last_tick ?? -1, sent.lastTick ?? -1);
    const lastFrom = (here?.last_tick ?? -1) >= (sent.lastTick ?? -1) && here ? transferOf(here) : sent;
    const anchor = Math.max(here?.anchor ?? 0, sent.anchor);
    const paused = newer.paused ? 1 : 0;
    ctx.sql.exec(
      `INSERT INTO schedules (account, function, id, cron, timezone, payload, content_type, paused, origin, home,
         moved_to, anchor, next_run_at, last_tick, last_run_at, last_task_id, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (account, function, id) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,
         payload = excluded.payload, content_type = excluded.content_type, paused = excluded.paused,
         origin = excluded.origin, home = excluded.home, moved_to = NULL, anchor = excluded.anchor,
         next_run_at = excluded.next_run_at, last_tick = excluded.last_tick, last_run_at = excluded.last_run_at,
         last_task_id = excluded.last_task_id, updated_at = excluded.updated_at`,
      sent.account,
      sent.function,
      sent.id,
      newer.cron,
      newer.timezone,
      newer.payload,
      newer.contentType,
      paused,
      newer.origin,
      shard,
      anchor,
      nextRunAt({ cron: newer.cron, timezone: newer.timezone, paused, anchor }),
      lastTick < 0 ? null : lastTick,
      lastFrom.lastRunAt,
      lastFrom.lastTaskId,
      newer.createdAt,
      newer.updatedAt,
    );
    adopted++;
  }
  return { ok: true, adopted };
}
