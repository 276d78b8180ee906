/**
 * @module
 * How calls end: invoker reports, long-running callbacks and heartbeats, expired leases; retry with backoff, requeue,
 * finish (and the delivery that ending schedules).
 */

import { retryDelayMs, throttleDelayMs } from "../backoff";
import { bytesEqual, utf8 } from "../encoding";
import type { InvocationOutcome, TaskError } from "../outcome";
import type { BodyRef, FunctionRecord, OutcomeReport } from "../records";
import type { CallbackResult, Completion } from "../results";
import { DEFAULT_TIMEOUT_MS } from "../schemas";
import { blobOf, INT_PARAM } from "../sql";
import { mustTransition, type TaskEvent } from "../task-states";
import { closeAttempt, logAttempt } from "./attempt-log";
import { noteQueued } from "./attention";
import { FUNCTION_DELETED_ERROR, functionKey, functionOf, readRow, type ShardContext } from "./context";
import { DISPATCH_BUDGET } from "./dispatch";
import { noteTransition } from "./events";
import { feedGovernor } from "./governor";
import { noteActivity, recordFinish } from "./observations";
import { scheduleDelivery } from "./outbox";
import { noteCallEnded } from "./placement-load";
import { discardBlobs, purgeAt } from "./retention";
import type { TaskRow } from "./schema";

/** Apply an invoker's report. A report for an invocation that is no longer current is ignored. */
export function applyOutcome(
  ctx: ShardContext,
  report: OutcomeReport,
  now: number,
  random: () => number = Math.random,
): { applied: boolean } {
  const row = readRow(ctx, report.taskId);
  if (!row || row.state !== "running" || row.invocations !== report.invocation || row.async) {
    // A result stored for a call whose outcome no longer counts belongs to no task (unless it is the one kept).
    const stale = report.outcome.kind === "succeeded" ? report.outcome.body.r2Key : undefined;
    if (stale && stale !== row?.result_r2) discardBlobs(ctx.sql, [stale], now);
    return { applied: false };
  }
  const fn = functionOf(ctx, row);
  const outcome = report.outcome;
  logReport(ctx, row, report, outcome);
  if (fn) {
    feedGovernor(ctx, fn, outcome, now, report.startedAt, row.last_dispatched_at);
    noteExecutionTime(ctx, fn, report.durationMs);
  }
  switch (outcome.kind) {
    case "succeeded":
      finish(ctx, row, "succeed", now, undefined, outcome.body, report.durationMs);
      break;
    case "async":
      // The function took the task and will call back; the lease is its heartbeat deadline.
      ctx.sql.exec(
        `UPDATE tasks SET async = 1, lease_until = ?, updated_at = ? WHERE id = ?`,
        now + (fn?.spec.timeoutMs ?? DEFAULT_TIMEOUT_MS),
        now,
        row.id,
      );
      break;
    case "throttled": {
      // A throttled call does not use up an attempt (API.md); the age limit still applies at dispatch. Persistent
      // throttling backs off to about one probe per second per task, or later when Retry-After asks for it.
      const throttles = row.invocations - row.attempts + 1;
      const delay = Math.max(outcome.retryAfterMs ?? 0, throttleDelayMs(throttles, random));
      requeue(ctx, row, fn, now, delay, row.attempts - 1);
      break;
    }
    case "transient":
      retryOrFail(ctx, row, fn, now, outcome.error, random, report.durationMs);
      break;
    case "permanent":
      finish(ctx, row, "fail", now, outcome.error, undefined, report.durationMs);
      break;
  }
  if (fn) {
    noteActivity(ctx, fn, now, outcome.kind === "throttled" ? 1 : 0);
    if (outcome.kind !== "async") noteCallEnded(ctx, fn, now, outcome.kind !== "succeeded");
  }
  return { applied: true };
}

/**
 * Running tasks whose lease ran out (the call vanished, or a long-running task missed its heartbeat): back to
 * queued with the attempt counted, or failed when none is left.
 */
