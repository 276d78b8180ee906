/**
 * @module
 * Turning shard rows into the task object of API.md.
 */

import type { TaskError } from "../outcome";
import type { AttemptLogEntry, StoredTaskView, TaskSchedule, TaskSummary, TaskTimeline } from "../records";
import { bytesOf } from "../sql";
import type { AttemptRow, DeliveryRow, TaskRow } from "./schema";

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function attemptEntry(a: AttemptRow): AttemptLogEntry {
  const entry: AttemptLogEntry = {
    run: a.run,
    attempt: a.attempt,
    startedAt: new Date(a.started_at).toISOString(),
    durationMs: a.duration_ms,
  };
  if (a.status !== null) entry.status = a.status;
  if (a.error !== null) entry.error = JSON.parse(a.error) as TaskError;
  if (a.throttled) entry.throttled = true;
  if (a.count > 1) entry.count = a.count;
  return entry;
}

function timeline(row: TaskRow): TaskTimeline {
  return {
    acceptedAt: iso(row.accepted_at),
    queuedAt: iso(row.queued_at),
    firstDispatchedAt: iso(row.first_dispatched_at),
    lastDispatchedAt: iso(row.last_dispatched_at),
    finishedAt: iso(row.finished_at),
    deliveredAt: iso(row.delivered_at),
  };
}

/** A task as a listing shows it (API.md): no bodies, attempt log or delivery. */
export function taskSummary(row: TaskRow): TaskSummary {
  const summary: TaskSummary = {
    id: row.id,
    function: row.function,
    state: row.state,
    attempts: row.attempts,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    timeline: timeline(row),
  };
  if (row.error !== null && row.state !== "succeeded") summary.error = JSON.parse(row.error) as TaskError;
  if (row.schedule !== null) {
    const schedule = JSON.parse(row.schedule) as TaskSchedule;
    summary.scheduleId = schedule.id;
    summary.scheduledFor = new Date(schedule.scheduledFor).toISOString();
    if (schedule.late) summary.late = true;
  }
  return summary;
}

/** The task object; `attemptLog` is left empty when the caller does not need it (listings). */
export function taskView(row: TaskRow, attempts: readonly AttemptRow[], delivery?: DeliveryRow): StoredTaskView {
  const { error, ...summary } = taskSummary(row);
  const view: StoredTaskView = { ...summary, run: row.run, attemptLog: attempts.map(attemptEntry) };
  if (row.attempt_log_dropped > 0) view.attemptLogDropped = row.attempt_log_dropped;
  if (row.fairness_key !== null) view.fairnessKey = row.fairness_key;
  if (error) view.error = error;
  if (delivery) {
    view.delivery = {
      state: delivery.state,
      attempts: delivery.attempts,
      ...(delivery.last_error ? { lastError: delivery.last_error } : {}),
    };
  }
  if (row.state === "succeeded" && row.result_type !== null) {
    const inline = bytesOf(row.result);
    view.resultBody = {
      contentType: row.result_type,
      size: row.result_size ?? 0,
      ...(inline ? { inline } : {}),
      ...(row.result_r2 ? { r2Key: row.result_r2 } : {}),
    };
  }
  return view;
}
