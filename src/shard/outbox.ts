/**
 * @module
 * The delivery outbox (the `deliveries` table). A task that ends with a destination gets a row in the same
 * transaction as its transition; rows are handed to the delivery queue and updated by the consumer's report after
 * every attempt. Recovery: if no report arrives long after the next attempt was due (the queue lost the message, or
 * the report never made it back), the delivery is handed off again, continuing its attempt count, so every delivery
 * reaches `delivered` or `failed` even across a crash. A re-sent delivery keeps its id, so receivers deduplicate it.
 * Each handed-off row carries `silent_at`, when it counts as lost: the time its next report is due by the schedule, or
 * the promise of the delivery lane that holds it (`reportBy`), which a lane renews while the delivery waits in a
 * backlog behind a hung receiver, so waiting is never mistaken for silence.
 */

import {
  buildEnvelope,
  DEFAULT_DELIVERY_TIMEOUT_MS,
  type DeliveryMessage,
  type DeliveryReport,
  destinationFor,
  parseSchedule,
} from "../delivery";
import { viewResult } from "../result-view";
import type { Sql } from "../sql";
import { bytesOf, INT_PARAM } from "../sql";
import type { TaskState } from "../task-states";
import { functionOf, readRow, readRowWithBodies, type ShardContext } from "./context";
import { recordDelivery } from "./observations";
import type { DeliveryRow, TaskRow } from "./schema";
import { taskView } from "./view";

