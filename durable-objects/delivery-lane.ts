/**
 * @module
 * One delivery lane: the deliveries of one account to one destination (`laneOf`, src/delivery-lanes.ts), addressed
 * as `DELIVERY_LANES.getByName(lane)`. The delivery consumer only routes envelopes here; this object stores them
 * (src/delivery-lane/store.ts) and runs them from its alarm, at most 6 at a time (Cloudflare's open connections per
 * invocation), each with the receiver timeout, retrying on DELIVERY_SCHEDULE_SECONDS and reporting every attempt to
 * the task's shard. A receiver that hangs therefore holds this lane's 6 connections and nothing of any other lane.
 */

import { DurableObject } from "cloudflare:workers";
import { batchBySize } from "../src/batches";
import { readConfig } from "../src/config";
import type { DeliveryMessage } from "../src/delivery";
import { type EnqueueResult, type LaneAttempt, type LaneReport, LaneStore } from "../src/delivery-lane/store";
import { laneCheckInMs } from "../src/delivery-lanes";
import { CONNECTIONS_PER_INVOCATION, MAX_RPC_BATCH_BYTES } from "../src/limits";
import { parseTraceparent } from "../src/trace";
import { deliver } from "../workers/platform/deliver";
import { logError, logEvent } from "../workers/platform/log";

/** Wait before retrying reports the shard did not take. */
const REPORT_RETRY_MS = 1_000;
/** An alarm may run 15 minutes; a busy lane stops starting attempts after this and continues in a fresh alarm. */
const MAX_DRAIN_MS = 5 * 60_000;
/** Reports sent per RPC at most (each is small), and promises renewed per turn of the loop. */
const REPORTS_PER_RPC = 500;
const CHECK_INS_PER_TURN = 500;
/** Shortest nap of the drain loop between turns when nothing finished. */
const MIN_SLEEP_MS = 250;

