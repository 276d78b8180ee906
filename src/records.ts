/**
 * @module
 * Records that cross a boundary: queue messages, RPC arguments between gateway, shards and invokers, and the task
 * object of API.md. Everything here must survive structured cloning (Queues with `contentType: "v8"`, DO RPC).
 */

import type { InvocationOutcome, TaskError } from "./outcome";
import type { FunctionSpec, Target } from "./schemas";
import type { TaskState } from "./task-states";

/** A function as stored by the registry and replicated to the shard that holds its tasks. */
export interface FunctionRecord {
  readonly account: string;
  readonly name: string;
  readonly spec: FunctionSpec;
  readonly shard: string;
  /** Milliseconds of the last change; a shard keeps the newest copy it has seen. */
  readonly version: number;
  /** Dispatch is suspended (`POST /v1/functions/:name/pause`); tasks keep queueing. */
  readonly paused?: boolean;
  /**
   * Shards that held this function's tasks before it moved (its isolation changed, or automatic placement moved it);
   * reads and bulk operations visit them too. Shard names are deterministic per tier, so the list stays short.
   */
  readonly previousShards?: readonly string[];
  /** Where automatic placement put the function (src/placement-moves.ts); absent: where its isolation put it. */
  readonly placement?: PlacementRecord;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A function's placement: its tier, its partitions (shards named `<shard>`, `<shard>#1` …), its last moves. */
export interface PlacementRecord {
  readonly tier: "shared" | "account" | "dedicated";
  readonly partitions: number;
  /** Milliseconds of the last move (the function's creation if it never moved). */
  readonly since: number;
  /** Stable code of the last move: `initial`, `backlog`, `arrival-rate`, `failures`, `shard-saturated`, … */
  readonly reason: string;
  /** Automatic moves so far. */
  readonly moves: number;
  /**
   * A shard the function left may still hold work: until its first shard sees none anywhere, every shard of the
   * function (partitions and the ones left) splits `maxConcurrency` among all of them (src/placement-moves.ts).
   */
  readonly draining?: boolean;
  /** The last few moves, newest last (stats history marks them). */
  readonly log: readonly PlacementMoveLog[];
}

export interface PlacementMoveLog {
  readonly at: number;
  readonly from: string;
  readonly to: string;
  readonly partitions: number;
  readonly reason: string;
}

/** A payload (or result) body: inline bytes up to the inline limit, otherwise a key in the BLOBS bucket. */
export interface BodyRef {
  readonly contentType: string;
  readonly size: number;
  readonly inline?: Uint8Array;
  readonly r2Key?: string;
}

export interface IngestTask {
  readonly id: string;
  readonly account: string;
  readonly functionName: string;
  readonly shard: string;
  readonly payload: BodyRef;
  readonly acceptedAt: number;
  readonly idempotencyKey?: string;
  readonly delaySeconds?: number;
  readonly fairnessKey?: string;
  /** How many function destinations led here (0 for a task a user submitted). */
  readonly chainDepth?: number;
  /** Public origin of the gateway that took the task, for absolute `resultUrl`s in deliveries. */
  readonly origin?: string;
  /** Set on a task a schedule fired (src/shard/schedules.ts). */
  readonly schedule?: TaskSchedule;
  /** W3C trace context of the task (src/trace.ts): the submitter's `traceparent`, or one Sluice started. */
  readonly traceparent?: string;
}

/** Which schedule fired a task, for which tick (ms), and whether it fired late (after an outage). */
export interface TaskSchedule {
  readonly id: string;
  readonly scheduledFor: number;
  readonly late: boolean;
}

/** One ingest queue message: a task plus the function snapshot the gateway saw, so the shard never waits on a lookup. */
export interface IngestMessage {
  readonly v: 1;
  readonly task: IngestTask;
  readonly fn: FunctionRecord;
  /** The account's limits as the gateway saw them; absent when the sender does not know (a chain, an event source). */
  readonly accountLimits?: ShardAccountLimits;
}

/** What a shard enforces of an account's limits, with the registry's version of them (the newest wins). */
export interface ShardAccountLimits {
  /** `limits.maxConcurrency`, null for none. */
  readonly maxConcurrency: number | null;
  readonly version: number;
}

/** What a shard hands an invoker: everything needed to make one call and report it. */
export interface InvocationJob {
  readonly shard: string;
  readonly taskId: string;
  readonly account: string;
  readonly functionName: string;
  /** Counted attempt number, sent as `Sluice-Attempt`. */
  readonly attempt: number;
  /** Every dispatch of a task gets a new invocation number; outcomes for an older one are ignored. */
  readonly invocation: number;
  readonly target: Target;
  readonly timeoutMs: number;
  readonly deadline: number;
  readonly callbackToken: string;
  readonly payload: BodyRef;
  /** The schedule that fired the task, sent as `Sluice-Schedule-Id`. */
  readonly scheduleId?: string;
  /** The task's trace context; the call carries a child span of it as `traceparent`. */
  readonly traceparent?: string;
}

export interface OutcomeReport {
  readonly taskId: string;
  readonly invocation: number;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly outcome: InvocationOutcome;
}

export interface AttemptLogEntry {
  /** Which run of the task (a `retry` of a failed or expired task starts run 2, ...). */
  run: number;
  attempt: number;
  startedAt: string;
  durationMs: number;
  status?: number;
  error?: TaskError;
  throttled?: boolean;
  /** Consecutive throttled answers folded into this entry. */
  count?: number;
}

export interface TaskTimeline {
  acceptedAt: string | null;
  queuedAt: string | null;
  firstDispatchedAt: string | null;
  lastDispatchedAt: string | null;
  finishedAt: string | null;
  deliveredAt: string | null;
}

/** A task as the shard returns it; the gateway turns `resultBody` into `result` / `resultUrl`. */
export interface StoredTaskView {
  id: string;
  function: string;
  state: TaskState;
  attempts: number;
  run: number;
  createdAt: string;
  updatedAt: string;
  timeline: TaskTimeline;
  attemptLog: AttemptLogEntry[];
  /** Older entries dropped from `attemptLog` (it keeps the newest 100). */
  attemptLogDropped?: number;
  /** The `Sluice-Fairness-Key` it was submitted with: its lane within the function. */
  fairnessKey?: string;
  /** W3C trace context the task travels with (the submitter's `traceparent`, or one Sluice started). */
  traceparent?: string;
  /** A task a schedule fired (as in {@link TaskSummary}). */
  scheduleId?: string;
  scheduledFor?: string;
  late?: true;
  error?: TaskError;
  delivery?: { state: "pending" | "delivered" | "failed"; attempts: number; lastError?: string };
  resultBody?: BodyRef;
}

/** Operations a user can apply to one task (and, in bulk, to many). */
export type TaskOperation = "cancel" | "pause" | "resume" | "retry";

/** A call an invoker must abort because its task was cancelled while running. */
export interface AbortOrder {
  readonly invoker: number;
  readonly taskId: string;
  readonly invocation: number;
}

/** How one submitted task fared at the shard. */
export interface SubmitResult {
  readonly id: string;
  readonly deduplicated: boolean;
}

/**
 * An idempotent submission that reached a shard its function no longer routes that key to (the sender's record was
 * from before a move): not stored, so that one shard alone decides each key; the sender routes it again by the
 * shard's current record. Only a sender that asks for it (the gateway) is answered so; other callers' tasks are kept.
 */
export interface MovedSubmission {
  readonly id: string;
  readonly moved: true;
}

/** What a shard's `accept` answers for each message. */
export type AcceptResult = SubmitResult | MovedSubmission;

export interface BulkFilter {
  readonly ids?: readonly string[];
  readonly state?: TaskState;
}

export interface BulkResult {
  /** Tasks changed, or to be changed by the background continuation. */
  readonly affected: number;
  /** Of those, how many are done now; the rest finish in the background within seconds. */
  readonly completed: number;
  readonly aborts: readonly AbortOrder[];
}

/** A task in a listing (API.md): no payload, result, attempt log or delivery, so a page stays small. */
export interface TaskSummary {
  id: string;
  function: string;
  state: TaskState;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  timeline: TaskTimeline;
  error?: TaskError;
  /** A task a schedule fired: which schedule, the tick it ran for, and `late` when it fired after an outage. */
  scheduleId?: string;
  scheduledFor?: string;
  late?: true;
}

export interface TaskPage {
  readonly tasks: TaskSummary[];
  /** Each task's sequence on the shard (src/listing-merge.ts merges shards' pages by time and resumes by these). */
  readonly seqs: number[];
  /** Exclusive upper bound for the next page (tasks are listed by descending sequence). */
  readonly nextBefore?: number;
}

/**
 * A schedule as a shard returns it; the gateway shows `payloadJson` parsed, as `payload` (API.md "Schedules"), and
 * listings leave it out. JSON text, not a value: a recursive JSON type is too deep for the RPC types.
 */
export interface ScheduleView {
  id: string;
  function: string;
  cron: string;
  timezone: string;
  contentType: string;
  paused: boolean;
  payloadJson?: string;
  nextRunAt: string | null;
  lastRunAt: string | null;
  /** The tick the last run was fired for (its task's `scheduledFor`). */
  lastScheduledFor: string | null;
  lastTaskId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A schedule's stored row as it moves from one shard to another (a function's isolation changed). */
export interface ScheduleTransfer {
  readonly account: string;
  readonly function: string;
  readonly id: string;
  readonly cron: string;
  readonly timezone: string;
  readonly payload: string | null;
  readonly contentType: string;
  readonly paused: boolean;
  readonly origin: string | null;
  readonly anchor: number;
  readonly lastTick: number | null;
  readonly lastRunAt: number | null;
  readonly lastTaskId: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}
