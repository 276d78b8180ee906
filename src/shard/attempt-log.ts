/**
 * @module
 * The `attempts` table: one row per invocation, kept to the newest ATTEMPT_LOG_LIMIT per task (older ones are counted
 * in `tasks.attempt_log_dropped`), with consecutive throttled answers of the same status folded into one row with a
 * `count`, so a backend that throttles for a week cannot grow a task's log, or a GET, without bound.
 */

import type { TaskError } from "../outcome";
import type { Sql } from "../sql";
import { INT_PARAM } from "../sql";
import type { AttemptRow } from "./schema";

/** Tables this part owns (one row per invocation, newest 100 per task); applied by schema.ts. */
export const ATTEMPTS_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS attempts (
     task_id TEXT NOT NULL, invocation INTEGER NOT NULL, run INTEGER NOT NULL, attempt INTEGER NOT NULL,
     started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL, status INTEGER, error TEXT,
     throttled INTEGER NOT NULL DEFAULT 0, count INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (task_id, invocation))`,
];

/** Most attempt-log entries kept per task (API.md). */
export const ATTEMPT_LOG_LIMIT = 100;

export interface AttemptEntry {
  readonly taskId: string;
  readonly invocation: number;
  readonly run: number;
  readonly attempt: number;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly status: number | null;
  readonly error: TaskError | undefined;
  readonly throttled: boolean;
}

/** Record how an invocation ended (an invoker report), folding it into the previous row when both are throttles. */
export function logAttempt(sql: Sql, entry: AttemptEntry): void {
  if (entry.throttled) {
    const last = sql
      .exec<{ invocation: number; run: number; status: number | null; throttled: number }>(
        `SELECT invocation, run, status, throttled FROM attempts WHERE task_id = ? ORDER BY invocation DESC LIMIT 1`,
        entry.taskId,
      )
      .toArray()[0];
    if (
      last &&
      last.throttled === 1 &&
      last.run === entry.run &&
      last.status === entry.status &&
      last.invocation < entry.invocation
    ) {
      sql.exec(
        `UPDATE attempts SET count = count + 1, duration_ms = ? WHERE task_id = ? AND invocation = ?`,
        entry.durationMs,
        entry.taskId,
        last.invocation,
      );
      return;
    }
  }
  const inserted = sql.exec(
    `INSERT OR IGNORE INTO attempts (task_id, invocation, run, attempt, started_at, duration_ms, status, error, throttled)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    entry.taskId,
    entry.invocation,
    entry.run,
    entry.attempt,
    entry.startedAt,
    entry.durationMs,
    entry.status,
    entry.error ? JSON.stringify(entry.error) : null,
    entry.throttled ? 1 : 0,
  ).rowsWritten;
  if (inserted > 0) trimAttemptLog(sql, entry.taskId, entry.invocation);
}

/**
 * Record how the current invocation ended when no invoker report says so (a callback, a lost lease, a cancel). A
 * long-running task already has a row from its 202; the ending overwrites that row's duration, status and error.
 */
export function closeAttempt(sql: Sql, entry: Omit<AttemptEntry, "durationMs" | "throttled">, now: number): void {
  sql.exec(
    `INSERT INTO attempts (task_id, invocation, run, attempt, started_at, duration_ms, status, error)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (task_id, invocation) DO UPDATE SET duration_ms = excluded.duration_ms, status = excluded.status,
       error = excluded.error`,
    entry.taskId,
    entry.invocation,
    entry.run,
    entry.attempt,
    entry.startedAt,
    now - entry.startedAt,
    entry.status,
    entry.error ? JSON.stringify(entry.error) : null,
  );
  trimAttemptLog(sql, entry.taskId, entry.invocation);
}

/**
 * Keep the newest ATTEMPT_LOG_LIMIT rows; the task counts what was dropped. Rows are keyed by invocation, which only
 * grows (dispatch numbers each call), so up to invocation ATTEMPT_LOG_LIMIT there cannot be too many: no query then.
 */
function trimAttemptLog(sql: Sql, taskId: string, invocation: number): void {
  if (invocation <= ATTEMPT_LOG_LIMIT) return;
  const dropped = sql
    .exec(
      `DELETE FROM attempts WHERE task_id = ? AND invocation <= (
         SELECT invocation FROM attempts WHERE task_id = ? ORDER BY invocation DESC LIMIT 1 OFFSET ${INT_PARAM})
       RETURNING invocation`,
      taskId,
      taskId,
      ATTEMPT_LOG_LIMIT,
    )
    .toArray().length;
  if (dropped > 0) {
    sql.exec(`UPDATE tasks SET attempt_log_dropped = attempt_log_dropped + ? WHERE id = ?`, dropped, taskId);
  }
}

/** A task's log, oldest first (at most ATTEMPT_LOG_LIMIT rows). */
export function readAttemptLog(sql: Sql, taskId: string): AttemptRow[] {
  return sql
    .exec<AttemptRow>(
      `SELECT run, attempt, started_at, duration_ms, status, error, throttled, count FROM attempts WHERE task_id = ?
       ORDER BY invocation`,
      taskId,
    )
    .toArray();
}
