/**
 * @module
 * Recovery of the delivery outbox. A delivery handed to the delivery queue is followed by a report after every
 * attempt; if none arrives long after the next attempt was due (the queue lost the message, or the report never made
 * it back), the delivery is handed off again, continuing its attempt count, so every delivery reaches `delivered` or
 * `failed` even across a crash. A re-sent delivery keeps its id, so receivers deduplicate it as usual.
 */

import type { Sql } from "../sql";

/** Slack after the next attempt was due before a silent delivery is considered lost. */
export const DELIVERY_SILENCE_GRACE_MS = 5_000;
/** Pending deliveries looked at per pass (oldest first). */
const STALE_SCAN = 100;

export interface OutboxTiming {
  /** Seconds before each delivery attempt (DELIVERY_SCHEDULE_SECONDS). */
  readonly schedule: readonly number[];
  readonly timeoutMs: number;
}

/** When a handed-off delivery that has made `attempts` attempts must have reported again. */
export function reportDueBy(updatedAt: number, attempts: number, timing: OutboxTiming): number {
  const nextDelayS = timing.schedule[attempts] ?? 0;
  // Up to 10 % jitter on the delay, then the attempt itself, then the report.
  return updatedAt + nextDelayS * 1100 + 2 * timing.timeoutMs + DELIVERY_SILENCE_GRACE_MS;
}

function silentDeliveries(sql: Sql): { task_id: string; attempts: number; updated_at: number }[] {
  return sql
    .exec<{ task_id: string; attempts: number; updated_at: number }>(
      `SELECT task_id, attempts, updated_at FROM deliveries WHERE state = 'pending' AND handed_off = 1
       ORDER BY updated_at LIMIT ?`,
      STALE_SCAN,
    )
    .toArray();
}

/** Hand silent deliveries off again (the next outbox pass re-sends them). Returns how many. */
export function reviveSilentDeliveries(sql: Sql, now: number, timing: OutboxTiming): number {
  let revived = 0;
  for (const row of silentDeliveries(sql)) {
    if (reportDueBy(row.updated_at, row.attempts, timing) > now) continue;
    sql.exec(`UPDATE deliveries SET handed_off = 0 WHERE task_id = ?`, row.task_id);
    revived++;
  }
  return revived;
}

/** The earliest time a handed-off delivery would be considered lost, or null. */
export function nextSilenceCheck(sql: Sql, timing: OutboxTiming): number | null {
  const times = silentDeliveries(sql).map((row) => reportDueBy(row.updated_at, row.attempts, timing));
  return times.length === 0 ? null : Math.min(...times);
}