/** Tables this part owns (one delivery per ended task with a destination); applied by schema.ts. */
export const DELIVERIES_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS deliveries (
     task_id TEXT PRIMARY KEY, delivery_id TEXT NOT NULL, destination TEXT NOT NULL, state TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0, handed_off INTEGER NOT NULL DEFAULT 0, last_error TEXT,
     updated_at INTEGER NOT NULL, silent_at INTEGER)`,
  `CREATE INDEX IF NOT EXISTS deliveries_to_hand_off ON deliveries (handed_off) WHERE handed_off = 0`,
  `CREATE INDEX IF NOT EXISTS deliveries_in_flight ON deliveries (updated_at) WHERE state = 'pending' AND handed_off = 1`,
  `CREATE INDEX IF NOT EXISTS deliveries_by_silence ON deliveries (silent_at) WHERE state = 'pending' AND handed_off = 1`,
];

/** How soon a delivery that could not be handed to the delivery queue is tried again. */
export const HANDOFF_RETRY_MS = 1_000;

/**
 * Outbox: a task that ended with a destination gets a delivery row in the same transaction as its transition. `row`
 * is the task as the transition found it (its id, run, account and function do not change when it ends).
 */
export function scheduleDelivery(
  ctx: ShardContext,
  row: Pick<TaskRow, "id" | "run" | "account" | "function">,
  state: TaskState,
  now: number,
): void {
  const fn = functionOf(ctx, row);
  if (!fn) return;
  const destination = destinationFor(state, fn.spec.destinations);
  if (!destination) return;
  ctx.sql.exec(
    `INSERT OR REPLACE INTO deliveries (task_id, delivery_id, destination, state, attempts, handed_off, updated_at)
     VALUES (?, ?, ?, 'pending', 0, 0, ?)`,
    row.id,
    `dlv_${row.run}_${row.id}`,
    JSON.stringify(destination),
    now,
  );
  ctx.handoffsWaiting = true;
}

/** Deliveries written but not yet handed to the delivery queue (after a crash, too), with their envelopes. */
export function pendingHandoffs(ctx: ShardContext, shard: string, limit: number, now: number): DeliveryMessage[] {
  if (!ctx.handoffsWaiting) return [];
  const rows = ctx.sql
    .exec<DeliveryRow>(`SELECT * FROM deliveries WHERE handed_off = 0 ORDER BY updated_at LIMIT ${INT_PARAM}`, limit)
    .toArray();
  // Fewer than asked for: that was all of them (every write that leaves one sets the flag again).
  if (rows.length < limit) ctx.handoffsWaiting = false;
  const messages: DeliveryMessage[] = [];
  for (const delivery of rows) {
    const row = readRowWithBodies(ctx, delivery.task_id);
    if (!row) continue;
    const view = taskView(row, []);
    const origin = row.origin ?? "";
    const resultBytes = bytesOf(row.result);
    const result =
      row.state !== "succeeded" || row.result_type === null
        ? undefined
        : resultBytes
          ? viewResult(resultBytes, row.result_type)
          : { resultUrl: `${origin}/v1/tasks/${row.id}/result`, resultContentType: row.result_type };
    const envelope = buildEnvelope({ ...view, account: row.account }, result, now);
    if (!envelope) continue;
    messages.push({
      v: 1,
      shard,
      deliveryId: delivery.delivery_id,
      account: row.account,
      functionName: row.function,
      taskId: row.id,
      destination: JSON.parse(delivery.destination) as DeliveryMessage["destination"],
      envelope,
      chainDepth: row.chain_depth,
      origin,
      ...(delivery.attempts > 0 ? { priorAttempts: delivery.attempts } : {}),
      ...(row.traceparent !== null ? { traceparent: row.traceparent } : {}),
    });
  }
  return messages;
}

export function markHandedOff(ctx: ShardContext, deliveryIds: readonly string[], now: number): void {
  const timing = deliveryTiming(ctx);
  for (const id of deliveryIds) {
    const attempts =
      ctx.sql.exec<{ attempts: number }>(`SELECT attempts FROM deliveries WHERE delivery_id = ?`, id).toArray()[0]
        ?.attempts ?? 0;
    // A lane may have answered before this runs (its promise reaches further): never shorten that promise.
    ctx.sql.exec(
      `UPDATE deliveries SET handed_off = 1, updated_at = ?, silent_at = MAX(COALESCE(silent_at, 0), ?)
       WHERE delivery_id = ?`,
      now,
      reportDueBy(now, attempts, timing),
      id,
    );
  }
}

export function deliveryTiming(ctx: ShardContext): OutboxTiming {
  return ctx.settings.delivery ?? { schedule: parseSchedule(undefined), timeoutMs: DEFAULT_DELIVERY_TIMEOUT_MS };
}

/** Progress of a delivery, reported at least once by the delivery consumer; a report for another run is ignored. */
export function applyDeliveryReport(ctx: ShardContext, report: DeliveryReport): { applied: boolean } {
  const delivery = ctx.sql
    .exec<DeliveryRow>(
      `SELECT * FROM deliveries WHERE task_id = ? AND delivery_id = ?`,
      report.taskId,
      report.deliveryId,
    )
    .toArray()[0];
  // Never move backwards: a late "pending" must not undo "delivered", nor fewer attempts overwrite more.
  if (!delivery || delivery.state === "delivered" || report.attempts < delivery.attempts) return { applied: false };
  const timing = deliveryTiming(ctx);
  // A lane's promise, or else the schedule, says when silence means lost. A pending report without an error (a lane
  // saying it holds the delivery) keeps the last error; a final one is never handed off again.
  const silentAt =
    report.reportBy !== undefined
      ? report.reportBy + 2 * timing.timeoutMs + DELIVERY_SILENCE_GRACE_MS
      : reportDueBy(report.at, report.attempts, timing);
  ctx.sql.exec(
    `UPDATE deliveries SET state = ?, attempts = ?, last_error = ?, updated_at = ?, silent_at = ?,
       handed_off = CASE WHEN ? = 'pending' THEN handed_off ELSE 1 END
     WHERE task_id = ?`,
    report.state,
    report.attempts,
    report.state === "pending" && report.error === undefined ? delivery.last_error : (report.error ?? null),
    report.at,
    report.state === "pending" ? silentAt : null,
    report.state,
    report.taskId,
  );
  if (report.state === "delivered") {
    ctx.sql.exec(`UPDATE tasks SET delivered_at = ?, updated_at = ? WHERE id = ?`, report.at, report.at, report.taskId);
  }
  if (report.state !== "pending" && delivery.state !== report.state) {
    const task = readRow(ctx, report.taskId);
    if (task) recordDelivery(ctx.sql, task.account, task.function, delivery.destination, report.state);
  }
  return { applied: true };
}

export function readDelivery(ctx: ShardContext, taskId: string): DeliveryRow | undefined {
  return ctx.sql.exec<DeliveryRow>(`SELECT * FROM deliveries WHERE task_id = ?`, taskId).toArray()[0];
}

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

type SilenceRow = { task_id: string; attempts: number; updated_at: number; silent_at: number | null };

/**
 * Handed-off pending deliveries, soonest silent first (rows from before `silent_at` existed, NULL, come first and
 * are timed by the schedule), so deliveries a lane holds for hours never hide one that went quiet.
 */
function silentDeliveries(sql: Sql): SilenceRow[] {
  return sql
    .exec<SilenceRow>(
      `SELECT task_id, attempts, updated_at, silent_at FROM deliveries WHERE state = 'pending' AND handed_off = 1
       ORDER BY silent_at LIMIT ${INT_PARAM}`,
      STALE_SCAN,
    )
    .toArray();
}

function silentAt(row: SilenceRow, timing: OutboxTiming): number {
  return row.silent_at ?? reportDueBy(row.updated_at, row.attempts, timing);
}

/** Hand silent deliveries off again (the next outbox pass re-sends them). Returns how many. */
export function reviveSilentDeliveries(sql: Sql, now: number, timing: OutboxTiming): number {
  let revived = 0;
  for (const row of silentDeliveries(sql)) {
    if (silentAt(row, timing) > now) continue;
    sql.exec(`UPDATE deliveries SET handed_off = 0 WHERE task_id = ?`, row.task_id);
    revived++;
  }
  return revived;
}

/** The earliest time a handed-off delivery would be considered lost, or null. */
export function nextSilenceCheck(sql: Sql, timing: OutboxTiming): number | null {
  const times = silentDeliveries(sql).map((row) => silentAt(row, timing));
  return times.length === 0 ? null : Math.min(...times);
}
