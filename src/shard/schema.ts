/**
 * @module
 * A shard's SQLite schema and row type (documented in docs/storage-schema.md). `CREATE ... IF NOT EXISTS` runs on every
 * start; the object rebuilds all in-memory state from these tables after an eviction.
 */

import type { Sql, SqlValue } from "../sql";
import type { TaskState } from "../task-states";

/**
 * Columns added after the first release, for shards created before them (a fresh shard has them from SHARD_SCHEMA).
 * SQLite has no `ADD COLUMN IF NOT EXISTS`, so each is applied once and a "duplicate column" error means done.
 */
export const SHARD_MIGRATIONS: readonly { readonly statement: string; readonly then?: string }[] = [
  {
    statement: `ALTER TABLE tasks ADD COLUMN purge_at INTEGER`,
    // Tasks that ended before retention existed get the default: 7 days after they ended.
    then: `UPDATE tasks SET purge_at = finished_at + 604800000 WHERE purge_at IS NULL AND finished_at IS NOT NULL
           AND state IN ('succeeded', 'failed', 'cancelled', 'expired')`,
  },
  { statement: `ALTER TABLE tasks ADD COLUMN attempt_log_dropped INTEGER NOT NULL DEFAULT 0` },
  { statement: `ALTER TABLE attempts ADD COLUMN count INTEGER NOT NULL DEFAULT 1` },
];

/** Create what is missing, then bring an older shard's columns up to date. */
export function applyShardSchema(sql: Sql): void {
  for (const migration of SHARD_MIGRATIONS) {
    const table = /ALTER TABLE (\w+)/.exec(migration.statement)?.[1] ?? "";
    const exists = sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, table).toArray().length > 0;
    if (!exists) continue;
    try {
      sql.exec(migration.statement);
    } catch (error) {
      if (!String(error).includes("duplicate column")) throw error;
      continue;
    }
    if (migration.then) sql.exec(migration.then);
  }
  for (const statement of SHARD_SCHEMA) sql.exec(statement);
}