export function recoverExpiredLeases(ctx: ShardContext, now: number, random: () => number = Math.random): number {
  const rows = ctx.sql
    .exec<TaskRow>(
      `SELECT * FROM tasks WHERE state = 'running' AND lease_until <= ? ORDER BY lease_until LIMIT ${INT_PARAM}`,
      now,
      DISPATCH_BUDGET,
    )
    .toArray();
  for (const row of rows) {
    const error: TaskError = row.async
      ? { kind: "heartbeat_timeout", message: "no completion or heartbeat within timeoutMs" }
      : { kind: "lease_expired", message: "no outcome was reported before the lease ran out" };
    closeCurrentAttempt(ctx, row, now, null, error);
    const fn = functionOf(ctx, row);
    retryOrFail(ctx, row, fn, now, error, random);
    if (fn) noteCallEnded(ctx, fn, now, true);
  }
  return rows.length;
}

/** `POST /v1/tasks/:id/complete`, authenticated by the invocation's callback token. */
export function complete(
  ctx: ShardContext,
  id: string,
  token: string,
  outcome: Completion,
  now: number,
): CallbackResult {
  const checked = verifyCallback(ctx, id, token);
  if (!checked.ok) return checked;
  const row = checked.row;
  closeCurrentAttempt(ctx, row, now, outcome.ok ? 200 : null, outcome.ok ? undefined : outcome.error);
  if (outcome.ok) finish(ctx, row, "succeed", now, undefined, outcome.result);
  else if (outcome.retryable) retryOrFail(ctx, row, functionOf(ctx, row), now, outcome.error, Math.random);
  else finish(ctx, row, "fail", now, outcome.error);
  const fn = functionOf(ctx, row);
  if (fn) noteActivity(ctx, fn, now);
  return { ok: true, state: readRow(ctx, id)?.state ?? row.state };
}

/** Whether `token` is the current callback token of a running task (checked before a callback's body is read). */
export function checkCallback(ctx: ShardContext, id: string, token: string): boolean {
  return verifyCallback(ctx, id, token).ok;
}

/** `POST /v1/tasks/:id/heartbeat`: the lease of a long-running task starts again from now. */
export function heartbeat(ctx: ShardContext, id: string, token: string, now: number): CallbackResult {
  const checked = verifyCallback(ctx, id, token);
  if (!checked.ok) return checked;
  const timeoutMs = functionOf(ctx, checked.row)?.spec.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  ctx.sql.exec(`UPDATE tasks SET lease_until = ?, updated_at = ? WHERE id = ?`, now + timeoutMs, now, id);
  return { ok: true, state: "running" };
}

/** Unknown, not running, or another token: one answer for all three, so a caller without the token learns nothing. */
export function verifyCallback(
  ctx: ShardContext,
  id: string,
  token: string,
): { ok: true; row: TaskRow } | Exclude<CallbackResult, { ok: true }> {
  const row = readRow(ctx, id);
  const valid =
    row !== undefined &&
    row.state === "running" &&
    row.callback_token !== null &&
    bytesEqual(utf8(row.callback_token), utf8(token));
  return valid ? { ok: true, row } : { ok: false, reason: "not_found" };
}

export function retryOrFail(
  ctx: ShardContext,
  row: TaskRow,
  fn: FunctionRecord | undefined,
  now: number,
  error: TaskError,
  random: () => number,
  callMs?: number,
): void {
  if (fn && row.attempts >= fn.spec.retry.maxAttempts) {
    finish(ctx, row, "fail", now, error, undefined, callMs);
    return;
  }
  requeue(ctx, row, fn, now, fn ? retryDelayMs(row.attempts, fn.spec.retry, random) : 0, row.attempts, error);
}

/** Weight of the newest call in a function's moving average of execution time (what its calls cost in the DRR). */
const EXECUTION_EWMA_WEIGHT = 0.2;

function noteExecutionTime(ctx: ShardContext, fn: FunctionRecord, durationMs: number): void {
  if (!Number.isFinite(durationMs) || durationMs < 0) return;
  const key = functionKey(fn.account, fn.name);
  const before = ctx.executionMs.get(key);
  ctx.executionMs.set(key, before === undefined ? durationMs : before + EXECUTION_EWMA_WEIGHT * (durationMs - before));
}

