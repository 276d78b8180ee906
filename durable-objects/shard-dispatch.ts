/**
 * @module
 * A shard object's dispatch runs (durable-objects/shard.ts): one run at a time, whoever asks; each runs dispatch
 * passes, hands the jobs to invokers, sends the delivery outbox, and keeps exactly one alarm pending while any task
 * needs looking at. The decisions (who runs next, when to wake) are src/shard/'s.
 */

import { batchBySize } from "../src/batches";
import { MAX_RPC_BATCH_BYTES } from "../src/limits";
import { invokerName } from "../src/placement";
import type { ShardStore } from "../src/shard";
import { logError } from "../workers/platform/log";
import { earliest, handOffDeliveries, jobBytes, refreshGrants, type Transactions } from "./shard-effects";
import type { PlacementReviews } from "./shard-placement";

/** How many dispatch passes one call may run before leaving the rest to the alarm (bounds CPU per invocation). */
const PASSES_PER_CALL = 5;
/** Safety net: an alarm at most this far away whenever a request changed tasks, in case a background run dies. */
const SAFETY_ALARM_MS = 5_000;
/**
 * A report answer works out the shard's next wake (a dozen indexed reads) at most this often; in between, the alarm
 * comes at most this long after the last time it was worked out. Whatever a report sets waiting (a retry's backoff, an
 * ended task's purge, a delivery left in the outbox) is looked at by then, and a busy shard pays for the reads about
 * once a second instead of once per call (they were 7 % of the isolate under B3's flood).
 */
export const REPORT_WAKE_MS = 1_000;

export interface DispatchDeps {
  readonly store: ShardStore;
  readonly env: Env;
  readonly storage: DurableObjectStorage;
  readonly transactions: Transactions;
  readonly placement: PlacementReviews;
  /** The shard's own name (read lazily: `ctx.id.name`). */
  readonly name: () => string;
}

export class DispatchRuns {
  readonly #deps: DispatchDeps;
  /** The dispatch run in progress, if any; `#again` asks it to go round once more. */
  #dispatching: Promise<void> | undefined;
  #again = false;
  /** When the next wake was last worked out in full (scheduleAlarm). */
  #wakeWorkedOutAt = Number.NEGATIVE_INFINITY;

  constructor(deps: DispatchDeps) {
    this.#deps = deps;
  }

  /**
   * Start a dispatch run unless one is running, in which case that run goes round once more. Returns the run, which
   * rejects if dispatch failed, so an alarm that awaits it is retried; callers that do not wait have the failure
   * logged, and the safety alarm comes back.
   */
  kick(): Promise<void> {
    if (this.#dispatching) {
      this.#again = true;
      return this.#dispatching;
    }
    const run = (async () => {
      try {
        do {
          this.#again = false;
          await this.#dispatch();
        } while (this.#again);
      } finally {
        this.#dispatching = undefined;
      }
    })();
    run.catch((error: unknown) => logError("dispatch run failed", error, { shard: this.#deps.name() }));
    this.#dispatching = run;
    return run;
  }

  /**
   * An alarm at most SAFETY_ALARM_MS away unless one is set already, and in any case one by `by` (the earliest lease a
   * pass just gave out: a job whose hand-off or answer is lost is queued again when its lease runs out, however far
   * away the shard's next alarm was).
   */
  ensureAlarm(by: number | null = null): Promise<void> {
    return this.#alarmBy(by, Date.now() + SAFETY_ALARM_MS);
  }

  /** Make sure one alarm covers whatever still waits (`moreReady`: the last pass stopped at its budget). */
  scheduleAlarm(moreReady: boolean): Promise<void> {
    const { store, placement } = this.#deps;
    const now = Date.now();
    this.#wakeWorkedOutAt = now;
    return this.#alarmBy(earliest(store.nextWakeAt(now, moreReady), placement.wakeAt(now)));
  }

  /**
   * The alarm after a report whose answer started all there was to start: by `leaseBy` (the leases the answer gave
   * out), and by whatever the report set waiting, worked out in full at most every REPORT_WAKE_MS (else the alarm
   * comes within REPORT_WAKE_MS of the last time it was, and works it out then).
   */
  alarmAfterReport(leaseBy: number | null): Promise<void> {
    const now = Date.now();
    if (now - this.#wakeWorkedOutAt >= REPORT_WAKE_MS) return this.scheduleAlarm(false);
    return this.#alarmBy(earliest(leaseBy, this.#wakeWorkedOutAt + REPORT_WAKE_MS));
  }

  /** The pending alarm moved to `at` if that is sooner; with none pending, one at the earlier of `at` and `orElse`. */
  async #alarmBy(at: number | null, orElse: number | null = null): Promise<void> {
    if (at === null && orElse === null) return;
    const storage = this.#deps.storage;
    const current = await storage.getAlarm();
    const wanted = current === null ? earliest(at, orElse) : at;
    if (wanted !== null && (current === null || wanted < current)) await storage.setAlarm(wanted);
  }

  /** Send deliveries recorded by transitions to the delivery queue. */
  handOffDeliveries(): Promise<void> {
    const { store, transactions, env, name } = this.#deps;
    return handOffDeliveries(store, transactions, env, name());
  }

  /**
   * The delivery hand-off for a report whose answer started all there was to start (a dispatch run does it after its
   * passes). What it leaves unsent waits for the alarm, which alarmAfterReport brought near.
   */
  async handOffAfterReport(): Promise<void> {
    try {
      await this.handOffDeliveries();
    } catch (error) {
      logError("delivery hand-off after a report failed; the alarm retries", error, { shard: this.#deps.name() });
    }
  }

  /** At most every PLACEMENT_REVIEW_MS, behind the caller: the policy may move a function that loads this shard. */
  async reviewPlacement(): Promise<void> {
    const { store, transactions, placement, name } = this.#deps;
    try {
      if (await placement.review(store, transactions, name())) await this.scheduleAlarm(false);
    } catch (error) {
      logError("placement review bookkeeping failed", error, { shard: name() });
    }
  }

  /** Run dispatch passes, hand the jobs to invokers, then make sure one alarm covers whatever still waits. */
  async #dispatch(): Promise<void> {
    const sends: Promise<unknown>[] = [];
    let more = false;
    // Whatever fails here, the alarm covers the leases the passes gave out (and the alarm retries a failed run).
    try {
      more = await this.#passes(sends);
      await Promise.all(sends);
      await this.handOffDeliveries();
    } finally {
      await this.scheduleAlarm(more);
    }
    void this.reviewPlacement();
  }

  /** Up to PASSES_PER_CALL passes; their hand-offs go to `sends`. Returns whether the last stopped at its budget. */
  async #passes(sends: Promise<unknown>[]): Promise<boolean> {
    const { store, env, transactions } = this.#deps;
    const shard = this.#deps.name();
    await refreshGrants(store, env, shard);
    for (let pass = 0; pass < PASSES_PER_CALL; pass++) {
      const plan = transactions.transactionSync(() => store.planDispatch(shard, Date.now()));
      for (const [index, jobs] of plan.byInvoker) {
        const invoker = env.INVOKER.getByName(invokerName(shard, index));
        // A failed hand-off is not retried here: the task's lease runs out and the alarm re-queues it. Each RPC
        // carries a bounded amount of inline payload, whatever tenants submit.
        for (const batch of batchBySize(jobs, jobBytes, MAX_RPC_BATCH_BYTES)) {
          sends.push(
            invoker.enqueue(batch).catch((error: unknown) => logError("invoker hand-off failed", error, { shard })),
          );
        }
      }
      if (!plan.more) return false;
    }
    return true;
  }
}
