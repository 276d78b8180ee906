/**
 * @module
 * Structured logs of task transitions: every change of a task's state appends one event here, inside the transaction
 * that makes it; the shard object prints them as one JSON line each after the transaction commits (and drops them if
 * it rolls back), so Workers Logs and `wrangler tail` can follow a task from acceptance to its end without reading
 * the shard. An event carries ids, states, counts, durations, the error's kind and the trace id, never a payload, a
 * result, an error message written by a tenant's function, a callback token or a secret.
 */

import { isTerminal, type TaskState } from "../task-states";
import { parseTraceparent } from "../trace";
import type { ShardContext } from "./context";
import type { TaskRow } from "./schema";

export interface TransitionEvent {
  readonly event: "task.transition";
  readonly task: string;
  readonly account: string;
  readonly function: string;
  readonly from: TaskState;
  readonly to: TaskState;
  readonly run: number;
  readonly attempt: number;
  readonly at: string;
  /** What caused it: dispatch, succeed, fail, requeue (a retry or throttle), expire, cancel, pause, resume, retry. */
  readonly cause: string;
  readonly errorKind?: string;
  readonly queueWaitMs?: number;
  readonly executionMs?: number;
  readonly endToEndMs?: number;
  readonly traceId?: string;
}

/** Events one shard keeps between two flushes at most (a flush follows every transaction; this bounds a runaway). */
export const MAX_PENDING_EVENTS = 5_000;

/** Note that `row` moved to `to` (inside the transaction that moved it). */
export function noteTransition(
  ctx: ShardContext,
  row: Pick<TaskRow, "id" | "account" | "function" | "state" | "run" | "attempts" | "traceparent"> &
    Partial<Pick<TaskRow, "accepted_at" | "queued_at" | "not_before">>,
  to: TaskState,
  now: number,
  cause: string,
  extra: { attempt?: number; errorKind?: string; executionMs?: number } = {},
): void {
  if (ctx.settings.taskLogs === "off") return;
  if (ctx.events.length >= MAX_PENDING_EVENTS) {
    ctx.eventsDropped++;
    return;
  }
  const ended = isTerminal(to);
  const traceId = parseTraceparent(row.traceparent)?.traceId;
  ctx.events.push({
    event: "task.transition",
    task: row.id,
    account: row.account,
    function: row.function,
    from: row.state,
    to,
    run: row.run,
    attempt: extra.attempt ?? row.attempts,
    at: new Date(now).toISOString(),
    cause,
    ...(extra.errorKind ? { errorKind: extra.errorKind } : {}),
    // Waiting since it was queued, or since its delay or backoff ended.
    ...(to === "running" && row.queued_at != null
      ? { queueWaitMs: Math.max(0, now - Math.max(row.queued_at, row.not_before ?? 0)) }
      : {}),
    ...(extra.executionMs !== undefined ? { executionMs: Math.round(extra.executionMs) } : {}),
    ...(ended && row.accepted_at != null ? { endToEndMs: Math.max(0, now - row.accepted_at) } : {}),
    ...(traceId ? { traceId } : {}),
  });
}

/** Hand over what was noted since the last call (and how many were dropped over the bound), and forget it. */
export function drainEvents(ctx: ShardContext): { events: TransitionEvent[]; dropped: number } {
  const events = ctx.events.splice(0, ctx.events.length);
  const dropped = ctx.eventsDropped;
  ctx.eventsDropped = 0;
  return { events, dropped };
}
