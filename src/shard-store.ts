/**
 * @module
 * A shard's task store: the state machine applied to SQLite rows, dispatch planning, outcomes, user operations,
 * deduplication, listing and bulk operations. Every public method is meant to run inside one synchronous transaction
 * (the Durable Object wraps it in `transactionSync`), so a crash leaves either the whole transition or none of it.
 */

import { aimdLimit, aimdOnCongestion, aimdOnSuccess, clampAimd, initialAimd, type AimdParams, type AimdState } from "./aimd";
import { retryDelayMs, throttleDelayMs } from "./backoff";
import { buildEnvelope, destinationFor, parseSchedule, type DeliveryMessage, type DeliveryReport } from "./delivery";
import { mintCallbackToken } from "./callback-token";
import { bytesEqual, utf8 } from "./encoding";
import type { InvocationOutcome, TaskError } from "./outcome";
import type {
  AbortOrder,
  BodyRef,
  BulkFilter,
  BulkResult,
  CallbackResult,
  FunctionRecord,
  IngestMessage,
  InvocationJob,
  OperationResult,
  OutcomeReport,
  StoredTaskView,
  SubmitResult,
  TaskOperation,
  TaskPage,
} from "./records";
import { allocateDispatch, pickInvoker } from "./scheduler";
import { viewResult } from "./result-view";
import { closeAttempt, logAttempt, readAttemptLog } from "./shard/attempt-log";
import { nextSilenceCheck, reviveSilentDeliveries, type OutboxTiming } from "./shard/outbox";
import {
  discardBlobs,
  forgetGarbage,
  IN_FLIGHT_WINDOW_MS,
  nextRetentionWake,
  pendingGarbage,
  purgeAt,
  purgedCounts,
  purgeExpired,
  removeTask,
} from "./shard/retention";
import { applyShardSchema, type DeliveryRow, type TaskRow } from "./shard/schema";
import { taskSummary, taskView } from "./shard/view";
import { blobOf, bytesOf, type Sql } from "./sql";
import { isTerminal, transition, type TaskEvent, type TaskState } from "./task-states";

export interface ShardSettings {
  readonly leaseGraceMs: number;
  /** When a handed-off delivery that stays silent is sent again (defaults: DELIVERY_SCHEDULE_SECONDS' defaults, 10 s). */
  readonly delivery?: OutboxTiming;
  readonly invokers: number;
  /** Calls one invoker runs at once (6: Cloudflare's open-connection limit per invocation). */
  readonly callsPerInvoker: number;
  /** AIMD: window multiplier on congestion, and the least time between two cuts. */
  readonly aimdDecreaseFactor: number;
  readonly aimdCooldownMs: number;
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
/** Tasks one bulk-operation chunk changes; larger operations continue chunk by chunk from the alarm. */
export const BULK_CHUNK = 1000;
/** Chunks one call or alarm runs before yielding (about 5,000 row updates: well inside the 30 s CPU limit). */
export const BULK_CHUNKS_PER_CALL = 5;
/** Pause between background bulk chunks, so other requests to the shard get served in between. */
export const BULK_CONTINUE_MS = 20;
/** How soon a delivery that could not be handed to the delivery queue is tried again. */
export const HANDOFF_RETRY_MS = 1_000;
/** How soon the shard looks again when a dispatch pass hit its budget. */
export const MORE_DISPATCH_MS = 10;

/** Every task column but the two blobs, which read as NULL. */
const ROW_WITHOUT_BODIES = `seq, id, account, function, state, run, attempts, invocations, NULL AS payload, payload_r2,
  payload_type, payload_size, idempotency_key, fairness_key, not_before, age_from, lease_until, invoker, callback_token,
  async, chain_depth, origin, created_at, updated_at, accepted_at, queued_at, first_dispatched_at, last_dispatched_at,
  finished_at, delivered_at, NULL AS result, result_r2, result_type, result_size, error, purge_at, attempt_log_dropped`;

const DEFAULT_RETRY = { maxAttempts: 3, initialBackoffMs: 1000, maxBackoffMs: 300_000 };

const FUNCTION_DELETED: TaskError = { kind: "function_deleted", message: "the function was deleted" };
const FUNCTION_DELETED_ERROR = JSON.stringify(FUNCTION_DELETED);
const CANCELLED_WHILE_RUNNING: TaskError = { kind: "cancelled", message: "the task was cancelled while its call ran" };

/** Which state each operation starts from when it is applied in bulk by state. */
const BULK_SOURCE_STATES: Readonly<Record<TaskOperation, readonly TaskState[]>> = {
  cancel: ["queued", "paused", "running"],
  pause: ["queued"],
  resume: ["paused"],
  retry: ["failed", "expired"],
};

export function functionKey(account: string, name: string): string {
  return `${account}/${name}`;
}

export class ShardStore {
  readonly #sql: Sql;
  readonly #settings: ShardSettings;
  readonly #functions = new Map<string, FunctionRecord>();
  /** AIMD windows, loaded from the `governors` table on first use (so they survive an eviction). */
  readonly #governors = new Map<string, AimdState>();
  #rotation = 0;

