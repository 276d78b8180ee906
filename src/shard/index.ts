/**
 * @module
 * A shard's task store: the facade over its parts, each a file of this folder that owns its tables (see
 * docs/storage-schema.md). Every public method is meant to run inside one synchronous transaction (the Durable Object
 * wraps it in `transactionSync`), so a crash leaves either the whole transition or none of it.
 *
 * | part | behaviour |
 * |---|---|
 * | functions.ts | the shard's copies of its functions; deleting one |
 * | intake.ts | accepting tasks, idempotency keys, cancel-before-arrival |
 * | listing.ts | one task, listings, counts |
 * | operations.ts | cancel / pause / resume / retry, bulk, purge, redeliver |
 * | dispatch.ts | dispatch planning (fair share of the slots: src/fair-share.ts), leases, expiry by age |
 * | lanes.ts | fairness-key lanes: ready tasks in round-robin order over keys |
 * | accounts.ts | account `maxConcurrency`: grants from the account's limiter |
 * | running.ts | calls in flight per function, account and invoker |
 * | outcomes.ts | reports, callbacks, lost leases, retry and backoff |
 * | governor.ts | AIMD windows |
 * | attempt-log.ts | the bounded attempt log |
 * | observations.ts | latency sketches, history and totals for stats and metrics (recorded) |
 * | stats-read.ts | the same read back: stats and Prometheus figures |
 * | outbox.ts | the delivery outbox and its recovery |
 * | retention.ts | purging ended tasks, R2 garbage |
 * | attention.ts | which functions a dispatch pass visits |
 * | schedules.ts | cron schedules: storage, firing ticks as tasks |
 * | schedule-moves.ts | handing a moved function's schedules to its new shard |
 * | placement-load.ts | what the placement policy is told about the shard's functions |
 * | wake.ts | the next alarm |
 */

import type { DeliveryMessage, DeliveryReport } from "../delivery";
import { newFairShareState } from "../fair-share";
import type { FunctionMetrics, ShardStats } from "../observability";
import type {
  AbortOrder,
  AcceptResult,
  BulkFilter,
  BulkResult,
  FunctionRecord,
  IngestMessage,
  OutcomeReport,
  ScheduleTransfer,
  ScheduleView,
  ShardAccountLimits,
  StoredTaskView,
  TaskOperation,
  TaskPage,
} from "../records";
import type { CallbackResult, Completion, OperationResult, PurgeResult } from "../results";
import type { ScheduleSpec } from "../schedules";
import type { Sql } from "../sql";
import type { TaskState } from "../task-states";
import { type GrantRequest, grantRequests, loadAccountLimits, recordGrant, setAccountLimits } from "./accounts";
import { functionKey, type ShardContext, type ShardSettings } from "./context";
import { type DispatchPlan, planDispatch } from "./dispatch";
import { drainEvents, type TransitionEvent } from "./events";
import { deleteFunction, upsertFunction } from "./functions";
import { concurrencyLimit } from "./governor";
import { accept, expireIdempotencyKeys, idempotentTask, newerRecords } from "./intake";
import { activeLanes } from "./lanes";
import { countByState, getTask, listTasks } from "./listing";
import { flushFinishes, pruneObservations } from "./observations";
import { bulk, continueBulk, operate, purge, redeliver } from "./operations";
import { applyDeliveryReport, deliveryTiming, markHandedOff, pendingHandoffs, reviveSilentDeliveries } from "./outbox";
import { applyOutcome, checkCallback, complete, heartbeat, recoverExpiredLeases } from "./outcomes";
import { hasWork, placementLoad } from "./placement-load";
import { forgetGarbage, pendingGarbage, purgeExpired } from "./retention";
import { runningCalls } from "./running";
import { adoptSchedules, forgetMoved, outboundSchedules, redirectMoved } from "./schedule-moves";
import {
  deleteSchedule,
  deleteSchedulesOf,
  fireTicks,
  getSchedule,
  listSchedules,
  notePlacement,
  type PutScheduleResult,
  planTicks,
  putSchedule,
  scheduleCount,
  type TickPlan,
} from "./schedules";
import { applyShardSchema } from "./schema";
import { type ObservedFunction, readMetrics, readStats } from "./stats-read";
import { nextWakeAt } from "./wake";

export { GRANT_TTL_MS, type GrantRequest } from "./accounts";
export type { ShardSettings } from "./context";
export { functionKey } from "./context";
export { DISPATCH_BUDGET, type DispatchPlan, MORE_DISPATCH_MS } from "./dispatch";
export { BULK_CHUNK, BULK_CHUNKS_PER_CALL, BULK_CONTINUE_MS } from "./operations";
export { HANDOFF_RETRY_MS } from "./outbox";
export type { PutScheduleResult, TickPlan } from "./schedules";
export type { ObservedFunction } from "./stats-read";

export class ShardStore {
  readonly #ctx: ShardContext;