export class DeliveryLaneDurableObject extends DurableObject<Env> {
  readonly #store: LaneStore;
  readonly #leaseMs: number;
  /** Attempts running right now in this instance, by delivery id. */
  readonly #active = new Set<string>();
  #draining: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** Set by every completion or arrival, so one that happens while the loop is busy elsewhere is not missed. */
  #signalled = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const config = readConfig(env);
    // An attempt's lease covers the receiver timeout plus the grace a running task's lease gets.
    this.#leaseMs = config.deliveryTimeoutMs + config.leaseGraceMs;
    this.#store = new LaneStore(ctx.storage.sql, {
      schedule: config.deliverySchedule,
      leaseMs: this.#leaseMs,
      checkInMs: laneCheckInMs(config.deliveryTimeoutMs),
    });
  }

  /**
   * Keep deliveries (idempotent by delivery id) and make sure they run; answers at once with which were accepted.
   * Those refused (the lane is at its bounds) stay with the caller, which offers them again later.
   */
  async enqueue(messages: DeliveryMessage[]): Promise<EnqueueResult> {
    const now = Date.now();
    const result = this.ctx.storage.transactionSync(() => this.#store.enqueue(messages, now));
    if (result.accepted.length === 0) return result;
    if (this.#draining) this.#pump();
    else {
      const current = await this.ctx.storage.getAlarm();
      if (current === null || current > now) await this.ctx.storage.setAlarm(now);
    }
    return result;
  }

  /** Deliveries held here (waiting, running, or finished and not yet reported). */
  size(): number {
    return this.#store.count();
  }

  override async alarm(): Promise<void> {
    if (!this.#draining) {
      this.#draining = this.#drain().finally(() => {
        this.#draining = undefined;
      });
    }
    await this.#draining;
  }

  #pump(): void {
    this.#signalled = true;
    this.#wake?.();
  }

  async #drain(): Promise<void> {
    // Should this instance go away mid-attempt, an alarm comes back when the leases have run out.
    await this.ctx.storage.setAlarm(Date.now() + this.#leaseMs);
    const stopTakingAt = Date.now() + MAX_DRAIN_MS;
    let unreported = false;
    for (;;) {
      this.#signalled = false;
      const now = Date.now();
      this.ctx.storage.transactionSync(() => {
        this.#store.recoverExpiredLeases(now, this.#active);
        this.#store.checkIn(now, CHECK_INS_PER_TURN);
      });
      unreported = await this.#sendReports();
      const free = CONNECTIONS_PER_INVOCATION - this.#active.size;
      if (free > 0 && Date.now() < stopTakingAt) {
        const claimed = this.ctx.storage.transactionSync(() => this.#store.claimDue(free, Date.now()));
        for (const attempt of claimed) this.#start(attempt);
      }
      if (this.#active.size === 0 && !this.#signalled) break;
      if (this.#signalled) continue;
      await this.#sleep();
    }
    const next = this.#store.nextWakeAt(Date.now());
    const retryAt = unreported ? Date.now() + REPORT_RETRY_MS : null;
    const at = next === null ? retryAt : retryAt === null ? next : Math.min(next, retryAt);
    if (at === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(at);
  }

  /**
   * Wait for a completion or an arrival, or, while a connection is free, until the next retry falls due. Never less
   * than MIN_SLEEP_MS, so an attempt running past its lease (a slow chained function) cannot make the loop spin.
   */
  async #sleep(): Promise<void> {
    const next = this.#active.size < CONNECTIONS_PER_INVOCATION ? this.#store.nextWakeAt(Date.now()) : null;
    await new Promise<void>((resolve) => {
      const timer = next === null ? undefined : setTimeout(resolve, Math.max(MIN_SLEEP_MS, next - Date.now()));
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  #start(attempt: LaneAttempt): void {
    const id = attempt.message.deliveryId;
    this.#active.add(id);
    const startedAt = Date.now();
    const message = attempt.message;
    void deliver(this.env, readConfig(this.env), message)
      .then((result) => {
        // One line per attempt (never the envelope: it holds the task's result).
        if (readConfig(this.env).taskLogs !== "off")
          logEvent({
            event: "delivery.attempt",
            task: message.taskId,
            account: message.account,
            function: message.functionName,
            delivery: id,
            destination: message.destination.type,
            attempt: attempt.attempt,
            verdict: result.verdict,
            durationMs: Date.now() - startedAt,
            traceId: parseTraceparent(message.traceparent)?.traceId,
          });
        return this.ctx.storage.transactionSync(() => this.#store.settle(id, result, Date.now()));
      })
      .catch((error: unknown) => logError("delivery bookkeeping failed", error, { task: attempt.message.taskId }))
      .finally(() => {
        this.#active.delete(id);
        this.#pump();
      });
  }

  /** Send stored reports to their shards, in RPCs of bounded size; true if some could not be sent. */
  async #sendReports(): Promise<boolean> {
    let failed = false;
    for (;;) {
      const reports = this.#store.unreported(REPORTS_PER_RPC * 4);
      if (reports.length === 0) return failed;
      const byShard = new Map<string, LaneReport[]>();
      for (const report of reports) byShard.set(report.shard, [...(byShard.get(report.shard) ?? []), report]);
      await Promise.all(
        [...byShard].flatMap(([shard, list]) =>
          batchBySize(list, reportBytes, MAX_RPC_BATCH_BYTES, REPORTS_PER_RPC).map(async (batch) => {
            try {
              await this.env.SHARD.getByName(shard).reportDeliveries(batch.map((r) => r.report));
              this.ctx.storage.transactionSync(() => {
                for (const r of batch) this.#store.markReported(r.deliveryId, r.stored);
              });
            } catch (error) {
              failed = true;
              logError("delivery report to shard failed; will retry", error, { shard });
            }
          }),
        ),
      );
      if (failed || reports.length < REPORTS_PER_RPC * 4) return failed;
    }
  }
}

function reportBytes(report: LaneReport): number {
  return report.stored.length + 64;
}
