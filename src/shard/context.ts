/**
 * @module
 * What every part of the shard store shares: the SQL handle, settings, the in-memory function and AIMD caches, and
 * the row readers. Each part is a set of functions over this context; the facade (index.ts) holds one.
 */

import type { AimdState } from "../aimd";
import type { FairShareState } from "../fair-share";
import type { TaskError } from "../outcome";
import { functionKey } from "../placement";
import type { FunctionRecord } from "../records";
import type { Sql } from "../sql";
import type { Attention } from "./attention";
import type { TransitionEvent } from "./events";
import type { OutboxTiming } from "./outbox";
import type { TaskRow } from "./schema";

export interface ShardSettings {
  readonly leaseGraceMs: number;
  /** When a handed-off delivery that stays silent is sent again (defaults: DELIVERY_SCHEDULE_SECONDS' defaults, 10 s). */
  readonly delivery?: OutboxTiming;
  readonly invokers: number;
  /** Calls one invoker runs at once (6: Cloudflare's open-connection limit per invocation). */
  readonly callsPerInvoker: number;
  /** AIMD (src/aimd.ts): window multiplier on congestion, and the least time between two cuts. */
  readonly aimdDecreaseFactor: number;
  readonly aimdCooldownMs: number;
  /** AIMD slow start: the first window (default 4) and the idle time after which it starts again (default 60 s). */
  readonly aimdInitialWindow?: number;
  readonly aimdIdleRestartMs?: number;
  /**
   * `fair` (the default): hierarchical deficit round robin and fairness-key lanes. `fifo`: one queue in arrival order
   * across the shard, head-of-line blocking included — only as a benchmark's contrast (DISPATCH_ORDER).
   */
  readonly dispatchOrder?: "fair" | "fifo";
  /** `off`: transitions are not noted for the log (TASK_LOGS); default on. */
  readonly taskLogs?: "transitions" | "off";
}

/** The state the parts of one shard's store share. */
export interface ShardContext {
  readonly sql: Sql;
  readonly settings: ShardSettings;
  /** Live functions by {@link functionKey}, rebuilt from the `functions` table on start. */
  readonly functions: Map<string, FunctionRecord>;
  /** AIMD windows, loaded from the `governors` table on first use (so they survive an eviction). */
  readonly governors: Map<string, AimdState>;
  /**
   * Functions whose limit rises by itself later (a backend's Retry-After ends, a throttled call's slot frees up), and
   * when (governor.ts): the shard wakes then.
   */
  readonly pauses: Map<string, number>;
  /** The deficit round robin across accounts and functions, carried from pass to pass (src/fair-share.ts). */
  readonly fairShare: FairShareState;
  /**
   * When each function's next waiting task (not yet in its lane) comes due, as far as the shard knows (lanes.ts);
   * absent means unknown and is read from the index. Every way into `queued` lowers it (attention.ts, noteQueued).
   */
  readonly waitingDue: Map<string, number>;
  /** Each function's virtual lane clock (lanes.ts), rebuilt from storage after a start. */
  readonly clocks: Map<string, number>;
  /** Each function's recent execution time in ms (a moving average of its reports): what a call costs in the DRR. */
  readonly executionMs: Map<string, number>;
  /** Accounts with `limits.maxConcurrency` (accounts.ts), and the calls the account's limiter lets this shard run. */
  readonly accountLimits: Map<string, number>;
  /** The version of every account's limits this shard has heard of (newest wins). */
  readonly accountVersions: Map<string, number>;
  readonly concurrencyGrants: Map<string, { granted: number; expiresAt: number; unmetUntil: number }>;
  /** When each function with queued tasks next needs a look (attention.ts); rebuilt by the first pass after a start. */
  readonly attention: Map<string, Attention>;
  /** When a pass last visited every function (attention.ts, SWEEP_MS). */
  lastSweepAt: number;
  /**
   * Whether a delivery row may wait for its hand-off to the delivery queue (outbox.ts): set by every write that
   * leaves one (a task ending with a destination, a redelivery, a silent delivery revived, a failed send) and on
   * start, cleared when a look found them all; so a shard without deliveries pays no outbox query per call.
   */
  handoffsWaiting: boolean;
  /** Transitions noted since the shard object last printed them (events.ts), and how many the bound dropped. */
  readonly events: TransitionEvent[];
  eventsDropped: number;
}

/** Every task column but the two blobs, which read as NULL. */
export const ROW_WITHOUT_BODIES = `seq, id, account, function, state, run, attempts, invocations, NULL AS payload, payload_r2,
  payload_type, payload_size, idempotency_key, fairness_key, not_before, age_from, lease_until, invoker, callback_token,
  async, chain_depth, origin, created_at, updated_at, accepted_at, queued_at, first_dispatched_at, last_dispatched_at,
  finished_at, delivered_at, NULL AS result, result_r2, result_type, result_size, error, purge_at, attempt_log_dropped,
  lane_tag, schedule, traceparent`;

export const FUNCTION_DELETED: TaskError = { kind: "function_deleted", message: "the function was deleted" };
export const FUNCTION_DELETED_ERROR = JSON.stringify(FUNCTION_DELETED);
export const CANCELLED_WHILE_RUNNING: TaskError = {
  kind: "cancelled",
  message: "the task was cancelled while its call ran",
};

export { functionKey };

/**
 * Built once: a statement's text is looked up in the runtime's statement cache on every exec, and a template built per
 * call costs that lookup a copy of its 600 characters (about 6 µs in workerd).
 */
const READ_ROW = `SELECT ${ROW_WITHOUT_BODIES} FROM tasks WHERE id = ?`;

/** A task without its payload and result blobs (up to 64 KiB each), for transitions that do not need them. */
export function readRow(ctx: ShardContext, id: string): TaskRow | undefined {
  return ctx.sql.exec<TaskRow>(READ_ROW, id).toArray()[0];
}

export function readRowWithBodies(ctx: ShardContext, id: string): TaskRow | undefined {
  return ctx.sql.exec<TaskRow>(`SELECT * FROM tasks WHERE id = ?`, id).toArray()[0];
}

/** A WHERE clause for counts over the whole shard, one account, or one function. */
export function scopeOf(account?: string, fnName?: string): { where: string; bindings: string[] } {
  if (account === undefined) return { where: "", bindings: [] };
  if (fnName === undefined) return { where: "WHERE account = ?", bindings: [account] };
  return { where: "WHERE account = ? AND function = ?", bindings: [account, fnName] };
}

export function functionOf(ctx: ShardContext, row: Pick<TaskRow, "account" | "function">): FunctionRecord | undefined {
  return ctx.functions.get(functionKey(row.account, row.function));
}
