/**
 * @module
 * A delivery lane's storage (the `lane_deliveries` table, docs/storage-schema.md): the deliveries of one lane, each
 * kept until the task's shard has taken its final report. Enqueue is idempotent by delivery id and bounded (count and
 * bytes); attempts are claimed with a lease, so an attempt in progress when the object is evicted is retried once the
 * lease ends, its attempt counted; retries follow DELIVERY_SCHEDULE_SECONDS; every report to the shard is stored
 * first and sent at least once. A waiting delivery carries a promise to the shard (`promised_by`): the lane reports
 * again by then, so the shard does not re-send a delivery that only waits in a long backlog.
 */

import { type DeliveryAttempt, type DeliveryMessage, type DeliveryReport, nextDeliveryDelay } from "../delivery";
import { LANE_MAX_BYTES, LANE_MAX_DELIVERIES } from "../delivery-lanes";
import { utf8 } from "../encoding";
import type { Sql, SqlValue } from "../sql";
import { INT_PARAM } from "../sql";

export const LANE_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS lane_deliveries (
     delivery_id TEXT PRIMARY KEY, shard TEXT NOT NULL, task_id TEXT NOT NULL, message TEXT NOT NULL,
     bytes INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, due_at INTEGER NOT NULL,
     lease_until INTEGER, promised_by INTEGER, report TEXT, enqueued_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS lane_due ON lane_deliveries (due_at) WHERE state = 'pending' AND lease_until IS NULL`,
  `CREATE INDEX IF NOT EXISTS lane_leases ON lane_deliveries (lease_until) WHERE lease_until IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS lane_unreported ON lane_deliveries (delivery_id) WHERE report IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS lane_promises ON lane_deliveries (promised_by)
     WHERE state = 'pending' AND lease_until IS NULL AND report IS NULL`,
];

export interface LaneSettings {
  /** Seconds before each attempt (DELIVERY_SCHEDULE_SECONDS). */
  readonly schedule: readonly number[];
  /** How long a claimed attempt may run before it is presumed lost with its instance: receiver timeout plus grace. */
  readonly leaseMs: number;
  /** How far ahead a waiting delivery's promise to the shard reaches; renewed when half of it is left. */
  readonly checkInMs: number;
  readonly maxDeliveries?: number;
  readonly maxBytes?: number;
}

/** An attempt to make now: the message and the attempt's 1-based number. */
export interface LaneAttempt {
  readonly message: DeliveryMessage;
  readonly attempt: number;
}

/** A report waiting for its shard; `stored` identifies it, so a newer report is never cleared by an older send. */
export interface LaneReport {
  readonly deliveryId: string;
  readonly shard: string;
  readonly report: DeliveryReport;
  readonly stored: string;
}

export interface EnqueueResult {
  readonly accepted: string[];
  readonly refused: string[];
}

type Row = {
  delivery_id: string;
  shard: string;
  task_id: string;
  message: string;
  state: "pending" | "delivered" | "failed";
  attempts: number;
  due_at: number;
  lease_until: number | null;
  report: string | null;
} & Record<string, SqlValue>;

/** Why an attempt found in storage with its lease run out did not report: its instance went away mid-attempt. */
export const INTERRUPTED_ERROR = "the delivery attempt was interrupted (the lane restarted); retrying";

export class LaneStore {
  readonly #sql: Sql;
  readonly #settings: LaneSettings;

  constructor(sql: Sql, settings: LaneSettings) {
    this.#sql = sql;
    this.#settings = settings;
    for (const statement of LANE_SCHEMA) sql.exec(statement);
  }

  /**
   * Keep deliveries handed to this lane. A delivery already here is accepted again without a second row (it keeps the
   * higher attempt count, and renews its promise to the shard); one that finished here starts over (a re-drive). A
   * new delivery beyond the lane's bounds is refused: the caller offers it again later.
   */
  enqueue(messages: readonly DeliveryMessage[], now: number): EnqueueResult {
    const accepted: string[] = [];
    const refused: string[] = [];
    const totals = this.#sql
      .exec<{ n: number; bytes: number }>(`SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS bytes FROM lane_deliveries`)
      .one();
    let count = totals.n;
    let bytes = totals.bytes;
    for (const message of messages) {
      const prior = message.priorAttempts ?? 0;
      const { priorAttempts: _, ...rest } = message;
      const text = JSON.stringify(rest);
      const existing = this.#row(message.deliveryId);
      if (existing?.state === "pending") {
        const attempts = Math.max(existing.attempts, prior);
        this.#sql.exec(`UPDATE lane_deliveries SET attempts = ? WHERE delivery_id = ?`, attempts, message.deliveryId);
        if (existing.lease_until === null && existing.report === null) {
          this.#promise(message.deliveryId, message.taskId, attempts, Math.max(existing.due_at, now), now);
        }
        accepted.push(message.deliveryId);
        continue;
      }
      const size = utf8(text).byteLength;
      if (
        !existing &&
        (count + 1 > (this.#settings.maxDeliveries ?? LANE_MAX_DELIVERIES) ||
          bytes + size > (this.#settings.maxBytes ?? LANE_MAX_BYTES))
      ) {
        refused.push(message.deliveryId);
        continue;
      }
      this.#sql.exec(
        `INSERT OR REPLACE INTO lane_deliveries
           (delivery_id, shard, task_id, message, bytes, state, attempts, due_at, enqueued_at)
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
        message.deliveryId,
        message.shard,
        message.taskId,
        text,
        size,
        prior,
        now,
        now,
      );
      this.#promise(message.deliveryId, message.taskId, prior, now, now);
      if (!existing) {
        count++;
        bytes += size;
      }
      accepted.push(message.deliveryId);
    }
    return { accepted, refused };
  }

  /** Claim up to `limit` due deliveries, oldest due first: each gets its next attempt number and a lease. */
  claimDue(limit: number, now: number): LaneAttempt[] {
    if (limit <= 0) return [];
    const rows = this.#sql
      .exec<Row>(
        `SELECT * FROM lane_deliveries WHERE state = 'pending' AND lease_until IS NULL AND due_at <= ?
         ORDER BY due_at, enqueued_at LIMIT ${INT_PARAM}`,
        now,
        limit,
      )
      .toArray();
    return rows.map((row) => {
      const attempt = row.attempts + 1;
      this.#sql.exec(
        `UPDATE lane_deliveries SET attempts = ?, lease_until = ? WHERE delivery_id = ?`,
        attempt,
        now + this.#settings.leaseMs,
        row.delivery_id,
      );
      return { message: JSON.parse(row.message) as DeliveryMessage, attempt };
    });
  }

  /**
   * Record how a claimed attempt went: delivered, failed for good (410, a permanent problem, or the schedule used
   * up), or due again after the schedule's next delay. Stores the report for the shard; returns it, or undefined if
   * the attempt was no longer claimed (a lease recovery or a re-drive got there first).
   */
  settle(deliveryId: string, result: DeliveryAttempt, now: number, random?: () => number): DeliveryReport | undefined {
    const row = this.#row(deliveryId);
    if (row?.state !== "pending" || row.lease_until === null) return undefined;
    const base = { taskId: row.task_id, deliveryId, attempts: row.attempts, at: now };
    if (result.verdict === "delivered") return this.#finish(row, { ...base, state: "delivered" });
    const delay =
      result.verdict === "retry" ? nextDeliveryDelay(this.#settings.schedule, row.attempts, random) : undefined;
    if (delay === undefined) return this.#finish(row, { ...base, state: "failed", error: result.error });
    const dueAt = now + delay * 1000;
    const report: DeliveryReport = {
      ...base,
      state: "pending",
      error: result.error,
      reportBy: dueAt + this.#settings.checkInMs,
    };
    this.#sql.exec(
      `UPDATE lane_deliveries SET due_at = ?, lease_until = NULL, promised_by = ?, report = ? WHERE delivery_id = ?`,
      dueAt,
      report.reportBy,
      JSON.stringify(report),
      deliveryId,
    );
    return report;
  }

  /** Attempts whose lease ran out and that are not running here: their instance went away, so each counts as failed. */
  recoverExpiredLeases(now: number, running: ReadonlySet<string>): number {
    const rows = this.#sql
      .exec<{ delivery_id: string }>(
        `SELECT delivery_id FROM lane_deliveries WHERE lease_until IS NOT NULL AND lease_until <= ? AND state = 'pending'
         ORDER BY lease_until LIMIT 100`,
        now,
      )
      .toArray()
      .filter((row) => !running.has(row.delivery_id));
    for (const row of rows) this.settle(row.delivery_id, { verdict: "retry", error: INTERRUPTED_ERROR }, now);
    return rows.length;
  }

  /** Renew the promise of waiting deliveries whose promise to the shard is half used up (at most `limit`). */
  checkIn(now: number, limit: number): number {
    const rows = this.#sql
      .exec<Row>(
        `SELECT * FROM lane_deliveries WHERE state = 'pending' AND lease_until IS NULL AND report IS NULL
         AND promised_by <= ? ORDER BY promised_by LIMIT ${INT_PARAM}`,
        now + this.#settings.checkInMs / 2,
        limit,
      )
      .toArray();
    for (const row of rows) this.#promise(row.delivery_id, row.task_id, row.attempts, Math.max(row.due_at, now), now);
    return rows.length;
  }

  /** Reports not yet taken by their shard. */
  unreported(limit: number): LaneReport[] {
    return this.#sql
      .exec<{ delivery_id: string; shard: string; report: string }>(
        `SELECT delivery_id, shard, report FROM lane_deliveries WHERE report IS NOT NULL LIMIT ${INT_PARAM}`,
        limit,
      )
      .toArray()
      .map((row) => ({
        deliveryId: row.delivery_id,
        shard: row.shard,
        report: JSON.parse(row.report) as DeliveryReport,
        stored: row.report,
      }));
  }

  /** The shard has this report: a finished delivery leaves the lane, a waiting one keeps waiting. */
  markReported(deliveryId: string, stored: string): void {
    this.#sql.exec(
      `DELETE FROM lane_deliveries WHERE delivery_id = ? AND report = ? AND state != 'pending'`,
      deliveryId,
      stored,
    );
    this.#sql.exec(`UPDATE lane_deliveries SET report = NULL WHERE delivery_id = ? AND report = ?`, deliveryId, stored);
  }

  /** When the lane must next look: a delivery due, a lease running out, a promise to renew (null: nothing waits). */
  nextWakeAt(now: number): number | null {
    const times = [
      this.#min(`SELECT MIN(due_at) AS t FROM lane_deliveries WHERE state = 'pending' AND lease_until IS NULL`),
      this.#min(`SELECT MIN(lease_until) AS t FROM lane_deliveries WHERE lease_until IS NOT NULL`),
      this.#min(
        `SELECT MIN(promised_by) AS t FROM lane_deliveries
         WHERE state = 'pending' AND lease_until IS NULL AND report IS NULL`,
      ),
    ].filter((t): t is number => t !== null);
    if (times.length === 0) return null;
    // A promise is renewed when half of it is left.
    return Math.max(now, Math.min(...times.map((t, i) => (i === 2 ? t - this.#settings.checkInMs / 2 : t))));
  }

  count(): number {
    return this.#sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM lane_deliveries`).one().n;
  }

  #row(deliveryId: string): Row | undefined {
    return this.#sql.exec<Row>(`SELECT * FROM lane_deliveries WHERE delivery_id = ?`, deliveryId).toArray()[0];
  }

  #min(query: string): number | null {
    return this.#sql.exec<{ t: number | null }>(query).one().t;
  }

  /** Tell the shard (through the stored report) that the lane holds the delivery and will report by `from + checkIn`. */
  #promise(deliveryId: string, taskId: string, attempts: number, from: number, now: number): void {
    const reportBy = from + this.#settings.checkInMs;
    const report: DeliveryReport = { taskId, deliveryId, state: "pending", attempts, at: now, reportBy };
    this.#sql.exec(
      `UPDATE lane_deliveries SET promised_by = ?, report = ? WHERE delivery_id = ?`,
      reportBy,
      JSON.stringify(report),
      deliveryId,
    );
  }

  #finish(row: Row, report: DeliveryReport): DeliveryReport {
    this.#sql.exec(
      `UPDATE lane_deliveries SET state = ?, lease_until = NULL, promised_by = NULL, report = ? WHERE delivery_id = ?`,
      report.state,
      JSON.stringify(report),
      row.delivery_id,
    );
    return report;
  }
}
