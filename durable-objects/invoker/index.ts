/**
 * @module
 * One member of a shard's invoker pool. Cloudflare lets one invocation hold only 6 outgoing connections open at a time
 * (the 7th waits), and the local runtime does not enforce it, so each invoker runs at most CALLS_PER_INVOKER calls at
 * once, from its own alarm, and a shard spreads its window over many invokers. Jobs are kept in SQLite until the
 * shard has their outcome, so an eviction mid-call re-runs the call (at-least-once). An outcome goes to the shard as
 * soon as its call ends and is written down only if that report does not get through (then it is reported later
 * without calling the function again): a busy invoker pays no write and no read per call for it, and an eviction in
 * the few milliseconds between a call's end and the shard's answer re-runs that call, like one mid-call.
 */

import { DurableObject } from "cloudflare:workers";
import { batchBySize } from "../../src/batches";
import { CALLS_PER_INVOKER, readConfig } from "../../src/config";
import { callKey, type FinishedCall, finishedCall, JobStore } from "../../src/invoker/jobs";
import { MAX_RPC_BATCH_BYTES } from "../../src/limits";
import { parseInvokerName } from "../../src/placement";
import type { InvocationJob } from "../../src/records";
import { logError } from "../../workers/platform/log";
import { invokeTenant } from "./call";

/** Outcomes one turn of the drain loop reads to report. */
const REPORT_BATCH = 100;
/** Wait before retrying reports the shard did not take. */
const REPORT_RETRY_MS = 1_000;
/** An alarm may run 15 minutes; a busy invoker stops taking new calls after this and continues in a fresh alarm. */
const MAX_DRAIN_MS = 5 * 60_000;

