/**
 * @module
 * A shard's task store: the SQLite schema, the state machine applied to rows, dispatch planning and outcome handling.
 * Every public method is one synchronous transaction (the Durable Object wraps it in `transactionSync`), so a crash
 * leaves either the whole transition or none of it. Tables are documented in docs/storage-schema.md.
 */

import { backoffDelayMs } from "./backoff";
import { toBase64Url, randomBytes } from "./encoding";
import type { InvocationOutcome, TaskError } from "./outcome";
import type {
  AttemptLogEntry,
  BodyRef,
  FunctionRecord,
  IngestMessage,
  InvocationJob,
  OutcomeReport,
  StoredTaskView,
} from "./records";
import { allocateDispatch } from "./scheduler";
import { blobOf, bytesOf, type Sql, type SqlValue } from "./sql";
import { transition, type TaskEvent, type TaskState } from "./task-states";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS functions (
     account TEXT NOT NULL, name TEXT NOT NULL, record TEXT NOT NULL, version INTEGER NOT NULL,
     deleted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (account, name))`,
  `CREATE TABLE IF NOT EXISTS tasks (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     account TEXT NOT NULL,
     function TEXT NOT NULL,
     state TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     invocations INTEGER NOT NULL DEFAULT 0,
     payload BLOB, payload_r2 TEXT, payload_type TEXT NOT NULL, payload_size INTEGER NOT NULL,
     idempotency_key TEXT, fairness_key TEXT,
     not_before INTEGER NOT NULL,
     lease_until INTEGER, invoker INTEGER, callback_token TEXT,
     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
     accepted_at INTEGER, queued_at INTEGER, first_dispatched_at INTEGER, last_dispatched_at INTEGER,
     finished_at INTEGER, delivered_at INTEGER,
     result BLOB, result_r2 TEXT, result_type TEXT, result_size INTEGER,
     error TEXT)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_function_ready ON tasks (account, function, state, not_before, seq)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_state_time ON tasks (state, not_before)`,
  `CREATE INDEX IF NOT EXISTS tasks_by_lease ON tasks (lease_until) WHERE state = 'running'`,
  `CREATE INDEX IF NOT EXISTS tasks_by_function_seq ON tasks (account, function, seq)`,
  `CREATE TABLE IF NOT EXISTS attempts (
     task_id TEXT NOT NULL, invocation INTEGER NOT NULL, attempt INTEGER NOT NULL,
     started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL, status INTEGER, error TEXT,
     throttled INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (task_id, invocation))`,
];

type TaskRow = {
  seq: number;
  id: string;
  account: string;
  function: string;
  state: TaskState;
  attempts: number;
  invocations: number;
  payload: ArrayBuffer | null;
  payload_r2: string | null;
  payload_type: string;
  payload_size: number;
  not_before: number;
  lease_until: number | null;
  invoker: number | null;
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

export interface ShardSettings {
  readonly leaseGraceMs: number;
  readonly invokers: number;
  readonly callsPerInvoker: number;
}

export interface DispatchPlan {
  /** Jobs grouped by invoker index. */
  readonly byInvoker: Map<number, InvocationJob[]>;
  readonly dispatched: number;
  readonly expired: number;
  /** True when the pass stopped at its budget and more tasks are ready now. */
  readonly more: boolean;
}

/** Largest number of tasks one dispatch pass moves (bounds the transaction and the CPU of one call). */
export const DISPATCH_BUDGET = 200;
/** Floor under a throttled retry, so `Retry-After: 0` cannot turn a shard into a hot loop against the function. */
export const MIN_THROTTLE_DELAY_MS = 100;
/** How often a shard with ready-but-blocked tasks looks again, even if no completion wakes it. */
export const IDLE_RECHECK_MS = 5_000;

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export class ShardStore {
  readonly #sql: Sql;
  readonly #settings: ShardSettings;
  readonly #functions = new Map<string, FunctionRecord>();
  #rotation = 0;

  constructor(sql: Sql, settings: ShardSettings) {
    this.#sql = sql;
    this.#settings = settings;
    for (const statement of SCHEMA) sql.exec(statement);
    for (const row of sql.exec<{ record: string }>("SELECT record FROM functions WHERE deleted = 0").toArray()) {
      const record = JSON.parse(row.record) as FunctionRecord;
      this.#functions.set(functionKey(record.account, record.name), record);
    }
  }

  /** Keep the newest copy of a function's configuration. */
  upsertFunction(record: FunctionRecord): void {
    const key = functionKey(record.account, record.name);
    const known = this.#functions.get(key);
    if (known && known.version >= record.version) return;
    const written = this.#sql.exec(
      `INSERT INTO functions (account, name, record, version, deleted) VALUES (?, ?, ?, ?, 0)
       ON CONFLICT (account, name) DO UPDATE SET record = excluded.record, version = excluded.version, deleted = 0
       WHERE excluded.version > functions.version`,
      record.account,
      record.name,
      JSON.stringify(record),
      record.version,
    ).rowsWritten;
    // No row written: a newer version, or the deletion of this very version, is already stored.
    if (written > 0) this.#functions.set(key, record);
  }

  /**
   * Store tasks from the ingest queue. Idempotent by task id, because Queues deliver at least once.
   * @returns how many were new and how many had been stored before.
   */
  accept(messages: readonly IngestMessage[], now: number): { accepted: number; duplicates: number } {
    let accepted = 0;
    let duplicates = 0;
    for (const { fn } of messages) this.upsertFunction(fn);
    for (const { task } of messages) {
      // A task that arrives after its function was deleted is kept, as cancelled, never dropped.
      const live = this.#functions.has(functionKey(task.account, task.functionName));
      const enqueue = transition("accepted", live ? "enqueue" : "cancel");
      if (!enqueue.ok) throw new Error(enqueue.reason);
      const notBefore = task.acceptedAt + (task.delaySeconds ?? 0) * 1000;
      const cursor = this.#sql.exec(
        `INSERT INTO tasks (id, account, function, state, payload, payload_r2, payload_type, payload_size,
           idempotency_key, fairness_key, not_before, created_at, updated_at, accepted_at, queued_at, finished_at, error)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING`,
        task.id,
        task.account,
        task.functionName,
        enqueue.to,
        blobOf(task.payload.inline),
        task.payload.r2Key ?? null,
        task.payload.contentType,
        task.payload.size,
        task.idempotencyKey ?? null,
        task.fairnessKey ?? null,
        notBefore,
        task.acceptedAt,
        now,
        task.acceptedAt,
        live ? now : null,
        live ? null : now,
        live ? null : FUNCTION_DELETED_ERROR,
      );
      if (cursor.rowsWritten > 0) accepted++;
      else duplicates++;
    }
    return { accepted, duplicates };
  }

  getTask(account: string, id: string): StoredTaskView | null {
    const row = this.#row(id);
    if (!row || row.account !== account) return null;
    return this.#view(row);
  }

  /**
   * Pick the next tasks to run: functions share the pass round robin, each limited by its concurrency window; tasks
   * older than their function's `maxEventAgeSeconds` expire instead of running.
   */
  planDispatch(shard: string, now: number): DispatchPlan {
    const running = new Map<string, number>();
    for (const row of this.#sql
      .exec<{ account: string; function: string; n: number }>(
        `SELECT account, function, COUNT(*) AS n FROM tasks WHERE state = 'running' GROUP BY account, function`,
      )
      .toArray()) {
      running.set(functionKey(row.account, row.function), row.n);
    }

    let expired = 0;
    const candidates = [];
    for (const [key, fn] of this.#functions) {
      expired += this.#expireStale(fn, now);
      const room = fn.spec.maxConcurrency - (running.get(key) ?? 0);
      if (room <= 0) continue;
      const ready = this.#sql
        .exec<{ n: number }>(
          `SELECT COUNT(*) AS n FROM (SELECT 1 FROM tasks WHERE account = ? AND function = ? AND state = 'queued'
             AND not_before <= ? LIMIT ?)`,
          fn.account,
          fn.name,
          now,
          DISPATCH_BUDGET + 1,
        )
        .one().n;
      if (ready > 0) candidates.push({ key, room, ready });
    }

    const allocation = allocateDispatch(candidates, DISPATCH_BUDGET, this.#rotation++);
    const invokerLoad = this.#invokerLoad();
    const byInvoker = new Map<number, InvocationJob[]>();
    let dispatched = 0;
    for (const [key, count] of allocation) {
      const fn = this.#functions.get(key);
      if (!fn || count <= 0) continue;
      const rows = this.#sql
        .exec<TaskRow>(
          `SELECT * FROM tasks WHERE account = ? AND function = ? AND state = 'queued' AND not_before <= ?
           ORDER BY not_before, seq LIMIT ?`,
          fn.account,
          fn.name,
          now,
          count,
        )
        .toArray();
      for (const row of rows) {
        const job = this.#dispatchRow(shard, row, fn, now, invokerLoad);
        const list = byInvoker.get(job.invoker) ?? [];
        list.push(job.job);
        byInvoker.set(job.invoker, list);
        dispatched++;
      }
    }
    const more = candidates.some((c) => (allocation.get(c.key) ?? 0) < Math.min(c.room, c.ready));
    return { byInvoker, dispatched, expired, more };
  }

  /** Apply an invoker's report. A report for an invocation that is no longer current is ignored. */
  applyOutcome(report: OutcomeReport, now: number, random: () => number = Math.random): { applied: boolean } {
    const row = this.#row(report.taskId);
    if (!row || row.state !== "running" || row.invocations !== report.invocation) return { applied: false };
    const fn = this.#functions.get(functionKey(row.account, row.function));
    const outcome = report.outcome;
    this.#logAttempt(row, report, outcome);
    switch (outcome.kind) {
      case "succeeded":
        this.#finish(row, "succeed", now, undefined, outcome.body);
        break;
      case "throttled": {
        // A throttled call does not use up an attempt (API.md); the age limit still applies at dispatch.
        const throttles = row.invocations - row.attempts + 1;
        const delay = Math.max(
          MIN_THROTTLE_DELAY_MS,
          outcome.retryAfterMs ?? backoffDelayMs(throttles, fn?.spec.retry ?? DEFAULT_RETRY, random),
        );
        this.#requeue(row, now, delay, row.attempts - 1);
        break;
      }
      case "transient":
        this.#retryOrFail(row, fn, now, outcome.error, random);
        break;
      case "permanent":
        this.#finish(row, "fail", now, outcome.error);
        break;
    }
    return { applied: true };
  }

  /** Running tasks whose lease ran out (the call vanished): back to queued, the attempt counted, or failed if none left. */
  recoverExpiredLeases(now: number, random: () => number = Math.random): number {
    const rows = this.#sql
      .exec<TaskRow>(
        `SELECT * FROM tasks WHERE state = 'running' AND lease_until <= ? ORDER BY lease_until LIMIT ?`,
        now,
        DISPATCH_BUDGET,
      )
      .toArray();
    for (const row of rows) {
      const error: TaskError = { kind: "lease_expired", message: "no outcome was reported before the lease ran out" };
      this.#sql.exec(
        `INSERT OR IGNORE INTO attempts (task_id, invocation, attempt, started_at, duration_ms, error)
         VALUES (?, ?, ?, ?, ?, ?)`,
        row.id,
        row.invocations,
        row.attempts,
        row.last_dispatched_at ?? now,
        now - (row.last_dispatched_at ?? now),
        JSON.stringify(error),
      );
      this.#retryOrFail(row, this.#functions.get(functionKey(row.account, row.function)), now, error, random);
    }
    return rows.length;
  }

  /** Mark a function deleted and cancel its waiting tasks (never drop them silently). */
  deleteFunction(account: string, name: string, now: number): { cancelled: number } {
    this.#sql.exec(`UPDATE functions SET deleted = 1 WHERE account = ? AND name = ?`, account, name);
    // Snapshots of this version still in the ingest queue must not revive it (upsert needs a strictly newer version).
    this.#functions.delete(functionKey(account, name));
    const error = FUNCTION_DELETED_ERROR;
    // rowsWritten also counts index entries, so count the rows themselves.
    const cancelled = this.#sql.exec(
      `UPDATE tasks SET state = 'cancelled', finished_at = ?, updated_at = ?, error = ?
       WHERE account = ? AND function = ? AND state IN ('queued', 'paused') RETURNING id`,
      now,
      now,
      error,
      account,
      name,
    ).toArray().length;
    return { cancelled };
  }

  /** When the shard must next look at its tasks: a delay or backoff ending, a lease running out, or a blocked backlog. */
  nextWakeAt(now: number): number | null {
    const nextQueued = this.#sql
      .exec<{ t: number | null }>(`SELECT MIN(not_before) AS t FROM tasks WHERE state = 'queued' AND not_before > ?`, now)
      .one().t;
    const nextLease = this.#sql
      .exec<{ t: number | null }>(`SELECT MIN(lease_until) AS t FROM tasks WHERE state = 'running'`)
      .one().t;
    const blocked = this.#sql
      .exec<{ n: number }>(`SELECT COUNT(*) AS n FROM (SELECT 1 FROM tasks WHERE state = 'queued' AND not_before <= ? LIMIT 1)`, now)
      .one().n;
    const times = [nextQueued, nextLease, blocked > 0 ? now + IDLE_RECHECK_MS : null].filter(
      (t): t is number => typeof t === "number",
    );
    return times.length === 0 ? null : Math.min(...times);
  }

  /** Task counts per state, for stats and tests. */
  countByState(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const row of this.#sql
      .exec<{ state: string; n: number }>(`SELECT state, COUNT(*) AS n FROM tasks GROUP BY state`)
      .toArray()) {
      counts[row.state] = row.n;
    }
    return counts;
  }

  #row(id: string): TaskRow | undefined {
    return this.#sql.exec<TaskRow>(`SELECT * FROM tasks WHERE id = ?`, id).toArray()[0];
  }

  #invokerLoad(): number[] {
    const load = new Array<number>(this.#settings.invokers).fill(0);
    for (const row of this.#sql
      .exec<{ invoker: number; n: number }>(
        `SELECT invoker, COUNT(*) AS n FROM tasks WHERE state = 'running' AND invoker IS NOT NULL GROUP BY invoker`,
      )
      .toArray()) {
      if (row.invoker < load.length) load[row.invoker] = row.n;
    }
    return load;
  }

  #dispatchRow(
    shard: string,
    row: TaskRow,
    fn: FunctionRecord,
    now: number,
    invokerLoad: number[],
  ): { invoker: number; job: InvocationJob } {
    const step = transition(row.state, "dispatch");
    if (!step.ok) throw new Error(step.reason);
    // Fill the least-loaded invoker; each runs at most callsPerInvoker calls at once, extra jobs wait in its queue.
    let invoker = 0;
    for (let i = 1; i < invokerLoad.length; i++) {
      if ((invokerLoad[i] ?? 0) < (invokerLoad[invoker] ?? 0)) invoker = i;
    }
    invokerLoad[invoker] = (invokerLoad[invoker] ?? 0) + 1;
    const attempt = row.attempts + 1;
    const invocation = row.invocations + 1;
    const deadline = now + fn.spec.timeoutMs;
    const callbackToken = toBase64Url(randomBytes(24));
    this.#sql.exec(
      `UPDATE tasks SET state = ?, attempts = ?, invocations = ?, lease_until = ?, invoker = ?, callback_token = ?,
         first_dispatched_at = COALESCE(first_dispatched_at, ?), last_dispatched_at = ?, updated_at = ?
       WHERE id = ?`,
      step.to,
      attempt,
      invocation,
      deadline + this.#settings.leaseGraceMs,
      invoker,
      callbackToken,
      now,
      now,
      now,
      row.id,
    );
    const payload: BodyRef = {
      contentType: row.payload_type,
      size: row.payload_size,
      ...(row.payload ? { inline: new Uint8Array(row.payload) } : {}),
      ...(row.payload_r2 ? { r2Key: row.payload_r2 } : {}),
    };
    return {
      invoker,
      job: {
        shard,
        taskId: row.id,
        account: row.account,
        functionName: row.function,
        attempt,
        invocation,
        target: fn.spec.target,
        timeoutMs: fn.spec.timeoutMs,
        deadline,
        callbackToken,
        payload,
      },
    };
  }

  #expireStale(fn: FunctionRecord, now: number): number {
    const cutoff = now - fn.spec.maxEventAgeSeconds * 1000;
    const error = JSON.stringify({
      kind: "expired",
      message: `not finished within maxEventAgeSeconds (${fn.spec.maxEventAgeSeconds})`,
    } satisfies TaskError);
    return this.#sql.exec(
      `UPDATE tasks SET state = 'expired', finished_at = ?, updated_at = ?, error = ?, lease_until = NULL
       WHERE account = ? AND function = ? AND state = 'queued' AND created_at <= ? AND not_before <= ? RETURNING id`,
      now,
      now,
      error,
      fn.account,
      fn.name,
      cutoff,
      now,
    ).toArray().length;
  }

  #retryOrFail(row: TaskRow, fn: FunctionRecord | undefined, now: number, error: TaskError, random: () => number): void {
    const retry = fn?.spec.retry ?? DEFAULT_RETRY;
    if (row.attempts >= retry.maxAttempts) {
      this.#finish(row, "fail", now, error);
      return;
    }
    this.#requeue(row, now, backoffDelayMs(row.attempts, retry, random), row.attempts, error);
  }

  #requeue(row: TaskRow, now: number, delayMs: number, attempts: number, error?: TaskError): void {
    const step = transition(row.state, "requeue");
    if (!step.ok) throw new Error(step.reason);
    const fn = this.#functions.get(functionKey(row.account, row.function));
    // Never park a task past its expiry: wake it at the deadline so it expires on time.
    const expiresAt = row.created_at + (fn?.spec.maxEventAgeSeconds ?? 21_600) * 1000;
    const notBefore = Math.min(now + delayMs, Math.max(now, expiresAt));
    this.#sql.exec(
      `UPDATE tasks SET state = ?, attempts = ?, not_before = ?, lease_until = NULL, invoker = NULL, callback_token = NULL,
         updated_at = ?, error = ? WHERE id = ?`,
      step.to,
      attempts,
      notBefore,
      now,
      error ? JSON.stringify(error) : null,
      row.id,
    );
  }

  #finish(row: TaskRow, event: TaskEvent, now: number, error?: TaskError, result?: BodyRef): void {
    const step = transition(row.state, event);
    if (!step.ok) throw new Error(step.reason);
    this.#sql.exec(
      `UPDATE tasks SET state = ?, finished_at = ?, updated_at = ?, lease_until = NULL, invoker = NULL,
         callback_token = NULL, error = ?, result = ?, result_r2 = ?, result_type = ?, result_size = ?
       WHERE id = ?`,
      step.to,
      now,
      now,
      error ? JSON.stringify(error) : null,
      blobOf(result?.inline),
      result?.r2Key ?? null,
      result?.contentType ?? null,
      result?.size ?? null,
      row.id,
    );
  }

  #logAttempt(row: TaskRow, report: OutcomeReport, outcome: InvocationOutcome): void {
    const status = outcome.kind === "succeeded" || outcome.kind === "throttled" ? outcome.status : outcome.error.status;
    const error = outcome.kind === "transient" || outcome.kind === "permanent" ? JSON.stringify(outcome.error) : null;
    this.#sql.exec(
      `INSERT OR IGNORE INTO attempts (task_id, invocation, attempt, started_at, duration_ms, status, error, throttled)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      row.id,
      report.invocation,
      row.attempts,
      report.startedAt,
      report.durationMs,
      status ?? null,
      error,
      outcome.kind === "throttled" ? 1 : 0,
    );
  }

  #view(row: TaskRow): StoredTaskView {
    const attemptLog = this.#sql
      .exec<{ attempt: number; started_at: number; duration_ms: number; status: number | null; error: string | null; throttled: number }>(
        `SELECT attempt, started_at, duration_ms, status, error, throttled FROM attempts WHERE task_id = ? ORDER BY invocation`,
        row.id,
      )
      .toArray()
      .map((a): AttemptLogEntry => {
        const entry: AttemptLogEntry = {
          attempt: a.attempt,
          startedAt: new Date(a.started_at).toISOString(),
          durationMs: a.duration_ms,
        };
        if (a.status !== null) entry.status = a.status;
        if (a.error !== null) entry.error = JSON.parse(a.error) as TaskError;
        if (a.throttled) entry.throttled = true;
        return entry;
      });
    const view: StoredTaskView = {
      id: row.id,
      function: row.function,
      state: row.state,
      attempts: row.attempts,
      createdAt: new Date(row.created_at).toISOString(),
      updatedAt: new Date(row.updated_at).toISOString(),
      timeline: {
        acceptedAt: iso(row.accepted_at),
        queuedAt: iso(row.queued_at),
        firstDispatchedAt: iso(row.first_dispatched_at),
        lastDispatchedAt: iso(row.last_dispatched_at),
        finishedAt: iso(row.finished_at),
        deliveredAt: iso(row.delivered_at),
      },
      attemptLog,
    };
    if (row.error !== null && row.state !== "succeeded") view.error = JSON.parse(row.error) as TaskError;
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
}

const FUNCTION_DELETED_ERROR = JSON.stringify({
  kind: "function_deleted",
  message: "the function was deleted",
} satisfies TaskError);

const DEFAULT_RETRY = { maxAttempts: 3, initialBackoffMs: 1000, maxBackoffMs: 300_000 };

export function functionKey(account: string, name: string): string {
  return `${account}/${name}`;
}