/**
 * Back to queued for another call after `delayMs`. A task whose function is gone is cancelled instead: nothing
 * would ever dispatch it, and a later function of the same name must not run it.
 */
export function requeue(
  ctx: ShardContext,
  row: TaskRow,
  fn: FunctionRecord | undefined,
  now: number,
  delayMs: number,
  attempts: number,
  error?: TaskError,
): void {
  if (!fn) {
    const cancelled = mustTransition(row.state, "cancel");
    noteTransition(ctx, row, cancelled, now, "function_deleted", { errorKind: "function_deleted" });
    ctx.sql.exec(
      `UPDATE tasks SET state = ?, attempts = ?, finished_at = ?, updated_at = ?, lease_until = NULL, invoker = NULL,
         callback_token = NULL, async = 0, error = ?, purge_at = ? WHERE id = ?`,
      cancelled,
      attempts,
      now,
      now,
      FUNCTION_DELETED_ERROR,
      purgeAt(now, undefined),
      row.id,
    );
    return;
  }
  const to = mustTransition(row.state, "requeue");
  noteTransition(ctx, row, to, now, "requeue", error ? { errorKind: error.kind } : {});
  ctx.sql.exec(
    `UPDATE tasks SET state = ?, attempts = ?, not_before = ?, lease_until = NULL, invoker = NULL, callback_token = NULL,
       async = 0, updated_at = ?, error = ?, lane_tag = NULL WHERE id = ?`,
    to,
    attempts,
    now + delayMs,
    now,
    error ? JSON.stringify(error) : null,
    row.id,
  );
  noteQueued(ctx, fn, now + delayMs, row.age_from);
}

export function finish(
  ctx: ShardContext,
  row: TaskRow,
  event: TaskEvent,
  now: number,
  error?: TaskError,
  result?: BodyRef,
  /** The finishing call's duration (an invoker's report); else the time since its dispatch. */
  callMs?: number,
): void {
  const to = mustTransition(row.state, event);
  noteTransition(ctx, row, to, now, event, {
    ...(error ? { errorKind: error.kind } : {}),
    ...(callMs !== undefined ? { executionMs: callMs } : {}),
  });
  recordFinish(ctx, row, to, now, callMs);
  ctx.sql.exec(
    `UPDATE tasks SET state = ?, finished_at = ?, updated_at = ?, lease_until = NULL, invoker = NULL,
       callback_token = NULL, error = ?, result = ?, result_r2 = ?, result_type = ?, result_size = ?, purge_at = ?
     WHERE id = ?`,
    to,
    now,
    now,
    error ? JSON.stringify(error) : null,
    blobOf(result?.inline),
    result?.r2Key ?? null,
    result?.contentType ?? null,
    result?.size ?? null,
    purgeAt(now, functionOf(ctx, row)?.spec.retentionSeconds),
    row.id,
  );
  scheduleDelivery(ctx, row, to, now);
}

/** Record how the current invocation ended when no invoker report says so (a callback, a lost lease, a cancel). */
export function closeCurrentAttempt(
  ctx: ShardContext,
  row: TaskRow,
  now: number,
  status: number | null,
  error: TaskError | undefined,
): void {
  closeAttempt(
    ctx.sql,
    {
      taskId: row.id,
      invocation: row.invocations,
      run: row.run,
      attempt: row.attempts,
      startedAt: row.last_dispatched_at ?? now,
      status,
      error,
    },
    now,
  );
}

export function logReport(ctx: ShardContext, row: TaskRow, report: OutcomeReport, outcome: InvocationOutcome): void {
  const status =
    outcome.kind === "succeeded" || outcome.kind === "throttled" || outcome.kind === "async"
      ? outcome.status
      : outcome.error.status;
  logAttempt(ctx.sql, {
    taskId: row.id,
    invocation: report.invocation,
    run: row.run,
    attempt: row.attempts,
    startedAt: report.startedAt,
    durationMs: report.durationMs,
    status: status ?? null,
    error: outcome.kind === "transient" || outcome.kind === "permanent" ? outcome.error : undefined,
    throttled: outcome.kind === "throttled",
  });
}
