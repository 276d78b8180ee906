/**
 * @module
 * A shard: holds queued tasks of the functions placed on it, dispatches them fairly to its pool of invokers and applies
 * every transition as one SQLite transaction. All logic lives in src/shard/; each method here loads, delegates
 * in one transaction, performs the side effects the store asked for (invoker hand-offs and aborts, R2 deletes), and
 * leaves dispatch runs and the alarm to shard-dispatch.ts.
 */

import { DurableObject } from "cloudflare:workers";
import { batchBySize } from "../src/batches";
import { CALLS_PER_INVOKER, readConfig } from "../src/config";
import type { DeliveryReport } from "../src/delivery";
import { MAX_RPC_BATCH_BYTES } from "../src/limits";
import { type FunctionMetrics, MAX_OBSERVED_FUNCTIONS, type ShardStats } from "../src/observability";
import { invokerName } from "../src/placement";
import type {
  AcceptResult,
  BulkFilter,
  BulkResult,
  FunctionRecord,
  IngestMessage,
  InvocationJob,
  OutcomeReport,
  ScheduleTransfer,
  ScheduleView,
  ShardAccountLimits,
  StoredTaskView,
  TaskOperation,
  TaskPage,
} from "../src/records";
import type { CallbackResult, Completion, OperationResult, Refusal } from "../src/results";
import type { ScheduleSpec } from "../src/schedules";
import { MAX_BATCH } from "../src/schemas";
import { type ObservedFunction, type PutScheduleResult, ShardStore } from "../src/shard";
import type { TaskState } from "../src/task-states";
import { logError } from "../workers/platform/log";
import { DispatchRuns } from "./shard-dispatch";
import { abortCalls, collectGarbage, jobBytes, loggedTransaction } from "./shard-effects";
import { PlacementReviews } from "./shard-placement";
import { fireDueSchedules, moveSchedules } from "./shard-schedules";