export class InvokerDurableObject extends DurableObject<Env> {
  /** Calls running right now in this instance, keyed by `taskId/invocation`, with the means to abort each. */
  readonly #active = new Map<string, AbortController>();
  readonly #jobs: JobStore;
  #draining: Promise<void> | undefined;
  /**
   * Whether stored jobs may wait to start, and outcomes to be reported: set by every write that leaves one (and on
   * start, for what an earlier incarnation stored), cleared when a look found them all. A busy invoker then reads its
   * table only when there is something to read, not on every turn of the drain loop.
   */
  #maybeWaiting = true;
  #maybeFinished = true;
  /** Outcomes of calls that just ended, not written down, on their way to the shard (at most CALLS_PER_INVOKER). */
  readonly #finished: FinishedCall[] = [];
  /** Keys of those calls and of the ones being reported: their rows still look waiting, and must not run again. */
  readonly #reporting = new Set<string>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#jobs = new JobStore(ctx.storage.sql);
  }

  /** Store jobs from the shard and make sure they run. Returns at once; calls happen in this object's alarm. */
  async enqueue(jobs: InvocationJob[]): Promise<{ queued: number }> {
    const now = Date.now();
    this.ctx.storage.transactionSync(() => this.#jobs.enqueue(jobs, now));
    this.#maybeWaiting = true;
    if (this.#draining) this.#pump();
    else {
      // Run now, even if a later alarm (a report retry) is already set.
      const current = await this.ctx.storage.getAlarm();
      if (current === null || current > now) await this.ctx.storage.setAlarm(now);
    }
    return { queued: jobs.length };
  }

  /** The task was cancelled: abort its call if it is running here, drop it if it has not started. */
  abort(taskId: string, invocation: number): { aborted: boolean } {
    const key = callKey(taskId, invocation);
    const controller = this.#active.get(key);
    controller?.abort(new Error("the task was cancelled"));
    // A call that ended is being reported: the shard ignores a cancelled task's outcome.
    if (!controller && !this.#reporting.has(key)) this.#jobs.dropWaiting(taskId, invocation);
    return { aborted: controller !== undefined };
  }

  /** Run every stored job, at most CALLS_PER_INVOKER at a time, until none is left. */
  override async alarm(): Promise<void> {
    if (!this.#draining) {
      this.#draining = this.#drain().finally(() => {
        this.#draining = undefined;
      });
    }
    await this.#draining;
  }

  #wake: (() => void) | undefined;
  /** Set by every completion or arrival, so one that happens while the loop is busy elsewhere is not missed. */
  #signalled = false;

  /** Nudge the drain loop: a call finished or a job arrived. */
  #pump(): void {
    this.#signalled = true;
    this.#wake?.();
  }

  /** When the running drain stops taking new calls (MAX_DRAIN_MS after it began). */
  #stopTakingAt = 0;

  async #drain(): Promise<void> {
    this.#stopTakingAt = Date.now() + MAX_DRAIN_MS;
    // Each drain starts from what storage says (a call whose bookkeeping failed is waiting again, say); the flags
    // then spare the turns after it.
    this.#maybeWaiting = true;
    this.#maybeFinished = true;
    let unreported = false;
    for (;;) {
      this.#signalled = false;
      unreported = (await this.#reportFinished()) || unreported;
      const free = CALLS_PER_INVOKER - this.#active.size;
      if (free > 0 && this.#maybeWaiting && Date.now() < this.#stopTakingAt) {
        const jobs = this.#jobs.waiting(free, new Set([...this.#active.keys(), ...this.#reporting]));
        if (jobs.length < free) this.#maybeWaiting = false;
        for (const job of jobs) this.#start(job);
      }
      if (this.#active.size === 0 && !this.#signalled) break;
      // Something finished while we were reporting: go round again without waiting.
      if (this.#signalled) continue;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
    if (this.#jobs.count() > 0) await this.ctx.storage.setAlarm(Date.now() + (unreported ? REPORT_RETRY_MS : 0));
  }

  #start(job: InvocationJob): void {
    const key = callKey(job.taskId, job.invocation);
    const controller = new AbortController();
    this.#active.set(key, controller);
    const config = readConfig(this.env);
    void invokeTenant(this.env, config, job, controller.signal)
      .then(({ startedAt, durationMs, outcome }) => {
        this.#reporting.add(key);
        this.#finished.push(finishedCall(job, startedAt, durationMs, outcome));
      })
      .catch((error: unknown) => {
        // The outcome was not stored: the job waits again and runs again (at least once).
        this.#maybeWaiting = true;
        logError("invocation bookkeeping failed", error);
      })
      .finally(() => {
        this.#active.delete(key);
        this.#pump();
      });
  }

  /** Which pool this invoker belongs to, from its name (`invoker:<shard>:<i>`); undefined for another naming. */
  get #pool(): { shard: string; index: number } | undefined {
    return parseInvokerName(this.ctx.id.name);
  }

  /** Call slots no running or stored job will take (a job whose outcome is being reported takes none). */
  #freeSlots(): number {
    const unfinished = this.#maybeWaiting ? this.#jobs.unfinished() - this.#reporting.size : this.#active.size;
    return Math.max(0, CALLS_PER_INVOKER - Math.max(this.#active.size, unfinished));
  }

  /**
   * Send finished outcomes to their shards (RPCs of bounded size): those of calls that just ended, from memory, and
   * those written down after a failed report. Jobs leave storage only once the shard has their outcome.
   */
  async #reportFinished(): Promise<boolean> {
    const fresh = this.#finished.splice(0);
    const stored = this.#maybeFinished ? this.#jobs.finished(REPORT_BATCH) : [];
    // Fewer than asked for: that was all of them (a report that fails below sets the flag again).
    if (stored.length < REPORT_BATCH) this.#maybeFinished = false;
    const finished = [...fresh, ...stored];
    if (finished.length === 0) return false;
    const unstored = new Set(fresh);
    const byShard = new Map<string, FinishedCall[]>();
    for (const call of finished) byShard.set(call.shard, [...(byShard.get(call.shard) ?? []), call]);
    let failed = false;
    await Promise.all(
      [...byShard].flatMap(([shard, calls]) =>
        batchBySize(calls, reportBytes, MAX_RPC_BATCH_BYTES).map(async (batch) => {
          try {
            // Our own shard answers with our next jobs, up to the slots we have free (never more than 6 in all).
            const from =
              shard === this.#pool?.shard ? { invoker: this.#pool.index, free: this.#freeSlots() } : undefined;
            const { jobs } = await this.env.SHARD.getByName(shard).report(
              batch.map((call) => call.report),
              from,
            );
            // One transaction: the reported jobs leave, the answer's jobs arrive.
            this.ctx.storage.transactionSync(() => {
              for (const call of batch) this.#jobs.remove(call.taskId, call.invocation);
              if (jobs.length > 0) this.#jobs.enqueue(jobs, Date.now());
            });
            for (const call of batch) this.#reporting.delete(callKey(call.taskId, call.invocation));
            if (jobs.length > 0) this.#startAnswered(jobs);
          } catch (error) {
            failed = true;
            logError("report to shard failed; will retry", error, { shard });
            // Outcomes read from storage are still there: the next turn of the loop reads them again.
            this.#maybeFinished = true;
            this.#keep(batch.filter((call) => unstored.has(call)));
          }
        }),
      ),
    );
    return failed;
  }

  /**
   * Start the jobs a report's answer carried, now that they are stored, without reading them back: when no older
   * stored job waits (it would go first) and there is a free slot (never more than CALLS_PER_INVOKER in all). What
   * cannot start now waits in storage for the drain loop, as a hand-off's jobs do.
   */
  #startAnswered(jobs: readonly InvocationJob[]): void {
    if (this.#maybeWaiting || Date.now() >= this.#stopTakingAt) {
      this.#maybeWaiting = true;
      return;
    }
    for (const job of jobs) {
      const key = callKey(job.taskId, job.invocation);
      if (this.#active.size < CALLS_PER_INVOKER && !this.#active.has(key) && !this.#reporting.has(key))
        this.#start(job);
      else this.#maybeWaiting = true;
    }
  }

  /** Write down outcomes whose first report did not get through, to be reported again without another call. */
  #keep(calls: readonly FinishedCall[]): void {
    if (calls.length === 0) return;
    try {
      this.ctx.storage.transactionSync(() => {
        for (const call of calls) this.#jobs.recordOutcome(call);
      });
      this.#maybeFinished = true;
    } catch (error) {
      // Not written down: those jobs wait again and run again (at least once).
      this.#maybeWaiting = true;
      logError("keeping unreported outcomes failed; the calls run again", error, {});
    } finally {
      for (const call of calls) this.#reporting.delete(callKey(call.taskId, call.invocation));
    }
  }
}

/** Inline result bytes a report carries (everything else in it is small). */
function reportBytes(call: FinishedCall): number {
  const outcome = call.report.outcome;
  return 512 + (outcome.kind === "succeeded" ? (outcome.body.inline?.byteLength ?? 0) : 0);
}
