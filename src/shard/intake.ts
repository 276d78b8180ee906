/**
 * @module
 * Accepting tasks: idempotent by task id, `Idempotency-Key` deduplication (the `idempotency` table), and the cancelled
 * placeholder left by a cancel that overtakes its task in the ingest queue.
 */

import { routeTask } from "../placement";
import type { AcceptResult, FunctionRecord, IngestMessage } from "../records";
import type { OperationResult } from "../results";
import { blobOf } from "../sql";
import { mustTransition, transition } from "../task-states";
import { traceForSubmission } from "../trace";
import { setAccountLimits } from "./accounts";
import { noteQueued } from "./attention";
import { FUNCTION_DELETED_ERROR, functionKey, readRow, type ShardContext } from "./context";
import { noteTransition } from "./events";
import { upsertFunction } from "./functions";
import { laneOf, nextTag } from "./lanes";
import { noteArrivals } from "./placement-load";
import { purgeAt } from "./retention";
import { taskView } from "./view";

/** Tables this part owns (`Idempotency-Key`s within their window); applied by schema.ts. */
export const IDEMPOTENCY_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS idempotency (
     account TEXT NOT NULL, function TEXT NOT NULL, key TEXT NOT NULL, task_id TEXT NOT NULL,
     expires_at INTEGER NOT NULL, PRIMARY KEY (account, function, key))`,
  `CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON idempotency (expires_at)`,
];

/**
 * The records this shard holds that are newer than the ones these messages were minted from (at most one per
 * function): a gateway that routed by a stale cached record (after a placement move, say) learns the current one from
 * the answer and routes its next submissions by it, instead of after its cache's TTL.
 */
export function newerRecords(ctx: ShardContext, messages: readonly IngestMessage[]): FunctionRecord[] {
  const newer = new Map<string, FunctionRecord>();
  for (const { fn: snapshot } of messages) {
    const key = functionKey(snapshot.account, snapshot.name);
    const current = ctx.functions.get(key);
    if (current && current.version > snapshot.version) newer.set(key, current);
  }
  return [...newer.values()];
}

/**
 * Store tasks. Idempotent by task id (Queues deliver at least once), and an `Idempotency-Key` already used within the
 * function's `dedupWindowSeconds` yields the first task's id instead of a new task.
 *
 * With `self` (this shard's name; the gateway asks for it), a key that is new here and that the function's current
 * record routes to another shard is refused as `moved` and nothing is stored: after a move, a gateway still holding
 * the old record would otherwise take the key here while a current one takes it on the new shard, two tasks for one
 * key. The key's own shard decides it in one transaction, as before the move.
 */
export function accept(
  ctx: ShardContext,
  messages: readonly IngestMessage[],
  now: number,
  self?: string,
): AcceptResult[] {
  for (const { fn, accountLimits } of messages) {
    upsertFunction(ctx, fn);
    if (accountLimits) setAccountLimits(ctx, fn.account, accountLimits);
  }
  return messages.map(({ task, fn: snapshot }) => {
    const existing = ctx.sql
      .exec<{ function: string }>(`SELECT function FROM tasks WHERE id = ?`, task.id)
      .toArray()[0];
    if (existing) {
      // Cancelled before it arrived: the placeholder learns its function, and stays cancelled.
      if (existing.function === "") {
        ctx.sql.exec(
          `UPDATE tasks SET function = ?, payload_type = ?, payload_size = ?, payload_r2 = ? WHERE id = ?`,
          task.functionName,
          task.payload.contentType,
          task.payload.size,
          task.payload.r2Key ?? null,
          task.id,
        );
      }
      return { id: task.id, deduplicated: false };
    }
    // A task made for an earlier function of the same name (deleted, then created again) never runs on the new one.
    const current = ctx.functions.get(functionKey(task.account, task.functionName));
    const fn = current && current.createdAt === snapshot.createdAt ? current : undefined;
    if (task.idempotencyKey && fn && fn.spec.dedupWindowSeconds > 0) {
      const first = idempotentTask(ctx, task.account, task.functionName, task.idempotencyKey, now);
      if (first) return { id: first, deduplicated: true };
      if (self !== undefined && routeTask(fn, task.idempotencyKey) !== self) return { id: task.id, moved: true };
      ctx.sql.exec(
        `INSERT INTO idempotency (account, function, key, task_id, expires_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (account, function, key) DO UPDATE SET task_id = excluded.task_id, expires_at = excluded.expires_at`,
        task.account,
        task.functionName,
        task.idempotencyKey,
        task.id,
        task.acceptedAt + fn.spec.dedupWindowSeconds * 1000,
      );
    }
    // A task that arrives after its function was deleted is kept, as cancelled, never dropped.
    const to = mustTransition("accepted", fn ? "enqueue" : "cancel");
    // The age limit counts from when the task is due, so a delay never expires a task before it could run.
    const dueAt = task.acceptedAt + (task.delaySeconds ?? 0) * 1000;
    // A task due now takes its place in its fairness-key lane at once; a delayed one when it is due (lanes.ts).
    const laneTag = fn && dueAt <= now ? nextTag(ctx, fn.account, fn.name, laneOf(task.fairnessKey)) : null;
    // Every task has a trace: the one it came with if valid, else one started here (event sources, schedules).
    const traceparent = traceForSubmission(task.traceparent);
    ctx.sql.exec(
      `INSERT INTO tasks (id, account, function, state, payload, payload_r2, payload_type, payload_size,
         idempotency_key, fairness_key, not_before, age_from, created_at, updated_at, accepted_at, queued_at,
         finished_at, error, chain_depth, origin, purge_at, lane_tag, schedule, traceparent)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      task.id,
      task.account,
      task.functionName,
      to,
      blobOf(task.payload.inline),
      task.payload.r2Key ?? null,
      task.payload.contentType,
      task.payload.size,
      task.idempotencyKey ?? null,
      task.fairnessKey ?? null,
      dueAt,
      dueAt,
      task.acceptedAt,
      now,
      task.acceptedAt,
      fn ? now : null,
      fn ? null : now,
      fn ? null : FUNCTION_DELETED_ERROR,
      task.chainDepth ?? 0,
      task.origin ?? null,
      fn ? null : purgeAt(now, snapshot.spec.retentionSeconds),
      laneTag,
      task.schedule ? JSON.stringify(task.schedule) : null,
      traceparent,
    );
    noteTransition(
      ctx,
      {
        id: task.id,
        account: task.account,
        function: task.functionName,
        state: "accepted",
        run: 1,
        attempts: 0,
        traceparent,
      },
      to,
      now,
      fn ? "enqueue" : "function_deleted",
    );
    if (fn) {
      noteQueued(ctx, fn, dueAt, dueAt);
      noteArrivals(ctx, fn, now);
    }
    return { id: task.id, deduplicated: false };
  });
}