export const SHARD_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS functions (
     account TEXT NOT NULL, name TEXT NOT NULL, record TEXT NOT NULL, version INTEGER NOT NULL,
     deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (account, name))`,
  `CREATE TABLE IF NOT EXISTS tasks (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     account TEXT NOT NULL,
     function TEXT NOT NULL,
     state TEXT NOT NULL,
     run INTEGER NOT NULL DEFAULT 1,
     attempts INTEGER NOT NULL DEFAULT 0,
     invocations INTEGER NOT NULL DEFAULT 0,
     payload BLOB, payload_r2 TEXT, payload_type TEXT NOT NULL, payload_size INTEGER NOT NULL,
     idempotency_key TEXT, fairness_key TEXT,
     not_before INTEGER NOT NULL,
     age_from INTEGER NOT NULL,
     lease_until INTEGER, invoker INTEGER, callback_token TEXT, async INTEGER NOT NULL DEFAULT 0,
     chain_depth INTEGER NOT NULL DEFAULT 0, origin TEXT,
     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
     accepted_at INTEGER, queued_at INTEGER, first_dispatched_at INTEGER, last_dispatched_at INTEGER,
     finished_at INTEGER, delivered_at INTEGER,
     result BLOB, result_r2 TEXT, result_type TEXT, result_size INTEGER,
     error TEXT,
     purge_at INTEGER, attempt_log_dropped INTEGER NOT NULL DEFAULT 0)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_function_ready ON tasks (account, function, state, not_before, seq)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_function_state_seq ON tasks (account, function, state, seq)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_function_seq ON tasks (account, function, seq)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_state_time ON tasks (state, not_before)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_lease ON tasks (lease_until) WHERE state = 'running'`,
  `CREATE INDEX IF NOT EXISTS tasks_by_function_age ON tasks (account, function, state, age_from)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_purge ON tasks (purge_at) WHERE purge_at IS NOT NULL`,
  `CREATE TABLE IF NOT EXISTS attempts (
     task_id TEXT NOT NULL, invocation INTEGER NOT NULL, run INTEGER NOT NULL, attempt INTEGER NOT NULL,
     started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL, status INTEGER, error TEXT,
     throttled INTEGER NOT NULL DEFAULT 0, count INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (task_id, invocation))`,
  `CREATE TABLE IF NOT EXISTS idempotency (
     account TEXT NOT NULL, function TEXT NOT NULL, key TEXT NOT NULL, task_id TEXT NOT NULL,
     expires_at INTEGER NOT NULL, PRIMARY KEY (account, function, key))`,
  `CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON idempotency (expires_at)`,
  `CREATE TABLE IF NOT EXISTS tombstones (id TEXT PRIMARY KEY, account TEXT NOT NULL, purged_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS tombstones_by_age ON tombstones (purged_at)`,
  // Tasks purged by retention still count in stats: per function and final state.
  `CREATE TABLE IF NOT EXISTS purged_counts (
     account TEXT NOT NULL, function TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL,
     PRIMARY KEY (account, function, state))`,
  // R2 objects whose rows are gone, deleted from the bucket by the alarm (an outbox, so a crash loses none).
  `CREATE TABLE IF NOT EXISTS r2_garbage (key TEXT PRIMARY KEY, added_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS deliveries (
     task_id TEXT PRIMARY KEY, delivery_id TEXT NOT NULL, destination TEXT NOT NULL, state TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0, handed_off INTEGER NOT NULL DEFAULT 0, last_error TEXT,
     updated_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS deliveries_to_hand_off ON deliveries (handed_off) WHERE handed_off = 0`,
  `CREATE INDEX IF NOT EXISTS deliveries_in_flight ON deliveries (updated_at) WHERE state = 'pending' AND handed_off = 1`,
  `CREATE TABLE IF NOT EXISTS governors (
     account TEXT NOT NULL, function TEXT NOT NULL, window REAL NOT NULL, last_decrease_at INTEGER NOT NULL,
     PRIMARY KEY (account, function))`,
  `CREATE TABLE IF NOT EXISTS bulk_ops (
     op_id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, function TEXT NOT NULL, op TEXT NOT NULL,
     from_state TEXT NOT NULL, until_seq INTEGER NOT NULL, created_at INTEGER NOT NULL)`,
];

export type TaskRow = {
  seq: number;
  id: string;
  account: string;
  function: string;
  state: TaskState;
  run: number;
  attempts: number;
  invocations: number;
  payload: ArrayBuffer | null;
  payload_r2: string | null;
  payload_type: string;
  payload_size: number;
  idempotency_key: string | null;
  not_before: number;
  age_from: number;
  lease_until: number | null;
  invoker: number | null;
  callback_token: string | null;
  async: number;
  chain_depth: number;
  origin: string | null;
  created_at: number;
  updated_at: number;
  accepted_at: number | null;
  queued_at: number | null;
  first_dispatched_at: number | null;
  last_dispatched_at: number | null;
  finished_at: number | null;
  delivered_at: number | null;
  result: ArrayBuffer | null;
  result_r2: string | null;
  result_type: string | null;
  result_size: number | null;
  error: string | null;
  purge_at: number | null;
  attempt_log_dropped: number;
} & Record<string, SqlValue>;

export type AttemptRow = {
  run: number;
  attempt: number;
  started_at: number;
  duration_ms: number;
  status: number | null;
  error: string | null;
  throttled: number;
  count: number;
} & Record<string, SqlValue>;

export type DeliveryRow = {
  task_id: string;
  delivery_id: string;
  destination: string;
  state: "pending" | "delivered" | "failed";
  attempts: number;
  handed_off: number;
  last_error: string | null;
  updated_at: number;
} & Record<string, SqlValue>;
