/**
 * @module
 * User operations on tasks: cancel / pause / resume / retry one task or many (by ids, or by state in bounded chunks
 * from the `bulk_ops` table), purge, redeliver.
 */

import type { AbortOrder, BulkFilter, BulkResult, TaskOperation } from "../records";
import type { OperationResult, PurgeResult, RedeliverResult } from "../results";
import { INT_PARAM } from "../sql";
import { isTerminal, sourcesOf, type TaskState, transition } from "../task-states";
import { noteQueued } from "./attention";
import { CANCELLED_WHILE_RUNNING, functionOf, readRow, readRowWithBodies, type ShardContext } from "./context";
import { noteTransition } from "./events";
import { cancelBeforeArrival, isPurged } from "./intake";
import { fullView } from "./listing";
import { recordEnding } from "./observations";
import { readDelivery } from "./outbox";
import { closeCurrentAttempt } from "./outcomes";
import { IN_FLIGHT_WINDOW_MS, purgeAt, removeTask } from "./retention";
import type { TaskRow } from "./schema";

/** Tables this part owns (bulk operations still running in the background); applied by schema.ts. */
export const BULK_OPS_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS bulk_ops (
     op_id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, function TEXT NOT NULL, op TEXT NOT NULL,
     from_state TEXT NOT NULL, until_seq INTEGER NOT NULL, created_at INTEGER NOT NULL)`,
];

/** Tasks one bulk-operation chunk changes; larger operations continue chunk by chunk from the alarm. */
export const BULK_CHUNK = 1000;
/** Chunks one call or alarm runs before yielding (about 5,000 row updates: well inside the 30 s CPU limit). */
export const BULK_CHUNKS_PER_CALL = 5;
/** Pause between background bulk chunks, so other requests to the shard get served in between. */
export const BULK_CONTINUE_MS = 20;

/** Which states an operation applied in bulk by state starts from: the table's, but a shard never holds `accepted`. */
function bulkSourceStates(op: TaskOperation): readonly TaskState[] {
  return sourcesOf(op).filter((state) => state !== "accepted");
}

/** cancel / pause / resume / retry one task. A refused transition names the current state. */
export function operate(
  ctx: ShardContext,
  account: string,
  id: string,
  op: TaskOperation,
  now: number,
  createdAt = now,
): OperationResult {
  const row = readRow(ctx, id);
  if (!row || row.account !== account) {
    // Cancelling a task still in the ingest queue: leave a cancelled placeholder that its arrival will not revive.
    // Only a young id can still be on its way; an older unknown one is gone (its tombstone may have expired).
    const mayBeInFlight = now - createdAt < IN_FLIGHT_WINDOW_MS;
    if (op === "cancel" && !row && mayBeInFlight && !isPurged(ctx, id))
      return cancelBeforeArrival(ctx, account, id, now);
    return { ok: false, reason: "not_found" };
  }
  const applied = operateRow(ctx, row, op, now);
  if (!applied.ok) return { ok: false, reason: "conflict", state: row.state };
  const fresh = readRowWithBodies(ctx, id);
  if (!fresh) return { ok: false, reason: "not_found" };
  return { ok: true, task: fullView(ctx, fresh), ...(applied.abort ? { abort: applied.abort } : {}) };
}

/** Remove an ended task for good. Returns the R2 keys the caller must delete. */
export function purge(ctx: ShardContext, account: string, id: string, now: number): PurgeResult {
  const row = readRow(ctx, id);
  if (!row || row.account !== account) return { ok: false, reason: "not_found" };
  if (!isTerminal(row.state)) return { ok: false, reason: "conflict", state: row.state };
  const r2Keys = [row.payload_r2, row.result_r2].filter((k): k is string => typeof k === "string");
  // The keys also go to the garbage outbox: if the caller's delete fails, the alarm deletes them later.
  removeTask(ctx.sql, row, now, false);
  return { ok: true, r2Keys };
}

/**
 * Apply an operation to many tasks of one function: by ids (at most 1,000, applied now) or by state (the first
 * chunk now, the rest by the alarm in bounded chunks; an empty filter is refused by the gateway).
 */
export function bulk(
  ctx: ShardContext,
  account: string,
  fnName: string,
  op: TaskOperation,
  filter: BulkFilter,
  now: number,
): BulkResult {
  if (filter.ids) {
    const aborts: AbortOrder[] = [];
    let affected = 0;
    for (const id of filter.ids) {
      const row = readRow(ctx, id);
      if (!row || row.account !== account || row.function !== fnName) continue;
      if (filter.state && row.state !== filter.state) continue;
      const applied = operateRow(ctx, row, op, now);
      if (!applied.ok) continue;
      affected++;
      if (applied.abort) aborts.push(applied.abort);
    }
    return { affected, completed: affected, aborts };
  }
  const fromStates = filter.state ? [filter.state] : bulkSourceStates(op);
  let affected = 0;
  let completed = 0;
  const aborts: AbortOrder[] = [];
  for (const fromState of fromStates) {
    const untilSeq = ctx.sql.exec<{ s: number | null }>(`SELECT MAX(seq) AS s FROM tasks`).one().s ?? 0;
    affected += ctx.sql
      .exec<{ n: number }>(
        `SELECT COUNT(*) AS n FROM tasks WHERE account = ? AND function = ? AND state = ? AND seq <= ?`,
        account,
        fnName,
        fromState,
        untilSeq,
      )
      .one().n;
    const first = bulkChunk(ctx, account, fnName, op, fromState, untilSeq, now);
    completed += first.changed;
    aborts.push(...first.aborts);
    if (first.more) {
      ctx.sql.exec(
        `INSERT INTO bulk_ops (account, function, op, from_state, until_seq, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
        account,
        fnName,
        op,
        fromState,
        untilSeq,
        now,
      );
    }
  }
  return { affected, completed, aborts };
}