  constructor(sql: Sql, settings: ShardSettings) {
    applyShardSchema(sql);
    const functions = new Map<string, FunctionRecord>();
    for (const row of sql.exec<{ record: string }>("SELECT record FROM functions WHERE deleted = 0").toArray()) {
      const record = JSON.parse(row.record) as FunctionRecord;
      functions.set(functionKey(record.account, record.name), record);
    }
    // lastSweepAt 0: the first pass after a start visits every function and rebuilds the attention times.
    this.#ctx = {
      sql,
      settings,
      functions,
      governors: new Map(),
      pauses: new Map(),
      fairShare: newFairShareState(),
      clocks: new Map(),
      waitingDue: new Map(),
      executionMs: new Map(),
      accountLimits: new Map(),
      accountVersions: new Map(),
      concurrencyGrants: new Map(),
      attention: new Map(),
      lastSweepAt: 0,
      handoffsWaiting: true,
      events: [],
      eventsDropped: 0,
    };
    loadAccountLimits(this.#ctx);
  }

  // Functions
  upsertFunction(record: FunctionRecord): void {
    upsertFunction(this.#ctx, record);
    notePlacement(this.#ctx, record.account, record.name);
  }
  deleteFunction(account: string, name: string, now: number): { cancelled: number; aborts: AbortOrder[] } {
    deleteSchedulesOf(this.#ctx, account, name);
    return deleteFunction(this.#ctx, account, name, now);
  }

  /** The version of the function's record held here, if any. */
  functionVersion(account: string, name: string): number | undefined {
    return this.#ctx.functions.get(functionKey(account, name))?.version;
  }

  // Intake
  accept(messages: readonly IngestMessage[], now: number, self?: string): AcceptResult[] {
    return accept(this.#ctx, messages, now, self);
  }
  newerRecords(messages: readonly IngestMessage[]): FunctionRecord[] {
    return newerRecords(this.#ctx, messages);
  }
  idempotentTask(account: string, fnName: string, key: string, now: number): string | undefined {
    return idempotentTask(this.#ctx, account, fnName, key, now);
  }
  expireIdempotencyKeys(now: number): number {
    return expireIdempotencyKeys(this.#ctx, now);
  }

  // Reading
  getTask(account: string, id: string): { task: StoredTaskView | null; purged: boolean } {
    return getTask(this.#ctx, account, id);
  }
  listTasks(account: string, fnName: string, state: TaskState | undefined, limit: number, before?: number): TaskPage {
    return listTasks(this.#ctx, account, fnName, state, limit, before);
  }
  countByState(account?: string, fnName?: string): Record<string, number> {
    return countByState(this.#ctx, account, fnName);
  }
  concurrencyLimit(account: string, fnName: string): number | undefined {
    return concurrencyLimit(this.#ctx, account, fnName);
  }
  /** Stats of these functions of the account on this shard, summed (latency window and history end at `now`). */
  stats(account: string, functions: readonly ObservedFunction[], now: number): ShardStats {
    return readStats(this.#ctx, account, functions, now);
  }
  /** Prometheus figures of these functions of the account on this shard. */
  metrics(account: string, functions: readonly ObservedFunction[]): FunctionMetrics[] {
    return readMetrics(this.#ctx, account, functions);
  }

  // User operations
  operate(account: string, id: string, op: TaskOperation, now: number, createdAt = now): OperationResult {
    return operate(this.#ctx, account, id, op, now, createdAt);
  }
  purge(account: string, id: string, now: number): PurgeResult {
    return purge(this.#ctx, account, id, now);
  }
  bulk(account: string, fnName: string, op: TaskOperation, filter: BulkFilter, now: number): BulkResult {
    return bulk(this.#ctx, account, fnName, op, filter, now);
  }
  continueBulk(now: number): { aborts: AbortOrder[] } {
    return continueBulk(this.#ctx, now);
  }
  redeliver(account: string, id: string, now: number) {
    return redeliver(this.#ctx, account, id, now);
  }

  // Dispatch and outcomes
  /** A dispatch pass; with `to`, one that fills only that invoker's free slots (its report's answer). */
  /** Transitions noted since the last call (printed by the shard object once their transaction committed). */
  drainEvents(): { events: TransitionEvent[]; dropped: number } {
    return drainEvents(this.#ctx);
  }

  /** Whether any account on this shard has `limits.maxConcurrency` (its grants are refreshed by full passes). */
  hasAccountLimits(): boolean {
    return this.#ctx.accountLimits.size > 0;
  }

  planDispatch(shard: string, now: number, to?: { invoker: number; free: number }): DispatchPlan {
    return planDispatch(this.#ctx, shard, now, to);
  }

  // Account limits
  /** Remember an account's limits unless newer ones are known. Returns whether its concurrency limit changed. */
  setAccountLimits(account: string, limits: ShardAccountLimits): boolean {
    return setAccountLimits(this.#ctx, account, limits);
  }
  /** The grants to ask the limited accounts' limiters for before the next pass. */
  grantRequests(now: number): GrantRequest[] {
    return grantRequests(this.#ctx, now);
  }
  /** The limiter's answer to a request for `wanted` calls. */
  recordGrant(account: string, granted: number, now: number, wanted = granted): void {
    recordGrant(this.#ctx, account, granted, now, wanted);
  }
  /** Fairness-key lanes of a function with work ahead (stats). */
  activeLanes(account: string, fnName: string): number {
    return activeLanes(this.#ctx, account, fnName);
  }
  /** The account's calls in flight on this shard. */
  accountInFlight(account: string): number {
    return runningCalls(this.#ctx).accountRunning.get(account) ?? 0;
  }
  applyOutcome(report: OutcomeReport, now: number, random: () => number = Math.random): { applied: boolean } {
    return applyOutcome(this.#ctx, report, now, random);
  }
  recoverExpiredLeases(now: number, random: () => number = Math.random): number {
    return recoverExpiredLeases(this.#ctx, now, random);
  }
  complete(id: string, token: string, outcome: Completion, now: number): CallbackResult {
    return complete(this.#ctx, id, token, outcome, now);
  }
  checkCallback(id: string, token: string): boolean {
    return checkCallback(this.#ctx, id, token);
  }
  heartbeat(id: string, token: string, now: number): CallbackResult {
    return heartbeat(this.#ctx, id, token, now);
  }

  // Delivery outbox
  pendingHandoffs(shard: string, limit: number, now: number): DeliveryMessage[] {
    return pendingHandoffs(this.#ctx, shard, limit, now);
  }
  /** `unsent`: how many of the deliveries handed out could not be sent (the next outbox pass tries them again). */
  markHandedOff(deliveryIds: readonly string[], now: number, unsent = 0): void {
    markHandedOff(this.#ctx, deliveryIds, now);
    if (unsent > 0) this.#ctx.handoffsWaiting = true;
  }
  applyDeliveryReport(report: DeliveryReport): { applied: boolean } {
    return applyDeliveryReport(this.#ctx, report);
  }
  reviveSilentDeliveries(now: number): number {
    const revived = reviveSilentDeliveries(this.#ctx.sql, now, deliveryTiming(this.#ctx));
    if (revived > 0) this.#ctx.handoffsWaiting = true;
    return revived;
  }

  /** Write finished tasks' timings still in memory (finish-buffer.ts); the alarm does it a second after a finish. */
  flushObservations(now: number): void {
    flushFinishes(this.#ctx, now);
  }

  // Placement
  /** The shard's load for the placement policy (placement-load.ts), each backlog counted up to `backlogCap`. */
  placementLoad(shard: string, now: number, backlogCap: number) {
    return placementLoad(this.#ctx, shard, now, backlogCap);
  }
  /** Whether a function has ready tasks or calls in flight here (asked before a move that takes capacity away). */
  hasWork(account: string, name: string, now: number): boolean {
    return hasWork(this.#ctx, account, name, now);
  }

  // Retention
  purgeExpired(now: number): number {
    flushFinishes(this.#ctx, now);
    pruneObservations(this.#ctx.sql, now);
    return purgeExpired(this.#ctx.sql, now);
  }
  pendingGarbage(): string[] {
    return pendingGarbage(this.#ctx.sql);
  }
  forgetGarbage(keys: readonly string[]): void {
    forgetGarbage(this.#ctx.sql, keys);
  }

  // Schedules (`shard` is this shard's own name)
  putSchedule(
    shard: string,
    fn: FunctionRecord,
    id: string,
    spec: ScheduleSpec,
    origin: string,
    now: number,
    elsewhere = 0,
  ): PutScheduleResult {
    return putSchedule(this.#ctx, shard, fn, id, spec, origin, now, elsewhere);
  }
  scheduleCount(account: string, fnName: string): number {
    return scheduleCount(this.#ctx, account, fnName);
  }
  getSchedule(account: string, fnName: string, id: string): ScheduleView | undefined {
    return getSchedule(this.#ctx, account, fnName, id);
  }
  listSchedules(account: string, fnName: string): ScheduleView[] {
    return listSchedules(this.#ctx, account, fnName);
  }
  deleteSchedule(account: string, fnName: string, id: string): boolean {
    return deleteSchedule(this.#ctx, account, fnName, id);
  }
  /** The due schedules' ticks (read only); their task ids are minted (async) before {@link fireTicks}. */
  planTicks(now: number): TickPlan[] {
    return planTicks(this.#ctx, now);
  }
  fireTicks(shard: string, plans: readonly TickPlan[], taskIds: ReadonlyMap<TickPlan, string>, now: number): string[] {
    return fireTicks(this.#ctx, shard, plans, taskIds, now);
  }
  outboundSchedules() {
    return outboundSchedules(this.#ctx);
  }
  forgetMovedSchedules(to: string, rows: readonly ScheduleTransfer[]): string[] {
    return forgetMoved(this.#ctx, to, rows);
  }
  redirectMovedSchedules(account: string, fnName: string, from: string, to?: string): void {
    redirectMoved(this.#ctx, account, fnName, from, to);
  }
  adoptSchedules(shard: string, fn: FunctionRecord, rows: readonly ScheduleTransfer[]) {
    return adoptSchedules(this.#ctx, shard, fn, rows);
  }

  // The next alarm
  nextWakeAt(now: number, moreReady: boolean): number | null {
    return nextWakeAt(this.#ctx, now, moreReady);
  }
}
