/**
 * @module
 * Retention: an ended task is purged `retentionSeconds` after it ended (its `purge_at`), with its attempts, delivery
 * row and R2 objects, in bounded chunks from the alarm (never one unbounded DELETE). A purge leaves a tombstone for
 * a day, so a GET in that time says "deleted" instead of "on its way", and adds to `purged_counts` so stats keep
 * counting it. R2 keys go to the `r2_garbage` outbox in the same transaction; the Durable Object deletes them from
 * the bucket afterwards, so a crash in between loses no key.
 */

import type { Sql, SqlValue } from "../sql";
import { INT_PARAM } from "../sql";
import { scopeOf } from "./context";

/** Tables this part owns (tombstones of purged tasks, counts kept for stats, R2 keys to delete); applied by schema.ts. */
export const RETENTION_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS tombstones (id TEXT PRIMARY KEY, account TEXT NOT NULL, purged_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS tombstones_by_age ON tombstones (purged_at)`,
  // Tasks purged by retention still count in stats: per function and final state.
  `CREATE TABLE IF NOT EXISTS purged_counts (
     account TEXT NOT NULL, function TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL,
     PRIMARY KEY (account, function, state))`,
  // R2 objects whose rows are gone, deleted from the bucket by the alarm (an outbox, so a crash loses none).
  `CREATE TABLE IF NOT EXISTS r2_garbage (key TEXT PRIMARY KEY, added_at INTEGER NOT NULL)`,
];

/** Default `retentionSeconds` (API.md): 7 days. */
export const DEFAULT_RETENTION_SECONDS = 604_800;
/** Tasks one purge chunk removes. */
export const PURGE_CHUNK = 200;
/** How long a tombstone is kept. Older ids that a shard does not know are gone (see {@link IN_FLIGHT_WINDOW_MS}). */
export const TOMBSTONE_TTL_MS = 24 * 3600 * 1000;
/**
 * An id younger than this that its shard does not know may still be in the ingest queue ("accepted"); an older one is
 * simply unknown. Equal to the tombstone lifetime, so every purged id reads as gone.
 */
export const IN_FLIGHT_WINDOW_MS = TOMBSTONE_TTL_MS;
/** R2 keys one alarm deletes (the bucket's delete takes up to 1,000 keys per call). */
export const R2_GARBAGE_CHUNK = 1000;

/** The columns a purge needs of a task row. */
type PurgedTask = {
  id: string;
  account: string;
  function: string;
  state: string;
  payload_r2: string | null;
  result_r2: string | null;
} & Record<string, SqlValue>;

/** A task whose delivery has not been handed to the delivery queue yet is not purged (nor due for it) until it is. */
const NOT_AWAITING_HANDOFF = `NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.task_id = tasks.id AND d.handed_off = 0)`;

/** When a task that ends now is purged. */
export function purgeAt(now: number, retentionSeconds: number | undefined): number {
  return now + (retentionSeconds ?? DEFAULT_RETENTION_SECONDS) * 1000;
}

/** Queue R2 objects for deletion (in the caller's transaction). */
export function discardBlobs(sql: Sql, keys: readonly (string | null | undefined)[], now: number): void {
  for (const key of keys) {
    if (typeof key === "string" && key !== "") {
      sql.exec(`INSERT OR IGNORE INTO r2_garbage (key, added_at) VALUES (?, ?)`, key, now);
    }
  }
}

/**
 * Delete one task's rows for good and leave its tombstone; its R2 objects go to the garbage outbox. `count` keeps it
 * in the stats (retention); a user's DELETE does not count it.
 */
export function removeTask(sql: Sql, task: PurgedTask, now: number, count: boolean): void {
  sql.exec(`DELETE FROM attempts WHERE task_id = ?`, task.id);
  sql.exec(`DELETE FROM deliveries WHERE task_id = ?`, task.id);
  sql.exec(`DELETE FROM tasks WHERE id = ?`, task.id);
  sql.exec(`INSERT OR REPLACE INTO tombstones (id, account, purged_at) VALUES (?, ?, ?)`, task.id, task.account, now);
  discardBlobs(sql, [task.payload_r2, task.result_r2], now);
  if (count && task.function !== "") {
    sql.exec(
      `INSERT INTO purged_counts (account, function, state, n) VALUES (?, ?, ?, 1)
       ON CONFLICT (account, function, state) DO UPDATE SET n = n + 1`,
      task.account,
      task.function,
      task.state,
    );
  }
}

/**
 * Purge up to PURGE_CHUNK tasks whose retention has run out, and forget tombstones older than TOMBSTONE_TTL_MS.
 * A task whose delivery has not been handed to the delivery queue yet waits for it. Returns how many were purged.
 */
export function purgeExpired(sql: Sql, now: number): number {
  const rows = sql
    .exec<PurgedTask>(
      `SELECT id, account, function, state, payload_r2, result_r2 FROM tasks
       WHERE purge_at <= ? AND ${NOT_AWAITING_HANDOFF}
       ORDER BY purge_at LIMIT ${INT_PARAM}`,
      now,
      PURGE_CHUNK,
    )
    .toArray();
  for (const row of rows) removeTask(sql, row, now, true);
  sql.exec(
    `DELETE FROM tombstones WHERE rowid IN (SELECT rowid FROM tombstones WHERE purged_at <= ? LIMIT 1000)`,
    now - TOMBSTONE_TTL_MS,
  );
  return rows.length;
}

/** The next time retention has work: a task due for purging, or a tombstone due to be forgotten. */
export function nextRetentionWake(sql: Sql): number | null {
  // A task waiting for its delivery hand-off is not due yet (the hand-off retry wakes the shard anyway).
  // Walks the purge_at index in order and stops at the first row, however many tasks are retained.
  const task =
    sql
      .exec<{ t: number }>(
        `SELECT purge_at AS t FROM tasks WHERE purge_at IS NOT NULL AND ${NOT_AWAITING_HANDOFF}
         ORDER BY purge_at LIMIT 1`,
      )
      .toArray()[0]?.t ?? null;
  const tomb = sql.exec<{ t: number | null }>(`SELECT MIN(purged_at) AS t FROM tombstones`).one().t;
  const times = [task, tomb === null ? null : tomb + TOMBSTONE_TTL_MS].filter((t): t is number => t !== null);
  return times.length === 0 ? null : Math.min(...times);
}

/** Keys waiting to be deleted from R2, oldest first. */
export function pendingGarbage(sql: Sql, limit = R2_GARBAGE_CHUNK): string[] {
  return sql
    .exec<{ key: string }>(`SELECT key FROM r2_garbage ORDER BY added_at LIMIT ${INT_PARAM}`, limit)
    .toArray()
    .map((row) => row.key);
}

/** The bucket no longer has these keys. */
export function forgetGarbage(sql: Sql, keys: readonly string[]): void {
  for (const key of keys) sql.exec(`DELETE FROM r2_garbage WHERE key = ?`, key);
}

/** Counts of tasks purged by retention, per final state, for one function (or all). */
export function purgedCounts(sql: Sql, account?: string, fnName?: string): Record<string, number> {
  const { where, bindings } = scopeOf(account, fnName);
  const rows = sql
    .exec<{ state: string; n: number }>(
      `SELECT state, SUM(n) AS n FROM purged_counts ${where} GROUP BY state`,
      ...bindings,
    )
    .toArray();
  return Object.fromEntries(rows.map((row) => [row.state, row.n]));
}