export class ShardDurableObject extends DurableObject<Env> {
  readonly #store: ShardStore;
  readonly #placement: PlacementReviews;
  readonly #runs: DispatchRuns;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const config = readConfig(env);
    this.#placement = new PlacementReviews(env, config.placementReviewMs);
    this.#store = new ShardStore(ctx.storage.sql, {
      leaseGraceMs: config.leaseGraceMs,
      invokers: config.invokersPerShard,
      callsPerInvoker: CALLS_PER_INVOKER,
      aimdDecreaseFactor: config.aimdDecreaseFactor,
      aimdCooldownMs: config.aimdCooldownMs,
      aimdInitialWindow: config.aimdInitialWindow,
      aimdIdleRestartMs: config.aimdIdleRestartMs,
      dispatchOrder: config.dispatchOrder,
      taskLogs: config.taskLogs,
      delivery: { schedule: config.deliverySchedule, timeoutMs: config.deliveryTimeoutMs },
    });
    this.#runs = new DispatchRuns({
      store: this.#store,
      env,
      storage: ctx.storage,
      transactions: this.#transactions,
      placement: this.#placement,
      name: () => this.#name,
    });
    // A start works the alarm out again from what is stored: a turn that committed new leases (a report's answer, a
    // dispatch pass) and was evicted before it set the alarm leaves them covered by the next start, which the
    // invoker's retried report or any request brings.
    void ctx.blockConcurrencyWhile(async () => {
      try {
        await this.#runs.scheduleAlarm(false);
      } catch (error) {
        logError("setting the alarm at start failed; the next request sets it", error, {});
      }
    });
  }

  /**
   * Take tasks (from the ingest consumer, or directly for deduplicated and batch submissions). Idempotent by id. The
   * answer also carries the function records held here that are newer than the messages' (`newer`): the sender's
   * cache was stale, and a gateway routes its next submissions by them. With `reroute` (the gateway's direct path), an
   * idempotency key this shard no longer owns after a move is answered `moved`, not stored (intake.ts).
   */
  async accept(
    messages: IngestMessage[],
    options: { reroute?: boolean } = {},
  ): Promise<{ results: AcceptResult[]; newer: FunctionRecord[] }> {
    const now = Date.now();
    const self = options.reroute === true ? this.#name : undefined;
    const results = this.#tx(() => this.#store.accept(messages, now, self));
    // Answer the ingest consumer at once; dispatch runs behind the answer, and the alarm backs it up.
    await this.#runs.ensureAlarm();
    void this.#runs.kick();
    // A surge into a shard neighbours share is reviewed without waiting for PLACEMENT_REVIEW_MS: a flood moves out
    // while it is still arriving.
    this.#placement.noteArrivals(results.filter((r) => !("moved" in r) && !r.deduplicated).length);
    void this.#runs.reviewPlacement();
    return { results, newer: this.#store.newerRecords(messages) };
  }

  /**
   * The tasks these idempotency keys name here, while their windows last (the gateway asks after a move). The asker's
   * `record` of the function is taken first if it is newer than the one held here: from then on this shard refuses
   * the keys it no longer owns (accept's `reroute`), so a key found nowhere here cannot be taken here afterwards by a
   * gateway that still routes by the record from before the move.
   */
  idempotentTasks(account: string, fnName: string, keys: string[], record?: FunctionRecord): Record<string, string> {
    const known = this.#store.functionVersion(account, fnName) ?? 0;
    if (record && record.account === account && record.name === fnName && record.version > known) {
      this.#tx(() => this.#store.upsertFunction(record));
      // The rest of what a push of the record does (its schedules follow it, a dispatch pass) runs behind the answer:
      // a failure there is not the asker's.
      void this.upsertFunction(record).catch((error: unknown) =>
        logError("taking a newer function record failed; its push or the alarm repeats it", error, {
          function: fnName,
        }),
      );
    }
    const now = Date.now();
    const found: Record<string, string> = {};
    for (const key of keys.slice(0, MAX_BATCH)) {
      const id = this.#store.idempotentTask(account, fnName, key, now);
      if (id) found[key] = id;
    }
    return found;
  }

  /** An account's limits changed (PATCH /v1/accounts/:id); an older version than one already known is ignored. */
  async setAccountLimits(account: string, limits: ShardAccountLimits): Promise<void> {
    const changed = this.#tx(() => this.#store.setAccountLimits(account, limits));
    if (changed) await this.#runs.kick();
  }

  async upsertFunction(record: FunctionRecord): Promise<void> {
    this.#tx(() => this.#store.upsertFunction(record));
    // The function may have moved to another shard: its schedules here stop firing and follow it.
    await moveSchedules(this.#store, this.#transactions, this.env, this.#name);
    await this.#runs.kick();
  }

  /** Create or replace a schedule of `fn` (API.md "Schedules"); `origin` is the gateway's, for result URLs. */
  async putSchedule(fn: FunctionRecord, id: string, spec: ScheduleSpec, origin: string): Promise<PutScheduleResult> {
    // Schedules still on shards the function left are on their way here: they count against the limit (over-counted
    // for a moment while both hold one, never under), so moving and adding cannot grow a function past it.
    // Only a put that adds one is counted: a replacement asks no one.
    const adding = this.#store.getSchedule(fn.account, fn.name, id) === undefined;
    const left = adding ? (fn.previousShards ?? []).filter((name) => name !== this.#name) : [];
    const elsewhere = (
      await Promise.all(left.map((name) => this.env.SHARD.getByName(name).scheduleCount(fn.account, fn.name)))
    ).reduce((sum, n) => sum + n, 0);
    const result = this.#tx(() => this.#store.putSchedule(this.#name, fn, id, spec, origin, Date.now(), elsewhere));
    if (result.ok) await this.#runs.scheduleAlarm(false);
    return result;
  }

  /** How many schedules of a function are here (a shard it moved to asks, to hold the per-function limit). */
  scheduleCount(account: string, fnName: string): number {
    return this.#store.scheduleCount(account, fnName);
  }

  getSchedule(account: string, fnName: string, id: string): ScheduleView | undefined {
    return this.#store.getSchedule(account, fnName, id);
  }

  listSchedules(account: string, fnName: string): ScheduleView[] {
    return this.#store.listSchedules(account, fnName);
  }

  deleteSchedule(account: string, fnName: string, id: string): boolean {
    return this.#tx(() => this.#store.deleteSchedule(account, fnName, id));
  }

  /** Another shard hands over the schedules of a function that now lives here (shard-schedules.ts). */
  async adoptSchedules(
    fn: FunctionRecord,
    rows: ScheduleTransfer[],
  ): Promise<{ ok: true; adopted: number } | { ok: false; movedTo?: string }> {
    const result = this.#tx(() => this.#store.adoptSchedules(this.#name, fn, rows));
    if (result.ok) await this.#runs.scheduleAlarm(false);
    return result;
  }

  async deleteFunction(account: string, name: string): Promise<{ cancelled: number }> {
    const result = this.#tx(() => this.#store.deleteFunction(account, name, Date.now()));
    await abortCalls(this.env, this.#name, result.aborts);
    await this.#runs.scheduleAlarm(false);
    return { cancelled: result.cancelled };
  }

  getTask(account: string, id: string): { task: StoredTaskView | null; purged: boolean } {
    return this.#store.getTask(account, id);
  }

  listTasks(account: string, fnName: string, state: TaskState | undefined, limit: number, before?: number): TaskPage {
    return this.#store.listTasks(account, fnName, state, limit, before);
  }

  countByState(account?: string, fnName?: string): Record<string, number> {
    return this.#store.countByState(account, fnName);
  }

  concurrencyLimit(account: string, fnName: string): number | undefined {
    return this.#store.concurrencyLimit(account, fnName);
  }

  /** Stats of these functions of the account here, summed; `now` is the gateway's, so every shard uses one grid. */
  observeStats(account: string, functions: ObservedFunction[], now: number): ShardStats {
    return this.#store.stats(account, functions.slice(0, MAX_OBSERVED_FUNCTIONS), now);
  }

  /** Prometheus figures of these functions of the account here. */
  observeMetrics(account: string, functions: ObservedFunction[]): FunctionMetrics[] {
    return this.#store.metrics(account, functions.slice(0, MAX_OBSERVED_FUNCTIONS));
  }

  fairnessLanes(account: string, fnName: string): number {
    return this.#store.activeLanes(account, fnName);
  }

  /** Whether a function has ready tasks or calls in flight here (shard-placement.ts asks before a reclaim). */
  hasWork(account: string, fnName: string): boolean {
    return this.#store.hasWork(account, fnName, Date.now());
  }

  accountInFlight(account: string): number {
    return this.#store.accountInFlight(account);
  }

  /** `createdAt` is the id's own timestamp: only a young id may still be in the ingest queue. */
  async operate(account: string, id: string, op: TaskOperation, createdAt?: number): Promise<OperationResult> {
    const result = this.#tx(() => this.#store.operate(account, id, op, Date.now(), createdAt));
    if (result.ok && result.abort) await abortCalls(this.env, this.#name, [result.abort]);
    if (result.ok) await this.#runs.kick();
    return result;
  }

  async purge(account: string, id: string): Promise<{ ok: true } | Exclude<Refusal, { reason: "delivery_conflict" }>> {
    const result = this.#tx(() => this.#store.purge(account, id, Date.now()));
    if ("r2Keys" in result) {
      const results = await this.env.BLOBS.list({ prefix: `results/${id}/` });
      await this.env.BLOBS.delete([...result.r2Keys, ...results.objects.map((o) => o.key)]);
      this.#tx(() => this.#store.forgetGarbage(result.r2Keys));
      return { ok: true };
    }
    return result;
  }

  async bulk(account: string, fnName: string, op: TaskOperation, filter: BulkFilter): Promise<BulkResult> {
    const result = this.#tx(() => this.#store.bulk(account, fnName, op, filter, Date.now()));
    await abortCalls(this.env, this.#name, result.aborts);
    await this.#runs.kick();
    return result;
  }

  async complete(id: string, token: string, outcome: Completion): Promise<CallbackResult> {
    const result = this.#tx(() => this.#store.complete(id, token, outcome, Date.now()));
    if (result.ok) await this.#runs.kick();
    return result;
  }

  /** Read-only: may a callback with this token proceed? Asked before its body is read. */
  checkCallback(id: string, token: string): boolean {
    return this.#store.checkCallback(id, token);
  }

  async heartbeat(id: string, token: string): Promise<CallbackResult> {
    const result = this.#tx(() => this.#store.heartbeat(id, token, Date.now()));
    if (result.ok) await this.#runs.scheduleAlarm(false);
    return result;
  }

  /**
   * Invokers report how calls went (at least once; a stale or duplicate report is ignored). With `from` (the
   * reporting invoker's index and its free call slots) the answer carries that invoker's next jobs, chosen by the same
   * fair share as any pass: no hand-off RPC and no invoker alarm per call. A lost answer costs nothing but time: those
   * tasks' leases run out and they are queued again.
   */
  async report(
    reports: OutcomeReport[],
    from?: { invoker: number; free: number },
  ): Promise<{ applied: number; jobs: InvocationJob[] }> {
    const now = Date.now();
    const { applied, jobs, passNeeded, leaseBy } = this.#tx(() => {
      const count = reports.filter((r) => this.#store.applyOutcome(r, now).applied).length;
      const plan = from && from.free > 0 ? this.#store.planDispatch(this.#name, now, from) : undefined;
      return {
        applied: count,
        jobs: plan ? [...plan.byInvoker.values()].flat() : [],
        // The answer's own pass saw every function with due work: unless it ran out of this invoker's slots (or an
        // account's grant may need refreshing), a pass for the whole pool would find nothing more to start.
        passNeeded: plan === undefined || plan.exhausted || this.#store.hasAccountLimits(),
        leaseBy: plan?.leaseBy ?? null,
      };
    });
    // The answer may be lost on its way back: the alarm must come by the leases it gave out (and, without a dispatch
    // run, by whatever the report set waiting). Many invokers report at once; one dispatch run (going round again if
    // needed) serves them all.
    if (passNeeded) {
      await this.#runs.ensureAlarm(leaseBy);
      void this.#runs.kick();
    } else {
      await this.#runs.alarmAfterReport(leaseBy);
      void this.#runs.handOffAfterReport();
    }
    // A function served only through report answers runs no dispatch pass: its placement is reviewed from here.
    void this.#runs.reviewPlacement();
    // An answer stays within the RPC bound; the rest (only with a large INLINE_LIMIT_BYTES) goes the usual way.
    const [answer = [], ...rest] = batchBySize(jobs, jobBytes, MAX_RPC_BATCH_BYTES);
    if (from && rest.length > 0) {
      const invoker = this.env.INVOKER.getByName(invokerName(this.#name, from.invoker));
      for (const batch of rest) {
        void invoker.enqueue(batch).catch((error: unknown) => logError("invoker hand-off failed", error, {}));
      }
    }
    return { applied, jobs: answer };
  }

  /** One delivery attempt's report (at least once; stale reports are ignored). */
  reportDelivery(report: DeliveryReport): { applied: boolean } {
    return this.#tx(() => this.#store.applyDeliveryReport(report));
  }

  /** Delivery lanes report attempts and promises in batches (bounded by the lane); one transaction for all. */
  reportDeliveries(reports: DeliveryReport[]): { applied: number } {
    return this.#tx(() => ({
      applied: reports.filter((report) => this.#store.applyDeliveryReport(report).applied).length,
    }));
  }

  async redeliver(account: string, id: string) {
    const result = this.#tx(() => this.#store.redeliver(account, id, Date.now()));
    if (result.ok) await this.#runs.handOffDeliveries();
    return result;
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    const { aborts } = this.#tx(() => {
      this.#store.recoverExpiredLeases(now);
      this.#store.expireIdempotencyKeys(now);
      this.#store.purgeExpired(now);
      this.#store.reviveSilentDeliveries(now);
      return this.#store.continueBulk(now);
    });
    await abortCalls(this.env, this.#name, aborts);
    await collectGarbage(this.#store, this.#transactions, this.env, this.#name);
    // Due ticks become tasks before the dispatch run below, which may start them at once.
    await fireDueSchedules(this.#store, this.#transactions, this.env, this.#name);
    await moveSchedules(this.#store, this.#transactions, this.env, this.#name);
    await this.#runs.kick();
    await this.#runs.reviewPlacement();
  }

  /** A transaction whose task transitions are printed once it committed (shard-effects.ts); for the effects too. */
  readonly #transactions = { transactionSync: <T>(work: () => T): T => this.#tx(work) };
  #tx<T>(work: () => T): T {
    return loggedTransaction(this.ctx.storage, this.#store, this.#name, work);
  }

  /**
   * The shard's own name labels the jobs it sends (invokers report back to it). A Durable Object addressed with
   * `getByName` reads that name on `ctx.id.name`, also after an eviction and inside `alarm()` (Cloudflare changelog,
   * 2026-03-15: "no need to pass it through method arguments or persist it in storage"; checked locally by
   * test/workers/shard-name.test.ts).
   */
  get #name(): string {
    const name = this.ctx.id.name;
    if (name === undefined) throw new Error("a shard must be addressed by name (SHARD.getByName)");
    return name;
  }
}
