/**
 * @module
 * A shard's SQLite schema and row type (documented in docs/storage-schema.md). `CREATE ... IF NOT EXISTS` runs on every
 * start; the object rebuilds all in-memory state from these tables after an eviction.
 */

import type { Sql, SqlValue } from "../sql";
import type { TaskState } from "../task-states";
import { ACCOUNT_LIMITS_SCHEMA } from "./accounts";
import { ATTEMPTS_SCHEMA } from "./attempt-log";
import { FUNCTIONS_SCHEMA } from "./functions";
import { GOVERNORS_SCHEMA } from "./governor";
import { IDEMPOTENCY_SCHEMA } from "./intake";
import { LANES_SCHEMA } from "./lanes";
import { OBSERVATIONS_SCHEMA } from "./observations";
import { BULK_OPS_SCHEMA } from "./operations";
import { DELIVERIES_SCHEMA } from "./outbox";
import { RETENTION_SCHEMA } from "./retention";
import { SCHEDULES_SCHEMA } from "./schedules";

/**
 * Columns added after the first release, for shards created before them (a fresh shard has them from SHARD_SCHEMA).
 * SQLite has no `ADD COLUMN IF NOT EXISTS`, so each is applied once and a "duplicate column" error means done.
 */
export const SHARD_MIGRATIONS: readonly { readonly statement: string; readonly backfill?: string }[] = [
  {
    statement: `ALTER TABLE tasks ADD COLUMN purge_at INTEGER`,
    // Tasks that ended before retention existed get the default: 7 days after they ended.
    backfill: `UPDATE tasks SET purge_at = finished_at + 604800000 WHERE purge_at IS NULL AND finished_at IS NOT NULL
           AND state IN ('succeeded', 'failed', 'cancelled', 'expired')`,
  },
  { statement: `ALTER TABLE tasks ADD COLUMN attempt_log_dropped INTEGER NOT NULL DEFAULT 0` },
  { statement: `ALTER TABLE attempts ADD COLUMN count INTEGER NOT NULL DEFAULT 1` },
  // Queued tasks of an older shard start out waiting (NULL) and take a lane tag on the first pass (lanes.ts).
  { statement: `ALTER TABLE tasks ADD COLUMN lane_tag INTEGER` },
  // When a handed-off delivery counts as lost (NULL on older rows: timed by the schedule from updated_at).
  { statement: `ALTER TABLE deliveries ADD COLUMN silent_at INTEGER` },
  // Slow start and Retry-After pauses (governor.ts); a NULL ssthresh reads as past slow start.
  { statement: `ALTER TABLE governors ADD COLUMN ssthresh REAL` },
  { statement: `ALTER TABLE governors ADD COLUMN paused_until INTEGER NOT NULL DEFAULT 0` },
  { statement: `ALTER TABLE governors ADD COLUMN last_active_at INTEGER NOT NULL DEFAULT 0` },
  // The schedule that fired a task (schedules.ts): JSON {id, scheduledFor, late}; NULL for every other task.
  { statement: `ALTER TABLE tasks ADD COLUMN schedule TEXT` },
  // W3C trace context (src/trace.ts); NULL on tasks from before it.
  { statement: `ALTER TABLE tasks ADD COLUMN traceparent TEXT` },
];

/** Create what is missing, then bring an older shard's columns up to date. */
export function applyShardSchema(sql: Sql): void {
  for (const migration of SHARD_MIGRATIONS) {
    const table = /ALTER TABLE (\w+)/.exec(migration.statement)?.[1] ?? "";
    const exists =
      sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, table).toArray().length > 0;
    if (!exists) continue;
    try {
      sql.exec(migration.statement);
    } catch (error) {
      if (!String(error).includes("duplicate column")) throw error;
      continue;
    }
    if (migration.backfill) sql.exec(migration.backfill);
  }
  for (const statement of SHARD_SCHEMA) sql.exec(statement);
}

/** The `tasks` table: every part reads it; each transition writes its own columns. */
export const TASKS_SCHEMA: readonly string[] = [
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
     purge_at INTEGER, attempt_log_dropped INTEGER NOT NULL DEFAULT 0, lane_tag INTEGER, schedule TEXT,
     traceparent TEXT)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_function_state_seq ON tasks (account, function, state, seq)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_function_seq ON tasks (account, function, seq)`,
  // Indexes read only for queued tasks are partial: a task leaves them once at dispatch, and its later transitions
  // (running → succeeded, the most common write after the insert) touch none of them.
  `CREATE INDEX IF NOT EXISTS tasks_queued_by_function ON tasks (account, function, not_before, seq)
     WHERE state = 'queued'`,
  `CREATE INDEX IF NOT EXISTS tasks_queued_by_age ON tasks (account, function, age_from) WHERE state = 'queued'`,
  `CREATE INDEX IF NOT EXISTS tasks_queued_by_time ON tasks (not_before, seq) WHERE state = 'queued'`,
  // What they replaced (each keyed by state, so every transition rewrote all three).
  `DROP INDEX IF EXISTS tasks_by_function_ready`,
  `DROP INDEX IF EXISTS tasks_by_state_time`,
  `DROP INDEX IF EXISTS tasks_by_function_age`,
  `CREATE INDEX IF NOT EXISTS tasks_by_lease ON tasks (lease_until) WHERE state = 'running'`,
  `CREATE INDEX IF NOT EXISTS tasks_by_purge ON tasks (purge_at) WHERE purge_at IS NOT NULL`,
  // Calls in flight, read by every dispatch pass: only running rows, and covering, so the pass never touches the table.
  `CREATE INDEX IF NOT EXISTS tasks_running ON tasks (account, function, invoker, async) WHERE state = 'running'`,
];

/** Every table and index of a shard, each declared by the part that owns it (docs/storage-schema.md). */
export const SHARD_SCHEMA: readonly string[] = [
  ...TASKS_SCHEMA,
  ...FUNCTIONS_SCHEMA,
  ...ATTEMPTS_SCHEMA,
  ...IDEMPOTENCY_SCHEMA,
  ...RETENTION_SCHEMA,
  ...DELIVERIES_SCHEMA,
  ...GOVERNORS_SCHEMA,
  ...BULK_OPS_SCHEMA,
  ...LANES_SCHEMA,
  ...ACCOUNT_LIMITS_SCHEMA,
  ...SCHEDULES_SCHEMA,
  ...OBSERVATIONS_SCHEMA,
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
  fairness_key: string | null;
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
  /** Set once the queued task is due: its place in its fairness-key lane (lanes.ts); NULL while it waits. */
  lane_tag: number | null;
  /** JSON `TaskSchedule` (records.ts) of a task a schedule fired; NULL otherwise. */
  schedule: string | null;
  traceparent: string | null;
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
  silent_at: number | null;
} & Record<string, SqlValue>;