/** Continue background bulk operations for a bounded number of chunks. */
export function continueBulk(ctx: ShardContext, now: number): { aborts: AbortOrder[] } {
  const aborts: AbortOrder[] = [];
  for (let chunk = 0; chunk < BULK_CHUNKS_PER_CALL; chunk++) {
    const op = ctx.sql
      .exec<{
        op_id: number;
        account: string;
        function: string;
        op: TaskOperation;
        from_state: TaskState;
        until_seq: number;
      }>(`SELECT * FROM bulk_ops ORDER BY op_id LIMIT 1`)
      .toArray()[0];
    if (!op) break;
    const result = bulkChunk(ctx, op.account, op.function, op.op, op.from_state, op.until_seq, now);
    aborts.push(...result.aborts);
    if (!result.more) ctx.sql.exec(`DELETE FROM bulk_ops WHERE op_id = ?`, op.op_id);
  }
  return { aborts };
}

/** `POST /v1/tasks/:id/redeliver`: start a failed delivery over (same delivery id, so receivers can dedup). */
export function redeliver(ctx: ShardContext, account: string, id: string, now: number): RedeliverResult {
  const row = readRowWithBodies(ctx, id);
  if (!row || row.account !== account) return { ok: false, reason: "not_found" };
  const delivery = readDelivery(ctx, id);
  if (!delivery) return { ok: false, reason: "delivery_conflict", deliveryState: "none" };
  if (delivery.state !== "failed") return { ok: false, reason: "delivery_conflict", deliveryState: delivery.state };
  ctx.sql.exec(
    `UPDATE deliveries SET state = 'pending', attempts = 0, handed_off = 0, last_error = NULL, updated_at = ?,
       silent_at = NULL WHERE task_id = ?`,
    now,
    id,
  );
  ctx.handoffsWaiting = true;
  return { ok: true, task: fullView(ctx, row) };
}

export function operateRow(
  ctx: ShardContext,
  row: TaskRow,
  op: TaskOperation,
  now: number,
): { ok: true; abort?: AbortOrder } | { ok: false } {
  const step = transition(row.state, op);
  if (!step.ok) return { ok: false };
  noteTransition(ctx, row, step.to, now, op);
  switch (op) {
    case "cancel": {
      const abort =
        row.state === "running" && row.invoker !== null
          ? { invoker: row.invoker, taskId: row.id, invocation: row.invocations }
          : undefined;
      // The aborted call's outcome will be ignored: the log says here how it ended.
      if (row.state === "running") closeCurrentAttempt(ctx, row, now, null, CANCELLED_WHILE_RUNNING);
      ctx.sql.exec(
        `UPDATE tasks SET state = ?, finished_at = ?, updated_at = ?, lease_until = NULL, invoker = NULL,
           callback_token = NULL, purge_at = ? WHERE id = ?`,
        step.to,
        now,
        now,
        purgeAt(now, functionOf(ctx, row)?.spec.retentionSeconds),
        row.id,
      );
      recordEnding(ctx.sql, row.account, row.function, step.to);
      return abort ? { ok: true, abort } : { ok: true };
    }
    case "pause":
    case "resume": {
      ctx.sql.exec(`UPDATE tasks SET state = ?, updated_at = ? WHERE id = ?`, step.to, now, row.id);
      const fn = functionOf(ctx, row);
      if (op === "resume" && fn) noteQueued(ctx, fn, Math.max(now, row.not_before), row.age_from);
      return { ok: true };
    }
    case "retry": {
      // A new run: attempts and the age limit start over; the attempt log keeps the earlier runs. The earlier run's
      // delivery is forgotten (a late report for it no longer matches); this run delivers when it ends.
      ctx.sql.exec(`DELETE FROM deliveries WHERE task_id = ?`, row.id);
      ctx.sql.exec(
        `UPDATE tasks SET state = ?, run = run + 1, attempts = 0, not_before = ?, age_from = ?, finished_at = NULL,
           error = NULL, result = NULL, result_r2 = NULL, result_type = NULL, result_size = NULL, async = 0,
           purge_at = NULL, updated_at = ?, lane_tag = NULL WHERE id = ?`,
        step.to,
        now,
        now,
        now,
        row.id,
      );
      const retried = functionOf(ctx, row);
      if (retried) noteQueued(ctx, retried, now, now);
      return { ok: true };
    }
  }
}

export function bulkChunk(
  ctx: ShardContext,
  account: string,
  fnName: string,
  op: TaskOperation,
  fromState: TaskState,
  untilSeq: number,
  now: number,
): { changed: number; more: boolean; aborts: AbortOrder[] } {
  const rows = ctx.sql
    .exec<TaskRow>(
      `SELECT * FROM tasks WHERE account = ? AND function = ? AND state = ? AND seq <= ? ORDER BY seq LIMIT ${INT_PARAM}`,
      account,
      fnName,
      fromState,
      untilSeq,
      BULK_CHUNK,
    )
    .toArray();
  const aborts: AbortOrder[] = [];
  let changed = 0;
  for (const row of rows) {
    const applied = operateRow(ctx, row, op, now);
    if (!applied.ok) continue;
    changed++;
    if (applied.abort) aborts.push(applied.abort);
  }
  return { changed, more: rows.length === BULK_CHUNK, aborts };
}
