/**
 * @module
 * A shard's SQLite schema and row type (documented in docs/storage-schema.md). `CREATE ... IF NOT EXISTS` runs on every
 * start; the object rebuilds all in-memory state from these tables after an eviction.
 */

import type { SqlValue } from "../sql";
import type { TaskState } from "../task-states";

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
     error TEXT)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_function_ready ON tasks (account, function, state, not_before, seq)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_function_state_seq ON tasks (account, function, state, seq)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_function_seq ON tasks (account, function, seq)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_state_time ON tasks (state, not_before)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_lease ON tasks (lease_until) WHERE state = 'running'`,
  `CREATE TABLE IF NOT EXISTS attempts (
     task_id TEXT NOT NULL, invocation INTEGER NOT NULL, run INTEGER NOT NULL, attempt INTEGER NOT NULL,
     started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL, status INTEGER, error TEXT,
     throttled INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (task_id, invocation))`,
  `CREATE TABLE IF NOT EXISTS idempotency (
     account TEXT NOT NULL, function TEXT NOT NULL, key TEXT NOT NULL, task_id TEXT NOT NULL,
     expires_at INTEGER NOT NULL, PRIMARY KEY (account, function, key))`,
  `CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON idempotency (expires_at)`,
  `CREATE TABLE IF NOT EXISTS tombstones (id TEXT PRIMARY KEY, account TEXT NOT NULL, purged_at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS deliveries (
     task_id TEXT PRIMARY KEY, delivery_id TEXT NOT NULL, destination TEXT NOT NULL, state TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0, handed_off INTEGER NOT NULL DEFAULT 0, last_error TEXT,
     updated_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS deliveries_to_hand_off ON deliveries (handed_off) WHERE handed_off = 0`,
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
} & Record<string, SqlValue>;

export type AttemptRow = {
  run: number;
  attempt: number;
  started_at: number;
  duration_ms: number;
  status: number | null;
  error: string | null;
  throttled: number;
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