  constructor(sql: Sql, settings: ShardSettings) {
    this.#sql = sql;
    this.#settings = settings;
    applyShardSchema(sql);
    for (const row of sql.exec<{ record: string }>("SELECT record FROM functions WHERE deleted = 0").toArray()) {
      const record = JSON.parse(row.record) as FunctionRecord;
      this.#functions.set(functionKey(record.account, record.name), record);
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Functions

  /** Keep the newest copy of a function's configuration (a stale copy from a queued message never wins). */
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
   * Mark a function deleted and cancel its queued, paused and running tasks (never drop them silently); running calls
   * are aborted by the caller. Bounded by the function's own backlog: it runs once per delete.
   */
  deleteFunction(account: string, name: string, now: number): { cancelled: number; aborts: AbortOrder[] } {
    const fn = this.#functions.get(functionKey(account, name));
    // Snapshots of this version still in the ingest queue must not revive it (upsert needs a strictly newer version).
    this.#sql.exec(`UPDATE functions SET deleted = 1 WHERE account = ? AND name = ?`, account, name);
    this.#functions.delete(functionKey(account, name));
    const running = this.#sql
      .exec<TaskRow>(`SELECT ${ROW_WITHOUT_BODIES} FROM tasks WHERE account = ? AND function = ? AND state = 'running'`, account, name)
      .toArray();
    const aborts: AbortOrder[] = [];
    for (const row of running) {
      this.#closeAttempt(row, now, null, FUNCTION_DELETED);
      if (row.invoker !== null && !row.async) aborts.push({ invoker: row.invoker, taskId: row.id, invocation: row.invocations });
    }
    // rowsWritten also counts index entries, so count the rows themselves.
    const cancelled = this.#sql
      .exec(
        `UPDATE tasks SET state = 'cancelled', finished_at = ?, updated_at = ?, error = ?, lease_until = NULL,
           invoker = NULL, callback_token = NULL, purge_at = ?
         WHERE account = ? AND function = ? AND state IN ('queued', 'paused', 'running') RETURNING id`,
        now,
        now,
        FUNCTION_DELETED_ERROR,
        purgeAt(now, fn?.spec.retentionSeconds),
        account,
        name,
      )
      .toArray().length;
    return { cancelled, aborts };
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Accepting tasks

  /**
   * Store tasks. Idempotent by task id (Queues deliver at least once), and an `Idempotency-Key` already used within the
   * function's `dedupWindowSeconds` yields the first task's id instead of a new task.
   */
  accept(messages: readonly IngestMessage[], now: number): SubmitResult[] {
    for (const { fn } of messages) this.upsertFunction(fn);
    return messages.map(({ task, fn: snapshot }) => {
      const existing = this.#sql
        .exec<{ function: string }>(`SELECT function FROM tasks WHERE id = ?`, task.id)
        .toArray()[0];
      if (existing) {
        // Cancelled before it arrived: the placeholder learns its function, and stays cancelled.
        if (existing.function === "") {
          this.#sql.exec(
            `UPDATE tasks SET function = ?, payload_type = ?, payload_size = ?, payload_r2 = ? WHERE id = ?`,
            task.functionName,
            task.payload.contentType,
            task.payload.size,
            task.payload.r2Key ?? null,
            task.id,
          );
        }
        return { id: task.id, deduplicated: false };
      }
      // A task made for an earlier function of the same name (deleted, then created again) never runs on the new one.
      const current = this.#functions.get(functionKey(task.account, task.functionName));
      const fn = current && current.createdAt === snapshot.createdAt ? current : undefined;
      if (task.idempotencyKey && fn && fn.spec.dedupWindowSeconds > 0) {
        const first = this.#sql
          .exec<{ task_id: string }>(
            `SELECT task_id FROM idempotency WHERE account = ? AND function = ? AND key = ? AND expires_at > ?`,
            task.account,
            task.functionName,
            task.idempotencyKey,
            now,
          )
          .toArray()[0];
        if (first) return { id: first.task_id, deduplicated: true };
        this.#sql.exec(
          `INSERT INTO idempotency (account, function, key, task_id, expires_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (account, function, key) DO UPDATE SET task_id = excluded.task_id, expires_at = excluded.expires_at`,
          task.account,
          task.functionName,
          task.idempotencyKey,
          task.id,
          task.acceptedAt + fn.spec.dedupWindowSeconds * 1000,
        );
      }
      // A task that arrives after its function was deleted is kept, as cancelled, never dropped.
      const step = transition("accepted", fn ? "enqueue" : "cancel");
      if (!step.ok) throw new Error(step.reason);
      // The age limit counts from when the task is due, so a delay never expires a task before it could run.
      const dueAt = task.acceptedAt + (task.delaySeconds ?? 0) * 1000;
      this.#sql.exec(
        `INSERT INTO tasks (id, account, function, state, payload, payload_r2, payload_type, payload_size,
           idempotency_key, fairness_key, not_before, age_from, created_at, updated_at, accepted_at, queued_at,
           finished_at, error, chain_depth, origin, purge_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        task.id,
        task.account,
        task.functionName,
        step.to,
        blobOf(task.payload.inline),
        task.payload.r2Key ?? null,
        task.payload.contentType,
        task.payload.size,
        task.idempotencyKey ?? null,
        task.fairnessKey ?? null,
        dueAt,
        dueAt,
        task.acceptedAt,
        now,
        task.acceptedAt,
        fn ? now : null,
        fn ? null : now,
        fn ? null : FUNCTION_DELETED_ERROR,
        task.chainDepth ?? 0,
        task.origin ?? null,
        fn ? null : purgeAt(now, snapshot.spec.retentionSeconds),
      );
      return { id: task.id, deduplicated: false };
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Reading

  /** The task, or whether an id of this account was purged (so the gateway can tell "gone" from "on its way"). */
  getTask(account: string, id: string): { task: StoredTaskView | null; purged: boolean } {
    const row = this.#rowWithBodies(id);
    if (row && row.account === account) return { task: this.#fullView(row), purged: false };
    const purged = this.#sql
      .exec(`SELECT 1 FROM tombstones WHERE id = ? AND account = ?`, id, account)
      .toArray().length > 0;
    return { task: null, purged };
  }

  /**
   * Newest first, by descending sequence: inserts during paging land above the cursor, so none is seen twice. Rows are
   * read without their payload and result, and listed as summaries, so a page stays small whatever tasks hold.
   */
  listTasks(account: string, fnName: string, state: TaskState | undefined, limit: number, before?: number): TaskPage {
    const upper = before ?? Number.MAX_SAFE_INTEGER;
    const rows = state
      ? this.#sql
          .exec<TaskRow>(
            `SELECT ${ROW_WITHOUT_BODIES} FROM tasks WHERE account = ? AND function = ? AND state = ? AND seq < ?
             ORDER BY seq DESC LIMIT ?`,
            account,
            fnName,
            state,
            upper,
            limit + 1,
          )
          .toArray()
      : this.#sql
          .exec<TaskRow>(
            `SELECT ${ROW_WITHOUT_BODIES} FROM tasks WHERE account = ? AND function = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
            account,
            fnName,
            upper,
            limit + 1,
          )
          .toArray();
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      tasks: page.map(taskSummary),
      ...(rows.length > limit && last ? { nextBefore: last.seq } : {}),
    };
  }

  /** Task counts per state for one function (or the whole shard), including tasks retention has purged. */
  countByState(account?: string, fnName?: string): Record<string, number> {
    const counts: Record<string, number> = purgedCounts(this.#sql, account, fnName);
    const rows =
      account && fnName
        ? this.#sql
            .exec<{ state: string; n: number }>(
              `SELECT state, COUNT(*) AS n FROM tasks WHERE account = ? AND function = ? GROUP BY state`,
              account,
              fnName,
            )
            .toArray()
        : this.#sql.exec<{ state: string; n: number }>(`SELECT state, COUNT(*) AS n FROM tasks GROUP BY state`).toArray();
    for (const row of rows) counts[row.state] = (counts[row.state] ?? 0) + row.n;
    return counts;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // User operations

  /** cancel / pause / resume / retry one task. A refused transition names the current state. */
  operate(account: string, id: string, op: TaskOperation, now: number, createdAt = now): OperationResult {
    const row = this.#row(id);
    if (!row || row.account !== account) {
      // Cancelling a task still in the ingest queue: leave a cancelled placeholder that its arrival will not revive.
      // Only a young id can still be on its way; an older unknown one is gone (its tombstone may have expired).
      const mayBeInFlight = now - createdAt < IN_FLIGHT_WINDOW_MS;
      if (op === "cancel" && !row && mayBeInFlight && !this.#isPurged(id)) return this.#cancelBeforeArrival(account, id, now);
      return { ok: false, reason: "not_found" };
    }
    const applied = this.#operateRow(row, op, now);
    if (!applied.ok) return { ok: false, reason: "conflict", state: row.state };
    const fresh = this.#rowWithBodies(id);
    if (!fresh) return { ok: false, reason: "not_found" };
    return { ok: true, task: this.#fullView(fresh), ...(applied.abort ? { abort: applied.abort } : {}) };
  }

  /** Remove an ended task for good. Returns the R2 keys the caller must delete. */
  purge(account: string, id: string, now: number): { ok: true; r2Keys: string[] } | OperationResult {
    const row = this.#row(id);
    if (!row || row.account !== account) return { ok: false, reason: "not_found" };
    if (!isTerminal(row.state)) return { ok: false, reason: "conflict", state: row.state };
    const r2Keys = [row.payload_r2, row.result_r2].filter((k): k is string => typeof k === "string");
    // The keys also go to the garbage outbox: if the caller's delete fails, the alarm deletes them later.
    removeTask(this.#sql, row, now, false);
    return { ok: true, r2Keys };
  }

  /**
   * Apply an operation to many tasks of one function: by ids (at most 1,000, applied now) or by state (the first
   * chunk now, the rest by the alarm in bounded chunks; an empty filter is refused by the gateway).
   */
  bulk(account: string, fnName: string, op: TaskOperation, filter: BulkFilter, now: number): BulkResult {
    if (filter.ids) {
      const aborts: AbortOrder[] = [];
      let affected = 0;
      for (const id of filter.ids) {
        const row = this.#row(id);
        if (!row || row.account !== account || row.function !== fnName) continue;
        if (filter.state && row.state !== filter.state) continue;
        const applied = this.#operateRow(row, op, now);
        if (!applied.ok) continue;
        affected++;
        if (applied.abort) aborts.push(applied.abort);
      }
      return { affected, completed: affected, aborts };
    }
    const fromStates = filter.state ? [filter.state] : BULK_SOURCE_STATES[op];
    let affected = 0;
    let completed = 0;
    const aborts: AbortOrder[] = [];
    for (const fromState of fromStates) {
      const untilSeq = this.#sql.exec<{ s: number | null }>(`SELECT MAX(seq) AS s FROM tasks`).one().s ?? 0;
      affected += this.#sql
        .exec<{ n: number }>(
          `SELECT COUNT(*) AS n FROM tasks WHERE account = ? AND function = ? AND state = ? AND seq <= ?`,
          account,
          fnName,
          fromState,
          untilSeq,
        )
        .one().n;
      const first = this.#bulkChunk(account, fnName, op, fromState, untilSeq, now);
      completed += first.changed;
      aborts.push(...first.aborts);
      if (first.more) {
        this.#sql.exec(
          `INSERT INTO bulk_ops (account, function, op, from_state, until_seq, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
          account,
          fnName,
          op,
          fromState,
          untilSeq,
          now,
        );
      }
    }
    return { affected, completed, aborts };
  }

  /** Continue background bulk operations for a bounded number of chunks. */
  continueBulk(now: number): { aborts: AbortOrder[] } {
    const aborts: AbortOrder[] = [];
    for (let chunk = 0; chunk < BULK_CHUNKS_PER_CALL; chunk++) {
      const op = this.#sql
        .exec<{ op_id: number; account: string; function: string; op: TaskOperation; from_state: TaskState; until_seq: number }>(
          `SELECT * FROM bulk_ops ORDER BY op_id LIMIT 1`,
        )
        .toArray()[0];
      if (!op) break;
      const result = this.#bulkChunk(op.account, op.function, op.op, op.from_state, op.until_seq, now);
      aborts.push(...result.aborts);
      if (!result.more) this.#sql.exec(`DELETE FROM bulk_ops WHERE op_id = ?`, op.op_id);
    }
    return { aborts };
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Long-running tasks

  /** `POST /v1/tasks/:id/complete`, authenticated by the invocation's callback token. */
  complete(
    id: string,
    token: string,
    outcome: { ok: true; result?: BodyRef } | { ok: false; error: TaskError; retryable: boolean },
    now: number,
  ): CallbackResult {
    const checked = this.#checkCallback(id, token);
    if (!checked.ok) return checked;
    const row = checked.row;
    this.#closeAttempt(row, now, outcome.ok ? 200 : null, outcome.ok ? undefined : outcome.error);
    if (outcome.ok) this.#finish(row, "succeed", now, undefined, outcome.result);
    else if (outcome.retryable) this.#retryOrFail(row, this.#fn(row), now, outcome.error, Math.random);
    else this.#finish(row, "fail", now, outcome.error);
    return { ok: true, state: this.#row(id)?.state ?? row.state };
  }

  /** Whether `token` is the current callback token of a running task (checked before a callback's body is read). */
  checkCallback(id: string, token: string): boolean {
    return this.#checkCallback(id, token).ok;
  }

  /** `POST /v1/tasks/:id/heartbeat`: the lease of a long-running task starts again from now. */
  heartbeat(id: string, token: string, now: number): CallbackResult {
    const checked = this.#checkCallback(id, token);
    if (!checked.ok) return checked;
    const timeoutMs = this.#fn(checked.row)?.spec.timeoutMs ?? 30_000;
    this.#sql.exec(`UPDATE tasks SET lease_until = ?, updated_at = ? WHERE id = ?`, now + timeoutMs, now, id);
    return { ok: true, state: "running" };
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Dispatch and outcomes

  /**
   * Pick the next tasks to run: functions share the pass round robin, each limited by its concurrency window; tasks
   * older than their function's `maxEventAgeSeconds` expire instead of running; paused functions are skipped.
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
      if (fn.paused) continue;
      const room = aimdLimit(this.#governor(fn)) - (running.get(key) ?? 0);
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
        const { invoker, job } = this.#dispatchRow(shard, row, fn, now, invokerLoad);
        const list = byInvoker.get(invoker) ?? [];
        list.push(job);
        byInvoker.set(invoker, list);
        dispatched++;
      }
    }
    const more = candidates.some((c) => (allocation.get(c.key) ?? 0) < Math.min(c.room, c.ready));
    return { byInvoker, dispatched, expired, more };
  }

  /** Apply an invoker's report. A report for an invocation that is no longer current is ignored. */
  applyOutcome(report: OutcomeReport, now: number, random: () => number = Math.random): { applied: boolean } {
    const row = this.#row(report.taskId);
    if (!row || row.state !== "running" || row.invocations !== report.invocation || row.async) {
      // A result stored for a call whose outcome no longer counts belongs to no task (unless it is the one kept).
      const stale = report.outcome.kind === "succeeded" ? report.outcome.body.r2Key : undefined;
      if (stale && stale !== row?.result_r2) discardBlobs(this.#sql, [stale], now);
      return { applied: false };
    }
    const fn = this.#fn(row);
    const outcome = report.outcome;
    this.#logAttempt(row, report, outcome);
    if (fn) this.#feedGovernor(fn, outcome, now, report.startedAt);
    switch (outcome.kind) {
      case "succeeded":
        this.#finish(row, "succeed", now, undefined, outcome.body);
        break;
      case "async":
        // The function took the task and will call back; the lease is its heartbeat deadline.
        this.#sql.exec(
          `UPDATE tasks SET async = 1, lease_until = ?, updated_at = ? WHERE id = ?`,
          now + (fn?.spec.timeoutMs ?? 30_000),
          now,
          row.id,
        );
        break;
      case "throttled": {
        // A throttled call does not use up an attempt (API.md); the age limit still applies at dispatch. Persistent
        // throttling backs off to about one probe per second per task, or later when Retry-After asks for it.
        const throttles = row.invocations - row.attempts + 1;
        const delay = Math.max(outcome.retryAfterMs ?? 0, throttleDelayMs(throttles, random));
        this.#requeue(row, fn, now, delay, row.attempts - 1);
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

  /**
   * Running tasks whose lease ran out (the call vanished, or a long-running task missed its heartbeat): back to
   * queued with the attempt counted, or failed when none is left.
   */
  recoverExpiredLeases(now: number, random: () => number = Math.random): number {
    const rows = this.#sql
      .exec<TaskRow>(
        `SELECT * FROM tasks WHERE state = 'running' AND lease_until <= ? ORDER BY lease_until LIMIT ?`,
        now,
        DISPATCH_BUDGET,
      )
      .toArray();
    for (const row of rows) {
      const error: TaskError = row.async
        ? { kind: "heartbeat_timeout", message: "no completion or heartbeat within timeoutMs" }
        : { kind: "lease_expired", message: "no outcome was reported before the lease ran out" };
      this.#closeAttempt(row, now, null, error);
      this.#retryOrFail(row, this.#fn(row), now, error, random);
    }
    return rows.length;
  }

  /** Retention: purge a bounded chunk of tasks whose `retentionSeconds` have passed. */
  purgeExpired(now: number): number {
    return purgeExpired(this.#sql, now);
  }

  /** R2 keys whose rows are gone, for the Durable Object to delete from the bucket. */
  pendingGarbage(): string[] {
    return pendingGarbage(this.#sql);
  }

  forgetGarbage(keys: readonly string[]): void {
    forgetGarbage(this.#sql, keys);
  }

  /** Forget idempotency keys whose window has passed, a bounded number at a time. */
  expireIdempotencyKeys(now: number): number {
    return this.#sql
      .exec(
        `DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency WHERE expires_at <= ? LIMIT 1000) RETURNING key`,
        now,
      )
      .toArray().length;
  }

  /**
   * When the shard must next look at its tasks: a delay or backoff ending, a lease running out, a task reaching its
   * age limit, an idempotency key expiring, unfinished bulk work, or a dispatch pass that stopped at its budget.
   */
  nextWakeAt(now: number, moreReady: boolean): number | null {
    const times: (number | null)[] = [
      moreReady ? now + MORE_DISPATCH_MS : null,
      this.#sql.exec<{ t: number | null }>(`SELECT MIN(lease_until) AS t FROM tasks WHERE state = 'running'`).one().t,
      this.#sql.exec<{ t: number | null }>(`SELECT MIN(expires_at) AS t FROM idempotency`).one().t,
      this.#sql.exec(`SELECT 1 FROM bulk_ops LIMIT 1`).toArray().length > 0 ? now + BULK_CONTINUE_MS : null,
      this.#sql.exec(`SELECT 1 FROM deliveries WHERE handed_off = 0 LIMIT 1`).toArray().length > 0
        ? now + HANDOFF_RETRY_MS
        : null,
      nextRetentionWake(this.#sql),
      nextSilenceCheck(this.#sql, this.#deliveryTiming),
      this.#sql.exec(`SELECT 1 FROM r2_garbage LIMIT 1`).toArray().length > 0 ? now + HANDOFF_RETRY_MS : null,
    ];
    for (const fn of this.#functions.values()) {
      if (!fn.paused) {
        times.push(
          this.#sql
            .exec<{ t: number | null }>(
              `SELECT MIN(not_before) AS t FROM tasks WHERE account = ? AND function = ? AND state = 'queued'
               AND not_before > ?`,
              fn.account,
              fn.name,
              now,
            )
            .one().t,
        );
      }
      const oldest = this.#oldestQueuedAge(fn);
      if (oldest !== undefined) times.push(oldest + fn.spec.maxEventAgeSeconds * 1000);
    }
    const valid = times.filter((t): t is number => typeof t === "number");
    return valid.length === 0 ? null : Math.max(now, Math.min(...valid));
  }

  /** The function's AIMD window now (`concurrencyLimit` in stats). */
  concurrencyLimit(account: string, fnName: string): number | undefined {
    const fn = this.#functions.get(functionKey(account, fnName));
    return fn ? aimdLimit(this.#governor(fn)) : undefined;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Internals

  #aimdParams(fn: FunctionRecord): AimdParams {
    return {
      max: fn.spec.maxConcurrency,
      decreaseFactor: this.#settings.aimdDecreaseFactor,
      cooldownMs: this.#settings.aimdCooldownMs,
    };
  }

  #governor(fn: FunctionRecord): AimdState {
    const key = functionKey(fn.account, fn.name);
    let state = this.#governors.get(key);
    if (!state) {
      const row = this.#sql
        .exec<{ window: number; last_decrease_at: number }>(
          `SELECT window, last_decrease_at FROM governors WHERE account = ? AND function = ?`,
          fn.account,
          fn.name,
        )
        .toArray()[0];
      state = row ? { window: row.window, lastDecreaseAt: row.last_decrease_at } : initialAimd(this.#aimdParams(fn));
      this.#governors.set(key, state);
    }
    return clampAimd(state, this.#aimdParams(fn));
  }

  /** Successes widen the window; 429/503 and timeouts narrow it. Other failures say nothing about capacity. */
  #feedGovernor(fn: FunctionRecord, outcome: InvocationOutcome, now: number, callStartedAt: number): void {
    const before = this.#governor(fn);
    let after = before;
    if (outcome.kind === "succeeded" || outcome.kind === "async") after = aimdOnSuccess(before, this.#aimdParams(fn));
    else if (outcome.kind === "throttled" || (outcome.kind === "transient" && outcome.error.kind === "timeout")) {
      after = aimdOnCongestion(before, this.#aimdParams(fn), now, callStartedAt);
    }
    if (after === before) return;
    this.#governors.set(functionKey(fn.account, fn.name), after);
    this.#sql.exec(
      `INSERT INTO governors (account, function, window, last_decrease_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (account, function) DO UPDATE SET window = excluded.window, last_decrease_at = excluded.last_decrease_at`,
      fn.account,
      fn.name,
      after.window,
      after.lastDecreaseAt,
    );
  }

  /** A task without its payload and result blobs (up to 64 KiB each), for transitions that do not need them. */
  #row(id: string): TaskRow | undefined {
    return this.#sql.exec<TaskRow>(`SELECT ${ROW_WITHOUT_BODIES} FROM tasks WHERE id = ?`, id).toArray()[0];
  }

  #rowWithBodies(id: string): TaskRow | undefined {
    return this.#sql.exec<TaskRow>(`SELECT * FROM tasks WHERE id = ?`, id).toArray()[0];
  }

  #fn(row: TaskRow): FunctionRecord | undefined {
    return this.#functions.get(functionKey(row.account, row.function));
  }

  #isPurged(id: string): boolean {
    return this.#sql.exec(`SELECT 1 FROM tombstones WHERE id = ?`, id).toArray().length > 0;
  }

  #cancelBeforeArrival(account: string, id: string, now: number): OperationResult {
    const step = transition("accepted", "cancel");
    if (!step.ok) return { ok: false, reason: "conflict", state: "accepted" };
    this.#sql.exec(
      `INSERT INTO tasks (id, account, function, state, payload_type, payload_size, not_before, age_from, created_at,
         updated_at, accepted_at, finished_at, purge_at)
       VALUES (?, ?, '', ?, 'application/octet-stream', 0, ?, ?, ?, ?, ?, ?, ?)`,
      id,
      account,
      step.to,
      now,
      now,
      now,
      now,
      now,
      now,
      purgeAt(now, undefined),
    );
    const row = this.#row(id);
    return row ? { ok: true, task: taskView(row, []) } : { ok: false, reason: "not_found" };
  }

  #operateRow(row: TaskRow, op: TaskOperation, now: number): { ok: true; abort?: AbortOrder } | { ok: false } {
    const step = transition(row.state, op);
    if (!step.ok) return { ok: false };
    switch (op) {
      case "cancel": {
        const abort =
          row.state === "running" && row.invoker !== null
            ? { invoker: row.invoker, taskId: row.id, invocation: row.invocations }
            : undefined;
        // The aborted call's outcome will be ignored: the log says here how it ended.
        if (row.state === "running") this.#closeAttempt(row, now, null, CANCELLED_WHILE_RUNNING);
        this.#sql.exec(
          `UPDATE tasks SET state = ?, finished_at = ?, updated_at = ?, lease_until = NULL, invoker = NULL,
             callback_token = NULL, purge_at = ? WHERE id = ?`,
          step.to,
          now,
          now,
          purgeAt(now, this.#fn(row)?.spec.retentionSeconds),
          row.id,
        );
        return abort ? { ok: true, abort } : { ok: true };
      }
      case "pause":
      case "resume":
        this.#sql.exec(`UPDATE tasks SET state = ?, updated_at = ? WHERE id = ?`, step.to, now, row.id);
        return { ok: true };
      case "retry":
        // A new run: attempts and the age limit start over; the attempt log keeps the earlier runs. The earlier run's
        // delivery is forgotten (a late report for it no longer matches); this run delivers when it ends.
        this.#sql.exec(`DELETE FROM deliveries WHERE task_id = ?`, row.id);
        this.#sql.exec(
          `UPDATE tasks SET state = ?, run = run + 1, attempts = 0, not_before = ?, age_from = ?, finished_at = NULL,
             error = NULL, result = NULL, result_r2 = NULL, result_type = NULL, result_size = NULL, async = 0,
             purge_at = NULL, updated_at = ? WHERE id = ?`,
          step.to,
          now,
          now,
          now,
          row.id,
        );
        return { ok: true };
    }
  }

  #bulkChunk(
    account: string,
    fnName: string,
    op: TaskOperation,
    fromState: TaskState,
    untilSeq: number,
    now: number,
  ): { changed: number; more: boolean; aborts: AbortOrder[] } {
    const rows = this.#sql
      .exec<TaskRow>(
        `SELECT * FROM tasks WHERE account = ? AND function = ? AND state = ? AND seq <= ? ORDER BY seq LIMIT ?`,
        account,
        fnName,
        fromState,
        untilSeq,
        BULK_CHUNK,
      )
      .toArray();
    const aborts: AbortOrder[] = [];
    let changed = 0;
    for (const row of rows) {
      const applied = this.#operateRow(row, op, now);
      if (!applied.ok) continue;
      changed++;
      if (applied.abort) aborts.push(applied.abort);
    }
    return { changed, more: rows.length === BULK_CHUNK, aborts };
  }

  /** Unknown, not running, or another token: one answer for all three, so a caller without the token learns nothing. */
  #checkCallback(id: string, token: string): { ok: true; row: TaskRow } | Exclude<CallbackResult, { ok: true }> {
    const row = this.#row(id);
    const valid =
      row !== undefined &&
      row.state === "running" &&
      row.callback_token !== null &&
      bytesEqual(utf8(row.callback_token), utf8(token));
    return valid ? { ok: true, row } : { ok: false, reason: "not_found" };
  }

  #invokerLoad(): number[] {
    const load = new Array<number>(this.#settings.invokers).fill(0);
    for (const row of this.#sql
      .exec<{ invoker: number; n: number }>(
        `SELECT invoker, COUNT(*) AS n FROM tasks WHERE state = 'running' AND invoker IS NOT NULL AND async = 0
         GROUP BY invoker`,
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
    const invoker = pickInvoker(invokerLoad, this.#settings.callsPerInvoker);
    invokerLoad[invoker] = (invokerLoad[invoker] ?? 0) + 1;
    const attempt = row.attempts + 1;
    const invocation = row.invocations + 1;
    const deadline = now + fn.spec.timeoutMs;
    const callbackToken = mintCallbackToken(row.account);
    this.#sql.exec(
      `UPDATE tasks SET state = ?, attempts = ?, invocations = ?, lease_until = ?, invoker = ?, callback_token = ?,
         async = 0, first_dispatched_at = COALESCE(first_dispatched_at, ?), last_dispatched_at = ?, updated_at = ?
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

  /**
   * When the longest-waiting queued task became due (its `age_from`: acceptance plus any delay, or the start of a
   * retried run), read from the (state, age_from) index rather than by scanning a deep backlog.
   */
  #oldestQueuedAge(fn: FunctionRecord): number | undefined {
    return this.#sql
      .exec<{ age_from: number }>(
        `SELECT age_from FROM tasks WHERE account = ? AND function = ? AND state = 'queued' ORDER BY age_from LIMIT 1`,
        fn.account,
        fn.name,
      )
      .toArray()[0]?.age_from;
  }

  /** Queued tasks due longer ago than maxEventAgeSeconds expire (at most a dispatch budget per pass). */
  #expireStale(fn: FunctionRecord, now: number): number {
    const cutoff = now - fn.spec.maxEventAgeSeconds * 1000;
    const oldest = this.#oldestQueuedAge(fn);
    if (oldest === undefined || oldest > cutoff) return 0;
    const step = transition("queued", "expire");
    if (!step.ok) throw new Error(step.reason);
    const error = JSON.stringify({
      kind: "expired",
      message: `not finished within maxEventAgeSeconds (${fn.spec.maxEventAgeSeconds})`,
    } satisfies TaskError);
    const expired = this.#sql
      .exec<{ id: string }>(
        `UPDATE tasks SET state = ?, finished_at = ?, updated_at = ?, error = ?, lease_until = NULL, purge_at = ?
         WHERE id IN (SELECT id FROM tasks WHERE account = ? AND function = ? AND state = 'queued' AND age_from <= ?
                      ORDER BY age_from LIMIT ?)
         RETURNING id`,
        step.to,
        now,
        now,
        error,
        purgeAt(now, fn.spec.retentionSeconds),
        fn.account,
        fn.name,
        cutoff,
        DISPATCH_BUDGET * 5,
      )
      .toArray();
    if (fn.spec.destinations.onFailure) for (const { id } of expired) this.#scheduleDelivery(id, "expired", now);
    return expired.length;
  }

  #retryOrFail(row: TaskRow, fn: FunctionRecord | undefined, now: number, error: TaskError, random: () => number): void {
    if (fn && row.attempts >= fn.spec.retry.maxAttempts) {
      this.#finish(row, "fail", now, error);
      return;
    }
    this.#requeue(row, fn, now, fn ? retryDelayMs(row.attempts, fn.spec.retry, random) : 0, row.attempts, error);
  }

  /**
   * Back to queued for another call after `delayMs`. A task whose function is gone is cancelled instead: nothing
   * would ever dispatch it, and a later function of the same name must not run it.
   */
  #requeue(row: TaskRow, fn: FunctionRecord | undefined, now: number, delayMs: number, attempts: number, error?: TaskError): void {
    if (!fn) {
      const cancel = transition(row.state, "cancel");
      if (!cancel.ok) throw new Error(cancel.reason);
      this.#sql.exec(
        `UPDATE tasks SET state = ?, attempts = ?, finished_at = ?, updated_at = ?, lease_until = NULL, invoker = NULL,
           callback_token = NULL, async = 0, error = ?, purge_at = ? WHERE id = ?`,
        cancel.to,
        attempts,
        now,
        now,
        FUNCTION_DELETED_ERROR,
        purgeAt(now, undefined),
        row.id,
      );
      return;
    }
    const step = transition(row.state, "requeue");
    if (!step.ok) throw new Error(step.reason);
    this.#sql.exec(
      `UPDATE tasks SET state = ?, attempts = ?, not_before = ?, lease_until = NULL, invoker = NULL, callback_token = NULL,
         async = 0, updated_at = ?, error = ? WHERE id = ?`,
      step.to,
      attempts,
      now + delayMs,
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
         callback_token = NULL, error = ?, result = ?, result_r2 = ?, result_type = ?, result_size = ?, purge_at = ?
       WHERE id = ?`,
      step.to,
      now,
      now,
      error ? JSON.stringify(error) : null,
      blobOf(result?.inline),
      result?.r2Key ?? null,
      result?.contentType ?? null,
      result?.size ?? null,
      purgeAt(now, this.#fn(row)?.spec.retentionSeconds),
      row.id,
    );
    this.#scheduleDelivery(row.id, step.to, now);
  }

  /** Outbox: a task that ended with a destination gets a delivery row in the same transaction as its transition. */
  #scheduleDelivery(taskId: string, state: TaskState, now: number): void {
    const row = this.#row(taskId);
    const fn = row ? this.#fn(row) : undefined;
    if (!row || !fn) return;
    const destination = destinationFor(state, fn.spec.destinations);
    if (!destination) return;
    this.#sql.exec(
      `INSERT OR REPLACE INTO deliveries (task_id, delivery_id, destination, state, attempts, handed_off, updated_at)
       VALUES (?, ?, ?, 'pending', 0, 0, ?)`,
      taskId,
      `dlv_${row.run}_${taskId}`,
      JSON.stringify(destination),
      now,
    );
  }

  /** Deliveries written but not yet handed to the delivery queue (after a crash, too), with their envelopes. */
  pendingHandoffs(shard: string, limit: number, now: number): DeliveryMessage[] {
    const rows = this.#sql
      .exec<DeliveryRow>(`SELECT * FROM deliveries WHERE handed_off = 0 ORDER BY updated_at LIMIT ?`, limit)
      .toArray();
    const messages: DeliveryMessage[] = [];
    for (const delivery of rows) {
      const row = this.#rowWithBodies(delivery.task_id);
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
      });
    }
    return messages;
  }

  markHandedOff(deliveryIds: readonly string[], now: number): void {
    for (const id of deliveryIds) {
      this.#sql.exec(`UPDATE deliveries SET handed_off = 1, updated_at = ? WHERE delivery_id = ?`, now, id);
    }
  }

  /** Deliveries that went silent after their hand-off are handed off again (see src/shard/outbox.ts). */
  reviveSilentDeliveries(now: number): number {
    return reviveSilentDeliveries(this.#sql, now, this.#deliveryTiming);
  }

  get #deliveryTiming(): OutboxTiming {
    return this.#settings.delivery ?? { schedule: parseSchedule(undefined), timeoutMs: 10_000 };
  }

  /** Progress of a delivery, reported at least once by the delivery consumer; a report for another run is ignored. */
  applyDeliveryReport(report: DeliveryReport): { applied: boolean } {
    const delivery = this.#sql
      .exec<DeliveryRow>(`SELECT * FROM deliveries WHERE task_id = ? AND delivery_id = ?`, report.taskId, report.deliveryId)
      .toArray()[0];
    // Never move backwards: a late "pending" must not undo "delivered", nor fewer attempts overwrite more.
    if (!delivery || delivery.state === "delivered" || report.attempts < delivery.attempts) return { applied: false };
    this.#sql.exec(
      `UPDATE deliveries SET state = ?, attempts = ?, last_error = ?, updated_at = ? WHERE task_id = ?`,
      report.state,
      report.attempts,
      report.error ?? null,
      report.at,
      report.taskId,
    );
    if (report.state === "delivered") {
      this.#sql.exec(`UPDATE tasks SET delivered_at = ?, updated_at = ? WHERE id = ?`, report.at, report.at, report.taskId);
    }
    return { applied: true };
  }

  /** `POST /v1/tasks/:id/redeliver`: start a failed delivery over (same delivery id, so receivers can dedup). */
  redeliver(account: string, id: string, now: number): { ok: true; task: StoredTaskView } | { ok: false; reason: "not_found" | "conflict"; state?: string } {
    const row = this.#rowWithBodies(id);
    if (!row || row.account !== account) return { ok: false, reason: "not_found" };
    const delivery = this.#delivery(id);
    if (!delivery) return { ok: false, reason: "conflict", state: "none" };
    if (delivery.state !== "failed") return { ok: false, reason: "conflict", state: delivery.state };
    this.#sql.exec(
      `UPDATE deliveries SET state = 'pending', attempts = 0, handed_off = 0, last_error = NULL, updated_at = ? WHERE task_id = ?`,
      now,
      id,
    );
    return { ok: true, task: this.#fullView(row) };
  }

  #fullView(row: TaskRow): StoredTaskView {
    return taskView(row, readAttemptLog(this.#sql, row.id), this.#delivery(row.id));
  }

  #delivery(taskId: string): DeliveryRow | undefined {
    return this.#sql.exec<DeliveryRow>(`SELECT * FROM deliveries WHERE task_id = ?`, taskId).toArray()[0];
  }

  /** Record how the current invocation ended when no invoker report says so (a callback, a lost lease, a cancel). */
  #closeAttempt(row: TaskRow, now: number, status: number | null, error: TaskError | undefined): void {
    closeAttempt(
      this.#sql,
      {
        taskId: row.id,
        invocation: row.invocations,
        run: row.run,
        attempt: row.attempts,
        startedAt: row.last_dispatched_at ?? now,
        status,
        error,
      },
      now,
    );
  }

  #logAttempt(row: TaskRow, report: OutcomeReport, outcome: InvocationOutcome): void {
    const status =
      outcome.kind === "succeeded" || outcome.kind === "throttled" || outcome.kind === "async"
        ? outcome.status
        : outcome.error.status;
    logAttempt(this.#sql, {
      taskId: row.id,
      invocation: report.invocation,
      run: row.run,
      attempt: row.attempts,
      startedAt: report.startedAt,
      durationMs: report.durationMs,
      status: status ?? null,
      error: outcome.kind === "transient" || outcome.kind === "permanent" ? outcome.error : undefined,
      throttled: outcome.kind === "throttled",
    });
  }
}