/** The task an idempotency key of a function names here, while its window lasts (accept, and across a move). */
export function idempotentTask(
  ctx: ShardContext,
  account: string,
  fnName: string,
  key: string,
  now: number,
): string | undefined {
  return ctx.sql
    .exec<{ task_id: string }>(
      `SELECT task_id FROM idempotency WHERE account = ? AND function = ? AND key = ? AND expires_at > ?`,
      account,
      fnName,
      key,
      now,
    )
    .toArray()[0]?.task_id;
}

/** Forget idempotency keys whose window has passed, a bounded number at a time. */
export function expireIdempotencyKeys(ctx: ShardContext, now: number): number {
  return ctx.sql
    .exec(
      `DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency WHERE expires_at <= ? LIMIT 1000) RETURNING key`,
      now,
    )
    .toArray().length;
}

export function isPurged(ctx: ShardContext, id: string): boolean {
  return ctx.sql.exec(`SELECT 1 FROM tombstones WHERE id = ?`, id).toArray().length > 0;
}

export function cancelBeforeArrival(ctx: ShardContext, account: string, id: string, now: number): OperationResult {
  const step = transition("accepted", "cancel");
  if (!step.ok) return { ok: false, reason: "conflict", state: "accepted" };
  ctx.sql.exec(
    `INSERT INTO tasks (id, account, function, state, payload_type, payload_size, not_before, age_from, created_at,
       updated_at, accepted_at, finished_at, purge_at)
     VALUES (?, ?, '', ?, 'application/octet-stream', 0, ?, ?, ?, ?, ?, ?, ?)`,
    id,
    account,
    step.to,
    now,
    now,
    now,
    now,
    now,
    now,
    purgeAt(now, undefined),
  );
  const row = readRow(ctx, id);
  return row ? { ok: true, task: taskView(row, []) } : { ok: false, reason: "not_found" };
}
